"""Whatever no feature handled: unknown commands, stray content, stale buttons.

Registered last, so it only sees what every other router let through.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from keyboards.common import main_menu, only_home
from services.account import AccountService
from views.ui import chat_id_of, show


async def unknown_command(message: Message) -> None:
    await message.answer(
        _("🤔 I don't know that command. Send /help to see what I can do."),
        reply_markup=only_home(),
    )


async def stray_text(message: Message, accounts: AccountService) -> None:
    await message.answer(
        _("🤔 I didn't get that. Use the buttons below or send /help."),
        reply_markup=main_menu(await accounts.is_linked(message.chat.id)),
    )


async def stray_content(message: Message) -> None:
    await message.answer(
        _("🙂 I only understand text and buttons. Send /help to see what I can do."),
        reply_markup=only_home(),
    )


async def stale_button(query: CallbackQuery, accounts: AccountService) -> None:
    chat_id = chat_id_of(query)
    await show(
        query,
        _("⌛ That button is out of date. Here is a fresh menu."),
        main_menu(await accounts.is_linked(chat_id)),
    )


def setup() -> Router:
    router = Router(name=__name__)
    # Only private chats get told off: in a group, people talk to each other, not to the bot.
    # (Routing, not a policy: nothing is refused, the bot just stays quiet.)
    router.message.register(unknown_command, F.chat.type == "private", F.text.startswith("/"))
    router.message.register(stray_text, F.chat.type == "private", F.text)
    router.message.register(stray_content, F.chat.type == "private")
    router.callback_query.register(stale_button)
    return router
