"""Showing a screen: edit the message a button sits on, or send a new one."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from views.best_effort import TELEGRAM_FAILURES, best_effort

log = logging.getLogger(__name__)


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
    """Show a screen: edit in place for button taps (reads better on a phone), else send it.

    The screen is what the user asked for, so it is never lost quietly:

    - an edit Telegram reports as "message is not modified" already shows the screen;
    - an edit that fails any other way (too old to edit, a photo, 5xx, a long 429, 403,
      a network error or timeout) falls back to sending the screen as a new message;
      after a timeout the edit may have landed too, and a screen twice beats none;
    - if sending fails as well, the error propagates: the error handler tells the user,
      rather than their chat silently drifting from what the bot believes it shows.
    """
    if isinstance(target, CallbackQuery):
        message = target.message
        if message is not None and not isinstance(message, InaccessibleMessage):
            try:
                edited = await message.edit_text(text, reply_markup=markup)
                return edited if isinstance(edited, Message) else message
            except TelegramBadRequest as exc:
                if "not modified" in exc.message:
                    return message
                log.info("edit refused (%s); sending the screen as a new message", exc.message)
            except TELEGRAM_FAILURES as exc:
                log.warning("edit failed (%s: %s); sending the screen as a new message",
                            type(exc).__name__, exc)
        if target.message is None:
            return None
        return await target.bot.send_message(target.message.chat.id, text, reply_markup=markup)
    return await target.answer(text, reply_markup=markup)


@contextlib.asynccontextmanager
async def working(target: Message | CallbackQuery) -> AsyncIterator[None]:
    """A visible "working…" state while a slow call runs.

    On a button tap the message turns into "⏳ Working…" without buttons, which also
    keeps a second tap from reaching the same action; for a typed command the chat
    shows "typing…". Both are cosmetic: if Telegram refuses them the work goes on.
    """
    if isinstance(target, CallbackQuery):
        message = target.message
        if message is not None and not isinstance(message, InaccessibleMessage):
            await best_effort(message.edit_text(_("⏳ Working…")), "show the working state")
    else:
        await best_effort(target.bot.send_chat_action(target.chat.id, "typing"),
                          "show typing")
    yield
