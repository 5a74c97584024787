"""Cosmetic Bot API calls: tried once, logged when they fail, never raised.

The rule, shared with `views.ui.show`: a call whose failure leaves the user without what
they asked for (a screen, an answer, an address) raises, so the error handler can say
so. A call that only decorates — the command menu, "typing…", the "⏳ Working…" state,
a callback answer that stops the spinner, a photo after the text that matters — goes
through `best_effort`: when Telegram refuses it (5xx, a long 429, 400, 403) or the
network loses it, the main action goes on and the log says what was lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiogram.dispatcher.flags import get_flag
from aiogram.exceptions import ClientDecodeError, TelegramAPIError
from aiogram.types import CallbackQuery, InaccessibleMessage, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswer, CallbackAnswerMiddleware

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a failed Bot API call raises: Telegram's refusals and network errors are
# TelegramAPIError; an answer that is not the Bot API's JSON (a proxy's error page) is
# ClientDecodeError. Programming errors are left to propagate.
TELEGRAM_FAILURES: tuple[type[Exception], ...] = (TelegramAPIError, ClientDecodeError)

# Context data key: how to answer a tap whose answer waits for the policies' verdict.
ANSWER_AFTER_POLICIES = "answer_after_policies"


async def best_effort(call: Awaitable[T], what: str) -> T | None:
    """Await a cosmetic Bot API call; on failure log `what` was lost and return None."""
    try:
        return await call
    except TELEGRAM_FAILURES as exc:
        # The exception text is Telegram's description, never the message we sent.
        log.warning("could not %s: %s: %s", what, type(exc).__name__, exc)
        return None


class BestEffortCallbackAnswerMiddleware(CallbackAnswerMiddleware):
    """aiogram's CallbackAnswerMiddleware whose answer can fail without losing the tap.

    Telegram refuses answers to taps older than a few seconds ("query is too old and
    response timeout expired or query ID is invalid"), which is every tap queued while
    the bot was down; the stock middleware then raises before the handler runs (pre=True)
    or after it did its work (pre=False), and the user sees "Something went wrong" instead
    of the screen they asked for. The answer only stops a spinner, so it is best effort.
    Flags (`flags={"callback_answer": {...}}`) and the `callback_answer: CallbackAnswer`
    handler argument work as in aiogram.

    In a group a tap is answered after its handler instead (``pre`` off), whatever the
    default: a tap on someone else's menu, or a spend by a member, is refused with an
    alert (handlers/policies.py), and an answer sent first could not carry it. The same
    in any chat for a flow's buttons (``"screen"`` flag): a tap on an old screen is refused
    with an "out of date" alert.
    """

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        group = isinstance(event, CallbackQuery) and _in_group(event)
        if not isinstance(event, CallbackQuery) or not (
            group or get_flag(data, "screen") is not None
        ):
            return await super().__call__(handler, event, data)
        properties = get_flag(data, "callback_answer")
        wanted_pre = properties.get("pre", self.pre) if isinstance(properties, dict) else self.pre
        properties = {**properties, "pre": False} if isinstance(properties, dict) else {
            "pre": False
        }
        callback_answer = data["callback_answer"] = self.construct_callback_answer(properties)
        if not group and wanted_pre:
            # A flow's button in a private chat: answered as soon as the policies let the
            # tap through (handlers/policies.py), so only a refusal waits for its alert.
            data[ANSWER_AFTER_POLICIES] = self.answer
        try:
            return await handler(event, data)
        finally:
            if not callback_answer.disabled and not callback_answer.answered:
                await self.answer(event, callback_answer)

    async def answer(  # type: ignore[override]  # awaited by the base class either way
        self, event: CallbackQuery, callback_answer: CallbackAnswer
    ) -> Any:
        return await best_effort(super().answer(event, callback_answer), "answer a button tap")


def _in_group(query: CallbackQuery) -> bool:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        return False
    return message.chat.type in ("group", "supergroup")
