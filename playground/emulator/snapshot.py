"""The emulator's Telegram side as JSON, so a program that runs it can stop and resume.

``dump(tg)`` turns a ``FakeTelegram`` into plain JSON types; ``restore(tg, data)`` fills a
*fresh* one (same token and bot) from that. What is kept: people, chats (messages with
their keyboards and entities, members and roles, the reply keyboard, message ids), the files
the bot sent (so photos and documents show again), queued and withheld updates and every id
counter, so update, message and file ids keep growing. What is not: recorded requests,
callback queries, chat events (a test's waiting aids), commands and bot settings (a bot sets
them again when it starts) and injected faults.

The tests' ``FakeTelegram`` stays in-memory: nothing here runs unless a caller asks.
A snapshot this code cannot read raises ``SnapshotError``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from .client import FakeGroup, FakeTelegram, FakeUser
from .state import ChatRecord, MessageMeta, StoredFile

VERSION = 1
# ChatRecord fields not kept (see above) and those keyed by an int (JSON keys are strings).
_NOT_KEPT = frozenset({"events", "actions", "messages", "meta"})
_INT_KEYED = frozenset({"admin_rights", "restricted"})
_COUNTERS = (
    "_next_update_id", "_next_file", "_next_query", "_next_supergroup", "_seq",
    "delivered_update_id", "confirmed_update_id",
)


class SnapshotError(ValueError):
    """A snapshot this version cannot restore."""


def dump(tg: FakeTelegram) -> dict[str, Any]:
    return {
        "version": VERSION,
        "users": [
            {
                "user_id": u.user_id, "first_name": u.first_name, "last_name": u.last_name,
                "username": u.username, "language_code": u.language_code,
                "is_premium": u.is_premium,
            }
            for u in tg.users.values()
        ],
        "groups": sorted(tg.groups),
        "chats": [_chat(chat) for chat in tg.chats.values()],
        "files": [_file(f) for f in tg.files.values()],
        "pending_updates": tg.pending_updates,
        "withheld_updates": tg.withheld_updates,
        "counters": {name.lstrip("_"): getattr(tg, name) for name in _COUNTERS},
    }


def restore(tg: FakeTelegram, data: object) -> None:
    """Fill ``tg`` (just created: no users, chats or files yet) from ``dump``'s output."""
    if tg.users or tg.chats or tg.files:
        raise ValueError("restore fills a fresh FakeTelegram only")
    try:
        if not isinstance(data, Mapping) or data.get("version") != VERSION:
            raise SnapshotError(f"not an emulator snapshot of version {VERSION}")
        chats = [_load_chat(item) for item in data["chats"]]
        users = [FakeUser(tg, **_user_fields(item)) for item in data["users"]]
        files = [_load_file(item) for item in data["files"]]
        counters = {name: int(data["counters"][name.lstrip("_")]) for name in _COUNTERS}
        groups = [int(chat_id) for chat_id in data["groups"]]
        pending = [dict(u) for u in data["pending_updates"]]
        withheld = [dict(u) for u in data["withheld_updates"]]
    except SnapshotError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotError(f"unreadable emulator snapshot: {exc!r}") from exc
    by_id = {chat.id: chat for chat in chats}
    if not {u.user_id for u in users} | set(groups) <= by_id.keys():
        raise SnapshotError("a person or group without its chat")
    # Everything was read: only now is ``tg`` changed, so a bad snapshot leaves it empty.
    tg.chats.update(by_id)
    tg.users.update({u.user_id: u for u in users})
    tg.groups.update({chat_id: FakeGroup(tg, chat_id) for chat_id in groups})
    tg.files.update({f.file_id: f for f in files})
    tg.pending_updates.extend(pending)
    tg.withheld_updates.extend(withheld)
    for name, value in counters.items():
        setattr(tg, name, value)


# -- one object each way ----------------------------------------------------------------------


def _user_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "user_id": int(item["user_id"]),
        "first_name": str(item["first_name"]),
        "last_name": item["last_name"],
        "username": item["username"],
        "language_code": item["language_code"],
        "is_premium": bool(item["is_premium"]),
    }


def _chat(chat: ChatRecord) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for f in fields(ChatRecord):
        if f.name in _NOT_KEPT:
            continue
        value = getattr(chat, f.name)
        item[f.name] = {str(k): v for k, v in value.items()} if f.name in _INT_KEYED else value
    item["messages"] = [
        {"id": message_id, "message": message, "meta": _meta(chat.meta.get(message_id))}
        for message_id, message in chat.messages.items()
    ]
    return item


def _load_chat(item: Mapping[str, Any]) -> ChatRecord:
    known = {f.name for f in fields(ChatRecord)} - _NOT_KEPT
    values = {name: item[name] for name in known}
    for name in _INT_KEYED:
        values[name] = {int(k): dict(v) for k, v in values[name].items()}
    chat = ChatRecord(**values)
    if not isinstance(chat.id, int) or not isinstance(chat.next_message_id, int):
        raise SnapshotError("a chat without an integer id")
    for entry in item["messages"]:
        message_id = int(entry["id"])
        chat.messages[message_id] = dict(entry["message"])
        meta = _load_meta(entry["meta"])
        if meta is not None:
            chat.meta[message_id] = meta
    return chat


def _meta(meta: MessageMeta | None) -> dict[str, Any] | None:
    if meta is None:
        return None
    item = asdict(meta)
    item["sent_at"] = None if meta.sent_at is None else meta.sent_at.isoformat()
    return item


def _load_meta(item: Mapping[str, Any] | None) -> MessageMeta | None:
    if item is None:
        return None
    sent_at = item["sent_at"]
    return MessageMeta(
        from_bot=bool(item["from_bot"]),
        raw_text=item["raw_text"],
        parse_mode=item["parse_mode"],
        sent_at=None if sent_at is None else datetime.fromisoformat(sent_at),
        reply_markup=item["reply_markup"],
    )


def _file(stored: StoredFile) -> dict[str, Any]:
    item = asdict(stored)
    item["data"] = None if stored.data is None else base64.b64encode(stored.data).decode()
    # A getFile path belongs to one server run: the bot asks for it again.
    item["file_path"] = None
    return item


def _load_file(item: Mapping[str, Any]) -> StoredFile:
    values = {f.name: item[f.name] for f in fields(StoredFile)}
    data = values["data"]
    values["data"] = None if data is None else base64.b64decode(data, validate=True)
    stored = StoredFile(**values)
    if not isinstance(stored.file_id, str):
        raise SnapshotError("a file without an id")
    return stored
