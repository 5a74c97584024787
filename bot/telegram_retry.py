"""Outgoing Bot API calls wait out Telegram's 429 instead of failing the user's answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramRetryAfter

from core.clock import Clock

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
    from aiogram.methods import TelegramMethod

log = logging.getLogger(__name__)

# Set by callers that schedule their own retries (the outbox sender reschedules a throttled
# message and sends others meanwhile): waiting here would hold up everything behind it.
_no_retry: ContextVar[bool] = ContextVar("telegram_no_retry", default=False)


@contextmanager
def without_retry() -> Iterator[None]:
    """Calls made inside raise TelegramRetryAfter at once instead of waiting it out."""
    token = _no_retry.set(True)
    try:
        yield
    finally:
        _no_retry.reset(token)


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Retry a call Telegram throttled, after the `retry_after` it asked for.

    Bounded: a wait longer than `max_wait` (a flood ban, not a burst) or more than
    `attempts` throttles in a row are raised to the caller.
    """

    def __init__(self, clock: Clock, attempts: int = 3, max_wait: float = 30.0) -> None:
        self._clock = clock
        self._attempts = attempts
        self._max_wait = max_wait
        # Counts retries for the metrics (bot/metrics.py); None: not counted.
        self.on_retry: Callable[[], None] | None = None

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Any:
        if _no_retry.get():
            return await make_request(bot, method)
        for attempt in range(1, self._attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self._attempts or exc.retry_after > self._max_wait:
                    raise
                log.warning("Telegram throttled %s; retrying in %s s",
                            type(method).__name__, exc.retry_after)
                if self.on_retry is not None:
                    self.on_retry()
                await self._clock.sleep(exc.retry_after)
        raise AssertionError("unreachable")
