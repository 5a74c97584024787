"""/start, /menu, /help and the main menu."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from handlers.states import LinkKey
from keyboards.callbacks import MenuCb
from keyboards.common import dashboard_menu, key_prompt, only_cancel, only_home
from services.account import AccountService
from services.dashboard import DashboardService
from views.account import link_prompt_text
from views.commands import help_text
from views.dashboard import dashboard_text, first_welcome_text, unlinked_menu_text
from views.ui import chat_id_of, show


async def _menu(chat_id: int, chat_type: str, dashboard: DashboardService,
                support_url: str | None, accounts: AccountService) -> tuple[str, object]:
    """The main menu: a linked chat's dashboard (one balance read, the local orders), or
    what a chat without a key can do."""
    linked = await accounts.is_linked(chat_id)
    if linked:
        text = dashboard_text(await dashboard.read(chat_id))
    else:
        text = unlinked_menu_text(chat_type)
    return text, dashboard_menu(linked, support_url)


async def start(
    message: Message, state: FSMContext, accounts: AccountService, dashboard: DashboardService,
    support_url: str | None = None,
) -> None:
    await state.clear()
    if message.chat.type == "private" and not await accounts.is_linked(message.chat.id):
        user = message.from_user
        await state.set_state(LinkKey.waiting_key)
        await message.answer(
            first_welcome_text(user.first_name if user else None), reply_markup=key_prompt()
        )
        return
    text, markup = await _menu(
        message.chat.id, message.chat.type, dashboard, support_url, accounts
    )
    await message.answer(text, reply_markup=markup)


async def menu(
    message: Message, state: FSMContext, accounts: AccountService, dashboard: DashboardService,
    support_url: str | None = None,
) -> None:
    await state.clear()
    text, markup = await _menu(
        message.chat.id, message.chat.type, dashboard, support_url, accounts
    )
    await message.answer(text, reply_markup=markup)


async def home(
    query: CallbackQuery, state: FSMContext, accounts: AccountService,
    dashboard: DashboardService, support_url: str | None = None,
) -> None:
    await state.clear()
    chat_type = query.message.chat.type if query.message else "private"
    text, markup = await _menu(
        chat_id_of(query), chat_type, dashboard, support_url, accounts
    )
    await show(query, text, markup)


async def help_command(message: Message) -> None:
    await message.answer(help_text(), reply_markup=only_home())


async def help_button(query: CallbackQuery) -> None:
    await show(query, help_text(), only_home())


async def link_button(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(LinkKey.waiting_key)
    await show(query, link_prompt_text(), only_cancel())


def setup() -> Router:
    router = Router(name=__name__)
    router.message.register(start, CommandStart())
    router.message.register(menu, Command("menu"))
    router.callback_query.register(home, MenuCb.filter(F.action == "home"))
    router.message.register(help_command, Command("help"))
    router.callback_query.register(help_button, MenuCb.filter(F.action == "help"))
    # The key is only ever asked for where nobody else reads along.
    router.callback_query.register(
        link_button, MenuCb.filter(F.action == "link"), flags={"chat": "private"}
    )
    return router
