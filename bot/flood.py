"""Flood and abuse control: updates per person and per group, and key checks per person.

`ThrottlingMiddleware` runs first for every update, before anything touches the API or
builds a screen, so an update it drops costs almost nothing: a flood of 500 messages gets
a few answers and one "slow down" notice, and everyone else's updates keep flowing.
`services.key_checks.KeyCheckLimiter` bounds how often one person can make the bot try a
pasted key (each try is a GET /account with an untrusted key).

Both keep state in memory only: a restart forgets it, which is harmless for limits of
seconds to minutes. Time comes from the injected clock, so tests move it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Chat, Message, TelegramObject, Update, User
from aiogram.utils.i18n import gettext as _

from bot.i18n import UserLanguageMiddleware
from core.clock import Clock
from services.account import contains_api_key

log = logging.getLogger(__name__)

# Past this many remembered senders, the ones that are back to a full allowance are
# forgotten (they would be re-created identical), so memory follows active senders only.
_PRUNE_THRESHOLD = 10_000
_EPSILON = 1e-9


class Verdict(enum.Enum):
    PASS = "pass"
    DROP_AND_NOTIFY = "drop_and_notify"  # the first drop of a burst
    DROP = "drop"


class _Allowance:
    """A token bucket: ``limit`` updates at once, refilled at ``limit`` per ``window``."""

    __slots__ = ("_capacity", "_rate", "_stamp", "_tokens", "in_burst")

    def __init__(self, limit: int, window: float, now: float) -> None:
        self._capacity = float(limit)
        self._rate = limit / window
        self._tokens = self._capacity
        self._stamp = now
        # Set by the first drop; cleared once the allowance is full again, i.e. the sender
        # slowed down for a whole window. One notice per burst, not one per dropped update.
        self.in_burst = False

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._stamp = now
        if self.is_full():
            self.in_burst = False

    def is_full(self) -> bool:
        return self._tokens >= self._capacity - _EPSILON

    def has_token(self) -> bool:
        return self._tokens >= 1.0 - _EPSILON

    def take(self) -> None:
        self._tokens -= 1.0


class _Allowances:
    def __init__(self, limit: int, window: float) -> None:
        self._limit = limit
        self._window = window
        self._by_key: dict[int, _Allowance] = {}

    def get(self, key: int, now: float) -> _Allowance:
        allowance = self._by_key.get(key)
        if allowance is None:
            if len(self._by_key) >= _PRUNE_THRESHOLD:
                self._prune(now)
            allowance = self._by_key[key] = _Allowance(self._limit, self._window, now)
        else:
            allowance.refill(now)
        return allowance

    def _prune(self, now: float) -> None:
        for allowance in self._by_key.values():
            allowance.refill(now)
        self._by_key = {k: a for k, a in self._by_key.items() if not a.is_full()}

    def __len__(self) -> int:
        return len(self._by_key)


class Throttle:
    """Who may be handled now: each update spends one unit of its sender's allowance and,
    in a group, one of the group's (a group of many polite members can flood too)."""

    def __init__(self, clock: Clock, *, user_limit: int, chat_limit: int, window: float) -> None:
        if window <= 0:
            raise ValueError("the throttling window must be positive")
        self._clock = clock
        self._users = _Allowances(user_limit, window)
        self._chats = _Allowances(chat_limit, window)

    def admit(self, user_id: int, group_id: int | None = None) -> Verdict:
        now = self._clock.monotonic()
        allowances = [self._users.get(user_id, now)]
        if group_id is not None:
            allowances.append(self._chats.get(group_id, now))
        exhausted = [a for a in allowances if not a.has_token()]
        if not exhausted:
            for allowance in allowances:
                allowance.take()
            return Verdict.PASS
        first_drop = not any(a.in_burst for a in exhausted)
        for allowance in exhausted:
            allowance.in_burst = True
        return Verdict.DROP_AND_NOTIFY if first_drop else Verdict.DROP

    def tracked(self) -> int:
        """Senders remembered now (users and groups)."""
        return len(self._users) + len(self._chats)


def slow_down_text() -> str:
    return _("🐢 Too fast! I skipped some of your messages. Wait a moment, then go on.")


class ThrottlingMiddleware(BaseMiddleware):
    """Outer middleware of the update observer: drops what exceeds the `Throttle`.

    A dropped update gets no answer, except that the first of a burst gets one short
    notice, a dropped button tap is always answered (Telegram keeps the spinner turning
    otherwise; silently, apart from that notice), and a dropped message carrying an API key
    is still deleted, since a key must never stay in a chat.
    """

    def __init__(self, throttle: Throttle, language: UserLanguageMiddleware) -> None:
        self._throttle = throttle
        # The notice is written in the sender's language; the language middleware runs
        # after this one, so it is asked only when a notice is due (rarely).
        self._language = language

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or not isinstance(event, Update):
            return await handler(event, data)
        if event.my_chat_member is not None:
            # Not a person typing but Telegram reporting the bot blocked or back: dropping
            # it would leave the chat marked wrongly until the next send finds out.
            return await handler(event, data)
        group_id = chat.id if chat is not None and chat.type != "private" else None
        verdict = self._throttle.admit(user.id, group_id)
        if verdict is Verdict.PASS:
            return await handler(event, data)
        notify = verdict is Verdict.DROP_AND_NOTIFY
        if notify:
            log.info(
                "throttling user %s in chat %s: dropping updates until they slow down",
                user.id,
                chat.id if chat is not None else "-",
            )
        await self._drop(event, data, data["bot"], notify=notify)
        return None

    async def _drop(self, update: Update, data: dict[str, Any], bot: Bot, *, notify: bool) -> None:
        text = await self._notice(update, data) if notify else None
        query = update.callback_query
        if query is not None:
            await _quietly(bot.answer_callback_query(query.id, text=text), "answer a dropped tap")
            return
        message = update.message or update.edited_message
        if not isinstance(message, Message):
            return
        if contains_api_key(message.text) or contains_api_key(message.caption):
            await _quietly(
                bot.delete_message(message.chat.id, message.message_id), "delete a dropped key"
            )
        if text is not None:
            await _quietly(bot.send_message(message.chat.id, text), "send the slow-down notice")

    async def _notice(self, update: Update, data: dict[str, Any]) -> str:
        locale = await self._language.get_locale(update, data)
        i18n = self._language.i18n
        with i18n.context(), i18n.use_locale(locale):
            return slow_down_text()


async def _quietly(call: Awaitable[Any], what: str) -> None:
    # Part of dropping an update: nothing to report to the user if Telegram refuses.
    try:
        await call
    except TelegramAPIError as exc:
        log.debug("could not %s: %s", what, type(exc).__name__)
