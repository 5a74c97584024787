"""Whatever no feature handled: unknown commands, stray content, stale buttons.

Registered last, so it only sees what every other router let through.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from keyboards.common import main_menu
from services.account import AccountService
from views.ui import chat_id_of, show

router = Router(name=__name__)


@router.message(F.chat.type == "private", F.text.startswith("/"))
async def unknown_command(message: Message) -> None:
    await message.answer(_("🤔 I don't know that command. Send /help to see what I can do."))


@router.message(F.chat.type == "private", F.text)
async def stray_text(message: Message, accounts: AccountService) -> None:
    await message.answer(
        _("🤔 I didn't get that. Use the buttons below or send /help."),
        reply_markup=main_menu(await accounts.is_linked(message.chat.id)),
    )


@router.message(F.chat.type == "private")
async def stray_content(message: Message) -> None:
    await message.answer(
        _("🙂 I only understand text and buttons. Send /help to see what I can do.")
    )


@router.callback_query()
async def stale_button(query: CallbackQuery, accounts: AccountService) -> None:
    chat_id = chat_id_of(query)
    await show(
        query,
        _("⌛ That button is out of date. Here is a fresh menu."),
        main_menu(await accounts.is_linked(chat_id)),
    )
