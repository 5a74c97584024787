"""The one error handler: domain and API errors become short messages, never tracebacks.

Its log line says where it happened (chat id, update type, handler) so an operator can
find it, and never what the person sent: any token of their message long enough to be a
key, and the bot token, are blanked out of the traceback before it is logged.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import ErrorEvent, TelegramObject, Update

from keyboards.common import main_menu, only_home
from proxy_api import ProxyApiError
from services.errors import BotError, NotLinked, StaleAction
from views.errors import error_text
from views.ui import show

log = logging.getLogger(__name__)

# The handler that raised: aiogram passes error handlers the update, not the handler.
# Module level, as contextvars must be; each update's task sees only its own value.
_failed_handler: ContextVar[str | None] = ContextVar("failed_handler", default=None)

# The shortest token `extract_api_key` would try as a key; shorter words are not secret.
_SECRET_MIN_LENGTH = 8
_REDACTED = "[redacted]"


class HandlerNameMiddleware(BaseMiddleware):
    """Remembers, for the error log, which handler an exception came out of."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        found = data.get("handler")
        if not isinstance(found, HandlerObject):
            return await handler(event, data)
        callback = found.callback
        name = f"{getattr(callback, '__module__', '?')}.{getattr(callback, '__qualname__', '?')}"
        # Same task as the error handler, so the value reaches it; reset only on success,
        # so it is there exactly when an exception escaped the handler.
        token = _failed_handler.set(name)
        result = await handler(event, data)
        _failed_handler.reset(token)
        return result


def track_handlers(router: Router) -> None:
    """Install `HandlerNameMiddleware` on every event of `router` (and its sub-routers)."""
    middleware = HandlerNameMiddleware()
    for name, observer in router.observers.items():
        if name not in ("update", "error"):
            observer.middleware(middleware)


def _update_type(update: Update) -> str:
    try:
        return update.event_type
    except LookupError:
        return "unknown"


def _secrets(update: Update, bot: Bot) -> list[str]:
    """What must not reach the log: the bot token and every key-long token the user sent."""
    found = {bot.token}
    for message in (update.message, update.edited_message):
        if message is None:
            continue
        for text in (message.text, message.caption):
            found.update(w for w in (text or "").split() if _may_be_secret(w))
    # Longest first, so a secret containing another is blanked whole.
    return sorted(found, key=len, reverse=True)


def _may_be_secret(word: str) -> bool:
    # Lowercase words ("settings", "handlers") are prose, and blanking them would blank
    # module paths all over the traceback.
    return len(word) >= _SECRET_MIN_LENGTH and not (word.isalpha() and word.islower())


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    exc = event.exception
    handler = _failed_handler.get() or "-"
    _failed_handler.set(None)
    if isinstance(exc, TelegramBadRequest) and "not modified" in exc.message:
        return True
    update = event.update
    chat_id = UserContextMiddleware.resolve_event_context(update).chat_id
    where = f"chat {chat_id}, {_update_type(update)} update {update.update_id}, handler {handler}"
    if isinstance(exc, BotError | ProxyApiError):
        log.info("handled %s (%s) in %s", type(exc).__name__, getattr(exc, "code", ""), where)
    else:
        # Formatted here rather than passed as exc_info, so the text can be redacted.
        details = _redact("".join(traceback.format_exception(exc)), _secrets(update, bot))
        log.error("unhandled %s in %s\n%s", type(exc).__name__, where, details.rstrip())
    if isinstance(exc, NotLinked | StaleAction):
        markup = main_menu(linked=isinstance(exc, StaleAction))
    else:
        markup = only_home()
    text = error_text(exc)
    try:
        if update.callback_query is not None:
            await show(update.callback_query, text, markup)
        elif update.message is not None:
            await update.message.answer(text, reply_markup=markup)
    except Exception:
        log.exception("could not deliver an error message")
    return True


def setup() -> Router:
    router = Router(name=__name__)
    router.errors.register(on_error)
    return router
