"""Showing a screen: edit the message a button sits on, or send a new one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _


def chat_id_of(target: Message | CallbackQuery) -> int:
    """The chat a message or a tapped button belongs to."""
    if isinstance(target, Message):
        return target.chat.id
    return target.message.chat.id if target.message else target.from_user.id


async def show(
    target: Message | CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Edit in place for button taps (reads better on a phone), else answer with a new message."""
    if isinstance(target, CallbackQuery):
        message = target.message
        if message is not None and not isinstance(message, InaccessibleMessage):
            try:
                edited = await message.edit_text(text, reply_markup=markup)
                return edited if isinstance(edited, Message) else message
            except TelegramBadRequest as exc:
                if "not modified" in exc.message:
                    return message
                # Too old to edit, or it is a document/photo: fall through to a new message.
        if target.message is None:
            return None
        return await target.bot.send_message(target.message.chat.id, text, reply_markup=markup)
    return await target.answer(text, reply_markup=markup)


@contextlib.asynccontextmanager
async def working(target: Message | CallbackQuery) -> AsyncIterator[None]:
    """A visible "working…" state while a slow call runs.

    On a button tap the message turns into "⏳ Working…" without buttons, which also
    keeps a second tap from reaching the same action; for a typed command the chat
    shows "typing…".
    """
    if isinstance(target, CallbackQuery):
        message = target.message
        if message is not None and not isinstance(message, InaccessibleMessage):
            with contextlib.suppress(TelegramBadRequest):
                await message.edit_text(_("⏳ Working…"))
    else:
        with contextlib.suppress(TelegramBadRequest):
            await target.bot.send_chat_action(target.chat.id, "typing")
    yield
