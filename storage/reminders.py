"""Expiry reminders: planned per order and expiry, claimed with a lease, handed to the outbox.

Life of a reminder row: ``planned`` (an order's expiry minus one offset) → ``claimed`` (one
worker took it, with an owner and a lease; a lease that runs out makes it claimable again,
so a process that died mid-way loses nothing) → ``sent`` (its message is in the outbox: the
two happen in one transaction) or ``skipped`` (nothing to say any more: order muted, chat
gone quiet, a later reminder of the same expiry fell due too…).

Rows that fired (sent, skipped) are kept while their expiry is recent: planning never adds a
reminder already fired, so a restart, a re-plan or a changed setting never repeats one.
Planned rows of an expiry that is no longer the order's are deleted; the new expiry gets
its own rows.

Also here: the chat's reminder settings (stored on its ``chats`` row) and muted orders.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiosqlite

from core.clock import Clock
from storage.db import Database
from storage.errors import StorageError
from storage.outbox import OutgoingMessage, enqueue

PLANNED = "planned"
CLAIMED = "claimed"
SENT = "sent"
SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Reminder:
    reminder_id: int
    chat_id: int
    order_id: str
    expires_at: datetime  # the expiry this reminder is about
    offset: timedelta
    due_at: datetime
    state: str
    owner: str | None
    lease_until: datetime | None
    sent_at: datetime | None
    created_at: datetime


def iso(value: datetime) -> str:
    """One fixed-width UTC form, so text comparison in SQL is time order and an expiry
    read back from the API in another notation still compares equal."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def _ensure_chat(conn: aiosqlite.Connection, chat_id: int, now: str) -> None:
    # Settings and mutes may be chosen before (or without) a key; the chat's row holds them.
    cur = await conn.execute(
        "INSERT INTO chats (chat_id, created_at) VALUES (?, ?) ON CONFLICT (chat_id) DO NOTHING",
        (chat_id, now),
    )
    await cur.close()


class ReminderRepository:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # -- the chat's settings ------------------------------------------------------------

    async def offsets(self, chat_id: int) -> tuple[int, ...] | None:
        """The chat's own offsets in seconds, largest first; None: the default; (): off."""
        row = await self._db.fetchone(
            "SELECT reminder_offsets FROM chats WHERE chat_id = ?", (chat_id,)
        )
        value = row["reminder_offsets"] if row else None
        if value is None:
            return None
        return tuple(int(part) for part in value.split(",") if part)

    async def set_offsets(self, chat_id: int, offsets: Sequence[int] | None) -> None:
        """Store the chat's offsets (seconds, as given); None: back to the default."""
        value = None if offsets is None else ",".join(str(int(s)) for s in offsets)
        now = self._clock.now().isoformat()
        async with self._db.transaction() as conn:
            await _ensure_chat(conn, chat_id, now)
            await conn.execute(
                "UPDATE chats SET reminder_offsets = ? WHERE chat_id = ?", (value, chat_id)
            )

    # -- muted orders ---------------------------------------------------------------------

    async def mute(self, chat_id: int, order_id: str) -> bool:
        """Mute the order and drop its planned reminders; False if it was muted already."""
        now = self._clock.now().isoformat()
        async with self._db.transaction() as conn:
            await _ensure_chat(conn, chat_id, now)
            cur = await conn.execute(
                "INSERT INTO order_mutes (chat_id, order_id, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (chat_id, order_id) DO NOTHING",
                (chat_id, order_id, now),
            )
            added = cur.rowcount == 1
            await cur.close()
            await conn.execute(
                "DELETE FROM reminders WHERE chat_id = ? AND order_id = ? AND state = ?",
                (chat_id, order_id, PLANNED),
            )
        return added

    async def unmute(self, chat_id: int, order_id: str) -> bool:
        changed = await self._db.execute(
            "DELETE FROM order_mutes WHERE chat_id = ? AND order_id = ?", (chat_id, order_id)
        )
        return changed == 1

    async def muted(self, chat_id: int) -> list[str]:
        """The chat's muted order ids, most recently muted first."""
        rows = await self._db.fetchall(
            "SELECT order_id FROM order_mutes WHERE chat_id = ?"
            " ORDER BY created_at DESC, order_id",
            (chat_id,),
        )
        return [row["order_id"] for row in rows]

    async def is_muted(self, chat_id: int, order_id: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM order_mutes WHERE chat_id = ? AND order_id = ?", (chat_id, order_id)
        )
        return row is not None

    # -- planning ---------------------------------------------------------------------------

    async def plan(
        self, chat_id: int, order_id: str, expires_at: datetime, offsets: Sequence[int]
    ) -> int:
        """Make the order's planned reminders match ``expires_at`` and ``offsets`` (seconds).

        In one transaction: planned rows for another expiry or an offset no longer chosen are
        deleted; a row is added for every offset still ahead. Of the offsets already past
        (the bot was down, the order was first seen late, offsets changed), only the most
        recent is added, and only while the order has not expired and nothing of this expiry
        fired at or after that time: it is sent once, at once, instead of a burst of stale
        ones. Rows that fired (sent, skipped) are never added again. Returns rows added.

        StorageError when the chat is gone.
        """
        now = self._clock.now()
        expiry = iso(expires_at)
        wanted = sorted({int(s) for s in offsets if int(s) > 0}, reverse=True)
        ahead = [s for s in wanted if expires_at - timedelta(seconds=s) > now]
        past = [s for s in wanted if s not in ahead]
        marks = ",".join("?" for _ in wanted)
        # No offsets at all: every planned row goes ("NOT IN ()" is not valid SQL).
        other = f"expires_at != ? OR offset_seconds NOT IN ({marks})" if wanted else "1 OR ?"
        try:
            async with self._db.transaction() as conn:
                await conn.execute(
                    f"DELETE FROM reminders WHERE chat_id = ? AND order_id = ? AND state = ?"
                    f" AND ({other})",
                    (chat_id, order_id, PLANNED, expiry, *wanted),
                )
                if expires_at <= now or not wanted:
                    return 0
                chosen = list(ahead)
                if past:
                    latest = min(past)  # the smallest offset past is the latest due time
                    due = iso(expires_at - timedelta(seconds=latest))
                    async with conn.execute(
                        "SELECT 1 FROM reminders WHERE chat_id = ? AND order_id = ?"
                        " AND expires_at = ? AND state != ? AND due_at >= ? LIMIT 1",
                        (chat_id, order_id, expiry, PLANNED, due),
                    ) as cur:
                        fired = await cur.fetchone()
                    if fired is None:
                        chosen.append(latest)
                added = 0
                for seconds in chosen:
                    cur = await conn.execute(
                        "INSERT INTO reminders (chat_id, order_id, expires_at, offset_seconds,"
                        " due_at, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (chat_id, order_id, expires_at, offset_seconds)"
                        " DO NOTHING",
                        (
                            chat_id, order_id, expiry, seconds,
                            iso(expires_at - timedelta(seconds=seconds)), PLANNED, iso(now),
                        ),
                    )
                    added += cur.rowcount
                    await cur.close()
                return added
        except sqlite3.IntegrityError as exc:
            raise StorageError(f"reminders of {order_id} not planned: {exc}") from None

    async def drop_order(self, chat_id: int, order_id: str) -> int:
        """Delete the order's planned reminders (canceled, expired, gone, muted)."""
        return await self._db.execute(
            "DELETE FROM reminders WHERE chat_id = ? AND order_id = ? AND state = ?",
            (chat_id, order_id, PLANNED),
        )

    async def drop_chat(self, chat_id: int) -> int:
        """Delete every planned reminder of the chat (reminders off, chat inactive)."""
        return await self._db.execute(
            "DELETE FROM reminders WHERE chat_id = ? AND state = ?", (chat_id, PLANNED)
        )

    # -- claiming and handing off ----------------------------------------------------------

    async def claim_due(self, owner: str, lease: timedelta, limit: int = 50) -> list[Reminder]:
        """Claim reminders that are due for ``owner`` until ``now + lease``, oldest first.

        Claimable: planned and due, or claimed by anyone whose lease ran out (its process
        died or hung). One transaction (BEGIN IMMEDIATE: writers on the database queue up),
        and every update re-checks the row's state: two processes never get the same row.
        A due row is skipped instead when a later reminder of the same order and expiry is
        due too (or already fired): after downtime only the most recent one is sent.
        """
        now = self._clock.now()
        stamp = iso(now)
        lease_until = iso(now + lease)
        claimable = (
            "((state = ? AND due_at <= ?) OR (state = ? AND lease_until <= ?))"
        )
        claimable_args = (PLANNED, stamp, CLAIMED, stamp)
        claimed: list[int] = []
        async with self._db.transaction() as conn:
            async with conn.execute(
                f"SELECT * FROM reminders WHERE {claimable} ORDER BY due_at, reminder_id"
                f" LIMIT ?",
                (*claimable_args, limit),
            ) as cur:
                rows = list(await cur.fetchall())
            for row in rows:
                async with conn.execute(
                    "SELECT 1 FROM reminders WHERE chat_id = ? AND order_id = ?"
                    " AND expires_at = ? AND reminder_id != ? AND due_at > ? AND due_at <= ?"
                    " LIMIT 1",
                    (
                        row["chat_id"], row["order_id"], row["expires_at"],
                        row["reminder_id"], row["due_at"], stamp,
                    ),
                ) as cur:
                    superseded = await cur.fetchone() is not None
                if superseded:
                    cur = await conn.execute(
                        f"UPDATE reminders SET state = ?, owner = NULL, lease_until = NULL"
                        f" WHERE reminder_id = ? AND {claimable}",
                        (SKIPPED, row["reminder_id"], *claimable_args),
                    )
                    await cur.close()
                    continue
                cur = await conn.execute(
                    f"UPDATE reminders SET state = ?, owner = ?, lease_until = ?"
                    f" WHERE reminder_id = ? AND {claimable}",
                    (CLAIMED, owner, lease_until, row["reminder_id"], *claimable_args),
                )
                if cur.rowcount == 1:
                    claimed.append(row["reminder_id"])
                await cur.close()
            found = []
            for reminder_id in claimed:
                async with conn.execute(
                    "SELECT * FROM reminders WHERE reminder_id = ?", (reminder_id,)
                ) as cur:
                    found.append(self._from_row(await cur.fetchone()))
        return found

    async def hand_off(self, reminder_id: int, owner: str, message: OutgoingMessage) -> bool:
        """Mark the reminder sent and queue its message, in one transaction.

        Only while ``owner`` still holds the claim: False (and nothing queued) when the row
        was handed off already, skipped, or reclaimed by another worker after the lease ran
        out. So a reminder is queued at most once, and never lost between the two steps.
        """
        now = self._clock.now()
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE reminders SET state = ?, sent_at = ?, lease_until = NULL"
                " WHERE reminder_id = ? AND state = ? AND owner = ?",
                (SENT, iso(now), reminder_id, CLAIMED, owner),
            )
            changed = cur.rowcount
            await cur.close()
            if changed != 1:
                return False
            await enqueue(conn, message, now)
        return True

    async def skip(self, reminder_id: int, owner: str) -> bool:
        """Nothing to send for this claim (order gone or muted, chat inactive…)."""
        changed = await self._db.execute(
            "UPDATE reminders SET state = ?, lease_until = NULL"
            " WHERE reminder_id = ? AND state = ? AND owner = ?",
            (SKIPPED, reminder_id, CLAIMED, owner),
        )
        return changed == 1

    async def release(self, reminder_id: int, owner: str) -> bool:
        """Give a claim back (its message could not be built now): planned again, due."""
        changed = await self._db.execute(
            "UPDATE reminders SET state = ?, owner = NULL, lease_until = NULL"
            " WHERE reminder_id = ? AND state = ? AND owner = ?",
            (PLANNED, reminder_id, CLAIMED, owner),
        )
        return changed == 1

    # -- reading -----------------------------------------------------------------------------

    async def get(self, chat_id: int, reminder_id: int) -> Reminder | None:
        """The chat's reminder (a button names it); None when it is another chat's or gone."""
        row = await self._db.fetchone(
            "SELECT * FROM reminders WHERE reminder_id = ? AND chat_id = ?",
            (reminder_id, chat_id),
        )
        return self._from_row(row) if row else None

    async def for_order(self, chat_id: int, order_id: str) -> list[Reminder]:
        """Every row of the order, any state, by due time."""
        rows = await self._db.fetchall(
            "SELECT * FROM reminders WHERE chat_id = ? AND order_id = ?"
            " ORDER BY due_at, reminder_id",
            (chat_id, order_id),
        )
        return [self._from_row(row) for row in rows]

    async def next_due(self) -> datetime | None:
        """When something next becomes claimable: the earliest planned due time, or the
        end of a claim's lease (a worker that died leaves it to be taken over then)."""
        row = await self._db.fetchone(
            "SELECT MIN(at) AS at FROM (SELECT MIN(due_at) AS at FROM reminders WHERE state = ?"
            " UNION ALL SELECT MIN(lease_until) FROM reminders WHERE state = ?)",
            (PLANNED, CLAIMED),
        )
        return _dt(row["at"]) if row else None

    async def purge_older_than(self, age: timedelta) -> int:
        """Rows about expiries long past: they can never be planned again anyway."""
        cutoff = iso(self._clock.now() - age)
        return await self._db.execute(
            "DELETE FROM reminders WHERE expires_at < ? AND state != ?", (cutoff, CLAIMED)
        )

    @staticmethod
    def _from_row(row: aiosqlite.Row | None) -> Reminder:
        assert row is not None
        return Reminder(
            reminder_id=row["reminder_id"],
            chat_id=row["chat_id"],
            order_id=row["order_id"],
            expires_at=datetime.fromisoformat(row["expires_at"]),
            offset=timedelta(seconds=row["offset_seconds"]),
            due_at=datetime.fromisoformat(row["due_at"]),
            state=row["state"],
            owner=row["owner"],
            lease_until=_dt(row["lease_until"]),
            sent_at=_dt(row["sent_at"]),
            created_at=datetime.fromisoformat(row["created_at"]),
        )
