"""Showing a screen: edit the message a button sits on, or send a new one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
)
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
            edited = await _edit(message.edit_text(text, reply_markup=markup))
            if edited is not None:
                return edited if isinstance(edited, Message) else message
        if target.message is None:
            return None
        return await target.bot.send_message(target.message.chat.id, text, reply_markup=markup)
    return await target.answer(text, reply_markup=markup)


async def show_on(
    message: Message, screen_id: int | None, text: str, markup: InlineKeyboardMarkup | None
) -> Message | None:
    """Typed input answered on the screen it was asked for: edit message ``screen_id`` (a
    coupon typed under a quote changes that quote, so the chat holds one quote, not one per
    try). Returns the screen as edited, or None when it shows this already. Without a screen
    to edit, or when Telegram refuses the edit, the screen is sent as a new message (never
    lost, as in `show`)."""
    if screen_id is not None:
        edited = await _edit(message.bot.edit_message_text(
            text, chat_id=message.chat.id, message_id=screen_id, reply_markup=markup
        ))
        if edited is not None:
            return edited if isinstance(edited, Message) else None
    return await message.answer(text, reply_markup=markup)


async def _edit(edit: Awaitable[Message | bool]) -> Message | bool | None:
    """An edit's answer; True when Telegram says the message shows this already; None when
    the edit failed (logged), so the caller sends the screen as a new message instead."""
    try:
        return await edit
    except TelegramBadRequest as exc:
        if "not modified" in exc.message:
            return True
        log.info("edit refused (%s); sending the screen as a new message", exc.message)
    except TELEGRAM_FAILURES as exc:
        log.warning("edit failed (%s: %s); sending the screen as a new message",
                    type(exc).__name__, exc)
    return None


def _tapped(query: CallbackQuery) -> Message | None:
    message = query.message
    return None if message is None or isinstance(message, InaccessibleMessage) else message


async def replace(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None
) -> Message | None:
    """Show a text screen in place of the tapped message, whatever kind of message it is.

    A text message is edited (`show`). Telegram has no way to turn a photo back into a text
    message (editMessageText: "there is no text in the message to edit"), so a photo is
    replaced: the new screen is sent first, then the photo retired — a failure leaves the
    user with a screen, never with none. Sending raises like `show`.
    """
    message = _tapped(query)
    if message is None or message.text is not None:
        return await show(query, text, markup)
    sent = await query.bot.send_message(message.chat.id, text, reply_markup=markup)
    await retire(message)
    return sent


async def retire(message: Message) -> None:
    """Remove a screen another one replaced: delete it; where Telegram refuses (a message
    older than 48 hours), at least take its buttons away. Cosmetic, so best effort."""
    if await best_effort(message.delete(), "delete a replaced screen") is None:
        await best_effort(message.edit_reply_markup(reply_markup=None),
                          "take the buttons off a replaced screen")


async def show_photo(
    query: CallbackQuery,
    photo: bytes,
    filename: str,
    caption: str,
    markup: InlineKeyboardMarkup | None,
) -> Message | None:
    """Show a photo screen in place of the tapped message; None if no photo could be shown.

    editMessageMedia turns the tapped message, text or photo, into the new photo: one
    message, edited in place (the Bot API lets it "add media to text messages"). Where that
    is refused (an older Bot API server, a failed edit), the photo is sent as a new message
    and the tapped one retired; after a timeout the edit may have landed as well, and
    retiring it leaves exactly one. If the photo cannot be sent either, None: the caller
    shows the screen as text, so the user is never left without it.
    """
    message = _tapped(query)
    file = BufferedInputFile(photo, filename=filename)
    if message is not None:
        try:
            edited = await message.edit_media(
                InputMediaPhoto(media=file, caption=caption), reply_markup=markup
            )
            return edited if isinstance(edited, Message) else message
        except TELEGRAM_FAILURES as exc:
            log.info("photo edit failed (%s: %s); sending the photo as a new message",
                     type(exc).__name__, exc)
    sent = await best_effort(
        query.bot.send_photo(chat_id_of(query), file, caption=caption, reply_markup=markup),
        "send a photo screen",
    )
    if sent is not None and message is not None:
        await retire(message)
    return sent


# How long a call may take before "⏳ Working…" is shown (bot/app.py sets WORKING_DELAY).
_working_delay = 0.5


def set_working_delay(seconds: float) -> None:
    global _working_delay
    _working_delay = seconds


class Busy:
    """What `working` did: ``shown`` once the working state went out."""

    def __init__(self) -> None:
        self.shown = False


@contextlib.asynccontextmanager
async def working(
    target: Message | CallbackQuery, *, at_once: bool = False
) -> AsyncIterator[Busy]:
    """A visible "working…" state while a call runs — only if it is slow.

    On a button tap the message turns into "⏳ Working…" without buttons, which also
    keeps a second tap from reaching the same action; for a typed command the chat
    shows "typing…". Most calls answer well within WORKING_DELAY (0.5 s): then nothing
    flashes, the tap's spinner is all the user sees. A timer shows the state when the
    call is still running after the delay; ``at_once`` (paid actions) shows it at once.
    Both are cosmetic: if Telegram refuses them the work goes on.
    """
    busy = Busy()
    editing = False

    async def show_state() -> None:
        nonlocal editing
        editing = True
        busy.shown = True
        if isinstance(target, CallbackQuery):
            message = target.message
            if message is not None and not isinstance(message, InaccessibleMessage):
                await best_effort(message.edit_text(_("⏳ Working…")),
                                  "show the working state")
        else:
            await best_effort(target.bot.send_chat_action(target.chat.id, "typing"),
                              "show typing")

    async def later() -> None:
        await asyncio.sleep(_working_delay)
        await show_state()

    if at_once or _working_delay <= 0:
        await show_state()
        yield busy
        return
    timer = asyncio.create_task(later())
    try:
        yield busy
    finally:
        if editing:
            # The edit is on its way: let it land before the screen that follows it.
            await asyncio.shield(timer)
        else:
            timer.cancel()
