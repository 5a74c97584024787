"""What the fake server remembers: chats, messages, files, callback queries, requests."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class ClockLike(Protocol):
    def now(self) -> datetime: ...


class FakeClock:
    """The server's notion of "now" (message dates, the 48 h deletion window).

    Same surface as ``core.clock.ManualClock`` (``now``/``advance``), so a test may pass the
    app's clock to ``FakeTelegram(clock=...)`` and move both at once.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> None:
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self._now = when


@dataclass
class StoredFile:
    """A file the fake knows: uploaded by the bot, sent by a simulated user, or given by URL."""

    file_id: str
    file_unique_id: str
    kind: str  # "document" | "photo" | "sticker"
    filename: str | None = None
    data: bytes | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    url: str | None = None
    file_path: str | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0


@dataclass
class RecordedRequest:
    """One HTTP call the bot made, with parameters decoded (JSON fields parsed, files resolved)."""

    seq: int
    method: str  # as the bot spelled it in the URL, e.g. "sendMessage"
    params: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: datetime

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def name(self) -> str:
        return self.method.lower()

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def error(self) -> str | None:
        return None if self.ok else self.response.get("description")

    def __str__(self) -> str:
        shown = {k: v for k, v in self.params.items() if k not in {"timeout", "allowed_updates"}}
        outcome = "ok" if self.ok else f"{self.status} {self.error}"
        return f"{self.method}({_short(shown)}) -> {outcome}"


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class AnsweredCallback:
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    at: datetime


@dataclass
class CallbackRecord:
    query_id: str
    user_id: int
    chat_id: int | None
    message_id: int | None
    data: str | None
    answer: AnsweredCallback | None = None
    # Telegram forgot it (nobody answered in time): answers get "query is too old".
    expired: bool = False


@dataclass
class MessageMeta:
    """Per-message facts the Message JSON does not carry."""

    from_bot: bool
    raw_text: str | None = None  # text/caption exactly as the bot sent it (HTML source)
    parse_mode: str | None = None
    sent_at: datetime | None = None
    # The reply_markup the bot sent with it, of any kind (ForceReply and reply keyboards
    # are not part of the Message JSON Telegram returns, so they are kept here).
    reply_markup: dict[str, Any] | None = None


@dataclass
class ChatEvent:
    """Something that happened to a chat, in global order (``seq``)."""

    seq: int
    # "user_sent" | "service" | "sent" | "edited" | "unbuttoned" (only the keyboard was
    # removed) | "deleted"
    kind: str
    chat_id: int
    message_id: int
    snapshot: dict[str, Any] | None  # the Message JSON right after the event
    meta: MessageMeta | None


@dataclass
class ChatRecord:
    id: int
    type: str  # "private" | "group" | "supergroup" | "channel"
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    meta: dict[int, MessageMeta] = field(default_factory=dict)
    deleted: list[int] = field(default_factory=list)
    events: list[ChatEvent] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    reply_keyboard: dict[str, Any] | None = None
    next_message_id: int = 1
    # private chats: has the user pressed Start / blocked the bot?
    started: bool = True
    blocked: bool = False
    # groups
    owner_id: int | None = None
    admin_ids: list[int] = field(default_factory=list)
    member_ids: list[int] = field(default_factory=list)
    bot_is_admin: bool = False
    bot_removed: bool = False
    # admin → the rights that differ from full rights (``FakeGroup.promote``)
    admin_rights: dict[int, dict[str, Any]] = field(default_factory=dict)
    bot_rights: dict[str, Any] = field(default_factory=dict)  # the bot's, when it is admin
    restricted: dict[int, dict[str, Any]] = field(default_factory=dict)  # user → permissions
    left_ids: list[int] = field(default_factory=list)
    kicked_ids: list[int] = field(default_factory=list)
    # supergroup migration: the basic group points at its supergroup and back
    migrated_to: int | None = None
    migrated_from: int | None = None

    def as_dict(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value is not None:
                chat[key] = value
        return chat

    def allocate_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def snapshot(self, message_id: int) -> dict[str, Any]:
        return copy.deepcopy(self.messages[message_id])
