"""Log set-up: one line per event, text or JSON (LOG_FORMAT), never a key or a credential.

Every record passes a redaction filter before any formatter sees it: the bot token (and
the webhook secret) are blanked wherever they appear, and so is every word shaped like a
1001Proxy API key, with the same redaction the error handler applies to tracebacks
(handlers/errors.py). One log line per handled update carries chat id, update id, handler
and latency as fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.types import TelegramObject, Update

from handlers.errors import _REDACTED, _redact
from services.account import looks_like_api_key

update_log = logging.getLogger("bot.updates")

# Fields a record may carry in `extra=` that the JSON line shows as its own keys.
_FIELDS = ("chat_id", "user_id", "update_id", "update_type", "handler", "latency_ms", "outcome")

# The handler that took the current update; set by HandlerRecorder, read when it is logged.
_handler: ContextVar[list[str] | None] = ContextVar("update_handler", default=None)


class RedactingFilter(logging.Filter):
    """Blanks known secrets and key-shaped words in the message and the traceback."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            # Formatted once here, so the traceback is redacted like the message.
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redact(message)
        record.args = None
        return True

    def redact(self, text: str) -> str:
        text = _redact(text, self._secrets)
        if any(_secret_word(word) for word in text.split()):
            text = " ".join(_REDACTED if _secret_word(w) else w for w in text.split(" "))
        return text


# `handlers.orders.show_order_details`: a module path (handler names, tracebacks), which
# has the shape of a key but must stay readable. Keys have no dotted identifier segments.
_DOTTED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+[:,]?$")


def _secret_word(word: str) -> bool:
    if not looks_like_api_key(word):
        return False
    if not _DOTTED_NAME.match(word):
        return True
    # A module path starts with a package name in lower case ("handlers", "proxy_api");
    # a dotted token (a JWT) is mixed-case base64 in every part.
    first = word.split(".")[0]
    return not (first.islower() and first.replace("_", "").isalpha())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the known extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str, fmt: str = "text", secrets: Iterable[str | None] = ()) -> None:
    """Root logging to stderr (journald and `docker logs` collect it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Request lines of every API call are noise at INFO; our client logs what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class HandlerRecorder(BaseMiddleware):
    """Inner middleware on every event: notes which handler took the update, for its log line."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        found = data.get("handler")
        slot = _handler.get()
        if slot is not None and isinstance(found, HandlerObject):
            callback = found.callback
            slot.append(f"{getattr(callback, '__module__', '?')}."
                        f"{getattr(callback, '__qualname__', '?')}")
        return await handler(event, data)


def record_handlers(router: Router) -> None:
    recorder = HandlerRecorder()
    for name, observer in router.observers.items():
        if name not in ("update", "error"):
            observer.middleware(recorder)


class UpdateContext(BaseMiddleware):
    """Outermost on `dispatcher.update`: gives the update's task a slot for its handler."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        token = _handler.set([])
        try:
            return await handler(event, data)
        finally:
            _handler.reset(token)


def log_update(update: Update, kind: str, elapsed: float, failed: bool) -> None:
    """The one line per handled update."""
    if not update_log.isEnabledFor(logging.INFO):
        return  # reading the update for a line nobody keeps was ~1.5% of the CPU under taps
    chat_id = user_id = None
    try:
        event = update.event
        chat = getattr(event, "chat", None) or getattr(
            getattr(event, "message", None), "chat", None
        )
        chat_id = getattr(chat, "id", None)
        user_id = getattr(getattr(event, "from_user", None), "id", None)
    except LookupError:
        pass
    names = _handler.get() or []
    handler = names[-1] if names else None
    outcome = "error" if failed else ("handled" if handler else "unhandled")
    update_log.info(
        "update %s (%s) chat %s: %s by %s in %.0f ms",
        update.update_id, kind, chat_id, outcome, handler or "-", elapsed * 1000,
        extra={
            "update_id": update.update_id,
            "update_type": kind,
            "chat_id": chat_id,
            "user_id": user_id,
            "handler": handler,
            "latency_ms": round(elapsed * 1000, 1),
            "outcome": outcome,
        },
    )
