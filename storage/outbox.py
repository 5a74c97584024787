"""The outbox: every scheduled message, queued durably until the one sender delivers it.

Queueing is done inside the caller's transaction (``enqueue(conn, …)``), so "this reminder
is sent" and "its message is queued" are one step. The sender (bot/sender.py) claims
queued rows with a lease, sends them within Telegram's limits and marks them sent.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiosqlite

from core.clock import Clock
from storage.db import Database
from storage.errors import StorageError

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


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One row of the outbox as the sender (and tests) see it."""

    outbox_id: int
    chat_id: int
    kind: str
    ref: str
    text: str
    markup: str | None
    state: str
    attempts: int
    not_before: datetime
    created_at: datetime
    owner: str | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    telegram_message_id: int | None = None

    @property
    def is_group(self) -> bool:
        # Groups, supergroups and channels have negative ids; users positive ones.
        return self.chat_id < 0


def _iso(value: datetime) -> str:
    # One timezone for every stored time, so the text comparisons in SQL order correctly.
    return value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@contextmanager
def _storage_errors(what: str) -> Iterator[None]:
    """The driver's errors (a database locked past the busy timeout…) as StorageError."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageError(f"outbox: could not {what}: {exc}") from exc


class OutboxRepository:
    """The sender's side of the outbox: claim with a lease, then settle each claim.

    A claim is owned (``owner``, one id per process) and leased: a sender that dies leaves
    its rows ``sending`` until ``lease_until``, after which any sender may claim them again,
    so nothing queued is ever lost. Claims are taken under the database's write lock, so two
    processes on one database never claim the same row; ``confirm`` re-checks the claim
    and renews the lease right before the send, so a claim that ran out while its sender
    waited is never sent by two.

    Per chat the outbox is first in, first out: only the oldest unfinished row of a chat
    can be claimed, so one chat has at most one message in flight and a message held back
    (a 429, a backoff) holds back the chat's later ones instead of being overtaken.
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def claim(
        self,
        owner: str,
        *,
        limit: int,
        lease: timedelta,
        skip_chats: Collection[int] = (),
    ) -> list[OutboxEntry]:
        """Claim up to ``limit`` messages that are due, at most one per chat, oldest first.

        Due: queued with ``not_before`` reached, or claimed by a sender whose lease ran out.
        ``skip_chats``: chats the caller may not send to now (its rate limits); their rows
        stay queued for a later claim.
        """
        if limit <= 0:
            return []
        now = self._clock.now()
        with _storage_errors("claim messages"):
            async with self._db.transaction() as conn, conn.execute(
                "UPDATE outbox SET state = ?, owner = ?, lease_until = ?"
                " WHERE message_id IN ("
                "  SELECT o.message_id FROM outbox o"
                "  JOIN (SELECT MIN(message_id) AS head FROM outbox"
                "        WHERE state IN (?, ?) GROUP BY chat_id) h ON o.message_id = h.head"
                "  WHERE ((o.state = ? AND o.not_before <= ?)"
                "         OR (o.state = ? AND o.lease_until <= ?))"
                "    AND o.chat_id NOT IN (SELECT value FROM json_each(?))"
                "  ORDER BY o.not_before, o.message_id LIMIT ?)"
                " RETURNING *",
                (
                    SENDING, owner, _iso(now + lease),
                    QUEUED, SENDING,
                    QUEUED, _iso(now), SENDING, _iso(now),
                    json.dumps(sorted(skip_chats)), limit,
                ),
            ) as cur:
                rows = await cur.fetchall()
        entries = [self._entry(row) for row in rows]
        # RETURNING gives no order; the caller sends in queue order.
        return sorted(entries, key=lambda e: (e.not_before, e.outbox_id))

    async def confirm(self, outbox_id: int, owner: str, lease: timedelta) -> bool:
        """Right before sending: is the claim still ours? Renews the lease if so.

        False when the lease ran out and another sender claimed the row (or it was sent,
        dropped, rescheduled meanwhile): the caller must not send it.
        """
        until = _iso(self._clock.now() + lease)
        with _storage_errors("confirm a claim"):
            changed = await self._db.execute(
                "UPDATE outbox SET lease_until = ?"
                " WHERE message_id = ? AND owner = ? AND state = ?",
                (until, outbox_id, owner, SENDING),
            )
        return changed == 1

    async def mark_sent(self, outbox_id: int, telegram_message_id: int) -> None:
        """Telegram accepted it. Recorded whoever holds the claim now: it *was* sent."""
        with _storage_errors("mark a message sent"):
            await self._db.execute(
                "UPDATE outbox SET state = ?, sent_at = ?, telegram_message_id = ?,"
                " owner = NULL, lease_until = NULL WHERE message_id = ? AND state != ?",
                (SENT, _iso(self._clock.now()), telegram_message_id, outbox_id, SENT),
            )

    async def reschedule(
        self,
        outbox_id: int,
        owner: str,
        not_before: datetime,
        *,
        count_attempt: bool = True,
    ) -> bool:
        """Back to the queue until ``not_before``; False if the claim was no longer ours.

        ``count_attempt=False`` for a "not now" that says nothing about the message (a 429):
        only failed attempts count towards giving up.
        """
        with _storage_errors("reschedule a message"):
            changed = await self._db.execute(
                "UPDATE outbox SET state = ?, not_before = ?, attempts = attempts + ?,"
                " owner = NULL, lease_until = NULL"
                " WHERE message_id = ? AND owner = ? AND state = ?",
                (QUEUED, _iso(not_before), int(count_attempt), outbox_id, owner, SENDING),
            )
        return changed == 1

    async def queue(self, message: OutgoingMessage) -> bool:
        """Queue a message on its own (not part of another change); False if queued before."""
        with _storage_errors("queue a message"):
            async with self._db.transaction() as conn:
                return await enqueue(conn, message, self._clock.now())

    async def drop(self, outbox_id: int) -> bool:
        """Give up on one message (Telegram refused it for good, or too many attempts)."""
        with _storage_errors("drop a message"):
            changed = await self._db.execute(
                "UPDATE outbox SET state = ?, owner = NULL, lease_until = NULL"
                " WHERE message_id = ? AND state IN (?, ?)",
                (DROPPED, outbox_id, QUEUED, SENDING),
            )
        return changed == 1

    async def drop_chat(self, chat_id: int) -> int:
        """Drop everything not yet sent to a chat (it blocked the bot, or removed it)."""
        with _storage_errors("drop a chat's messages"):
            return await self._db.execute(
                "UPDATE outbox SET state = ?, owner = NULL, lease_until = NULL"
                " WHERE chat_id = ? AND state IN (?, ?)",
                (DROPPED, chat_id, QUEUED, SENDING),
            )

    async def get(self, outbox_id: int) -> OutboxEntry | None:
        with _storage_errors("read a message"):
            row = await self._db.fetchone(
                "SELECT * FROM outbox WHERE message_id = ?", (outbox_id,)
            )
        return self._entry(row) if row is not None else None

    async def find(self, kind: str, ref: str) -> OutboxEntry | None:
        """The message queued for (kind, ref), whatever became of it."""
        with _storage_errors("read a message"):
            row = await self._db.fetchone(
                "SELECT * FROM outbox WHERE kind = ? AND ref = ?", (kind, ref)
            )
        return self._entry(row) if row is not None else None

    async def for_chat(self, chat_id: int) -> list[OutboxEntry]:
        """Every message of a chat, in queue order."""
        with _storage_errors("read a chat's messages"):
            rows = await self._db.fetchall(
                "SELECT * FROM outbox WHERE chat_id = ? ORDER BY message_id", (chat_id,)
            )
        return [self._entry(row) for row in rows]

    async def purge_finished(self, older_than: timedelta) -> int:
        """Forget sent and dropped messages created more than ``older_than`` ago.

        (kind, ref) stays unique only while the row exists: keep ``older_than`` longer than
        anything could be queued twice for the same ref.
        """
        cutoff = _iso(self._clock.now() - older_than)
        with _storage_errors("purge old messages"):
            return await self._db.execute(
                "DELETE FROM outbox WHERE state IN (?, ?) AND created_at < ?",
                (SENT, DROPPED, cutoff),
            )

    @staticmethod
    def _entry(row: aiosqlite.Row) -> OutboxEntry:
        not_before = _dt(row["not_before"])
        created_at = _dt(row["created_at"])
        assert not_before is not None and created_at is not None  # NOT NULL columns
        return OutboxEntry(
            outbox_id=row["message_id"],
            chat_id=row["chat_id"],
            kind=row["kind"],
            ref=row["ref"],
            text=row["text"],
            markup=row["markup"],
            state=row["state"],
            attempts=row["attempts"],
            not_before=not_before,
            created_at=created_at,
            owner=row["owner"],
            lease_until=_dt(row["lease_until"]),
            sent_at=_dt(row["sent_at"]),
            telegram_message_id=row["telegram_message_id"],
        )
