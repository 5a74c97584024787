"""The outbox: every scheduled message, queued durably until the one sender delivers it.

Queueing is done inside the caller's transaction (``enqueue(conn, …)``), so "this reminder
is sent" and "its message is queued" are one step. The sender (bot/sender.py) claims
queued rows with a lease, sends them within Telegram's limits and marks them sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    chat_id: int
    kind: str  # reminder, deposit, notice
    ref: str  # what it is about (a reminder id…); (kind, ref) is queued once
    text: str  # final HTML, rendered in the chat's language
    markup: str | None = None  # reply_markup as JSON


async def enqueue(conn: aiosqlite.Connection, message: OutgoingMessage, now: datetime) -> bool:
    """Queue ``message`` on ``conn`` (inside the caller's transaction); False if it was
    queued before (same kind and ref)."""
    cur = await conn.execute(
        "INSERT INTO outbox (chat_id, kind, ref, text, markup, state, not_before, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, ref) DO NOTHING",
        (
            message.chat_id, message.kind, message.ref, message.text, message.markup,
            QUEUED, now.isoformat(), now.isoformat(),
        ),
    )
    changed = cur.rowcount
    await cur.close()
    return changed == 1
