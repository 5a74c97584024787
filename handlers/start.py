"""/start, /menu, /help and the main menu."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from handlers.states import LinkKey
from keyboards.callbacks import MenuCb
from keyboards.common import main_menu, only_cancel, only_home
from services.account import AccountService
from views.account import link_prompt_text, welcome_text
from views.commands import help_text
from views.ui import chat_id_of, show


async def start(message: Message, state: FSMContext, accounts: AccountService) -> None:
    await state.clear()
    linked = await accounts.is_linked(message.chat.id)
    user = message.from_user
    text = welcome_text(user.first_name if user else None, linked, message.chat.type)
    if not linked and message.chat.type == "private":
        await state.set_state(LinkKey.waiting_key)
        await message.answer(text, reply_markup=only_cancel())
        return
    await message.answer(text, reply_markup=main_menu(linked))


async def menu(message: Message, state: FSMContext, accounts: AccountService) -> None:
    await state.clear()
    linked = await accounts.is_linked(message.chat.id)
    user = message.from_user
    await message.answer(
        welcome_text(user.first_name if user else None, linked, message.chat.type),
        reply_markup=main_menu(linked),
    )


async def home(query: CallbackQuery, state: FSMContext, accounts: AccountService) -> None:
    await state.clear()
    chat_id = chat_id_of(query)
    linked = await accounts.is_linked(chat_id)
    chat_type = query.message.chat.type if query.message else "private"
    text = welcome_text(query.from_user.first_name, linked, chat_type)
    await show(query, text, main_menu(linked))


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
