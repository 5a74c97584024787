"""Deposit arrivals: which deposits each chat knows about, and when its deposits are read next.

Two tables (storage/migrations/0004_deposits.sql):

- ``deposit_watch``: one row per chat — the next read, the fast window after a deposit
  address was shown, the failures in a row (backoff), the moment before which deposits
  are never announced (``since``), and the operation the chat goes back to after topping up.
- ``deposits_seen``: one row per chat and deposit transaction — ``announced`` (its message
  is in the outbox: the row and the message are written in one transaction, so a deposit
  is announced once across restarts and crashes), ``skipped`` (it was there before the
  watch began) or ``pending`` (seen unconfirmed; announced once it completes).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from core.clock import Clock
from storage.db import Database
from storage.errors import StorageError
from storage.outbox import OutgoingMessage, enqueue

ANNOUNCED = "announced"
SKIPPED = "skipped"
PENDING = "pending"


def _iso(value: datetime) -> str:
    # Fixed width and one timezone: text comparison in SQL is time order.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class ReturnTarget:
    """Where a chat goes back to after topping up: a quote (``order``) or an extend
    confirmation (``extend``) refused for lack of funds."""

    op_id: str
    kind: str
    at: datetime


@dataclass(frozen=True, slots=True)
class WatchTarget:
    """A chat whose deposits are read (linked, reachable, key not refused) and its state;
    ``next_poll_at`` is None while it has no watch row yet."""

    chat_id: int
    linked_at: datetime | None
    since: datetime | None
    fast_until: datetime | None
    next_poll_at: datetime | None
    failures: int
    polled_at: datetime | None
    back: ReturnTarget | None

    @property
    def baseline(self) -> datetime | None:
        """Deposits created before this are never announced: the later of the watch's
        start and the key's link."""
        found = [t for t in (self.since, self.linked_at) if t is not None]
        return max(found) if found else None


class DepositRepository:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # -- the watch ----------------------------------------------------------------------

    async def targets(self) -> list[WatchTarget]:
        """Every chat whose deposits are read, with its watch state (if any)."""
        rows = await self._db.fetchall(
            "SELECT c.chat_id, c.linked_at, w.since, w.fast_until, w.next_poll_at,"
            " w.failures, w.polled_at, w.return_op_id, w.return_kind, w.return_at"
            " FROM chats c LEFT JOIN deposit_watch w ON w.chat_id = c.chat_id"
            " WHERE c.api_key_enc IS NOT NULL AND c.active = 1 AND c.key_revoked_at IS NULL"
            " ORDER BY c.chat_id"
        )
        return [self._target(row) for row in rows]

    async def target(self, chat_id: int) -> WatchTarget | None:
        """The chat's state, whether or not its deposits are read now; None if unknown."""
        row = await self._db.fetchone(
            "SELECT c.chat_id, c.linked_at, w.since, w.fast_until, w.next_poll_at,"
            " w.failures, w.polled_at, w.return_op_id, w.return_kind, w.return_at"
            " FROM chats c LEFT JOIN deposit_watch w ON w.chat_id = c.chat_id"
            " WHERE c.chat_id = ?",
            (chat_id,),
        )
        return self._target(row) if row is not None else None

    async def schedule_new(self, first_polls: Iterable[tuple[int, datetime]]) -> None:
        """Watch rows for chats that have none: their first read at the time given."""
        now = _iso(self._clock.now())
        rows = [(chat_id, _iso(at), now) for chat_id, at in first_polls]
        if not rows:
            return
        async with self._db.transaction() as conn:
            for row in rows:
                try:
                    cur = await conn.execute(
                        "INSERT INTO deposit_watch (chat_id, next_poll_at, updated_at)"
                        " VALUES (?, ?, ?) ON CONFLICT (chat_id) DO NOTHING",
                        row,
                    )
                    await cur.close()
                except sqlite3.IntegrityError:
                    continue  # logged out meanwhile: nothing to watch

    async def watch(self, chat_id: int, fast_until: datetime, next_poll_at: datetime) -> None:
        """Read the chat's deposits often until ``fast_until``, the next time no later than
        ``next_poll_at`` (unless a failed read is backing off). StorageError: no such chat."""
        now = _iso(self._clock.now())
        try:
            await self._db.execute(
                "INSERT INTO deposit_watch (chat_id, fast_until, next_poll_at, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (chat_id) DO UPDATE SET"
                " fast_until = max(coalesce(fast_until, ''), excluded.fast_until),"
                " next_poll_at = CASE WHEN failures > 0 THEN next_poll_at"
                "  ELSE min(next_poll_at, excluded.next_poll_at) END,"
                " updated_at = excluded.updated_at",
                (chat_id, _iso(fast_until), _iso(next_poll_at), now),
            )
        except sqlite3.IntegrityError as exc:
            raise StorageError(f"chat {chat_id}: deposits not watched: {exc}") from None

    async def polled(self, chat_id: int, fast_next: datetime, slow_next: datetime) -> None:
        """A read succeeded: the next one at ``fast_next`` while the fast window lasts
        (read at write time, so a watch started meanwhile counts), else ``slow_next``."""
        now = self._clock.now()
        await self._db.execute(
            "UPDATE deposit_watch SET failures = 0, polled_at = ?, updated_at = ?,"
            " next_poll_at = CASE WHEN fast_until IS NOT NULL AND fast_until > ? THEN ?"
            "  ELSE ? END WHERE chat_id = ?",
            (_iso(now), _iso(now), _iso(now), _iso(fast_next), _iso(slow_next), chat_id),
        )

    async def failed(self, chat_id: int, next_poll_at: datetime) -> None:
        """A read failed: one more failure in a row, the next read at ``next_poll_at``."""
        now = _iso(self._clock.now())
        await self._db.execute(
            "UPDATE deposit_watch SET failures = failures + 1, next_poll_at = ?,"
            " updated_at = ? WHERE chat_id = ?",
            (_iso(next_poll_at), now, chat_id),
        )

    # -- where to go back to ------------------------------------------------------------

    async def remember_return(self, chat_id: int, op_id: str, kind: str) -> None:
        """The operation the chat goes back to after a top-up (replaces an earlier one)."""
        now = self._clock.now()
        try:
            await self._db.execute(
                "INSERT INTO deposit_watch (chat_id, next_poll_at, return_op_id, return_kind,"
                " return_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (chat_id) DO UPDATE SET return_op_id = excluded.return_op_id,"
                " return_kind = excluded.return_kind, return_at = excluded.return_at,"
                " updated_at = excluded.updated_at",
                (chat_id, _iso(now), op_id, kind, _iso(now), _iso(now)),
            )
        except sqlite3.IntegrityError as exc:
            raise StorageError(f"chat {chat_id}: return not remembered: {exc}") from None

    async def forget_return(self, chat_id: int, op_id: str) -> bool:
        """Drop the chat's way back if it still leads to ``op_id``."""
        changed = await self._db.execute(
            "UPDATE deposit_watch SET return_op_id = NULL, return_kind = NULL,"
            " return_at = NULL WHERE chat_id = ? AND return_op_id = ?",
            (chat_id, op_id),
        )
        return changed == 1

    # -- deposits seen ------------------------------------------------------------------

    async def seen(self, chat_id: int, tx_ids: Iterable[str]) -> dict[str, str]:
        """The state of each of ``tx_ids`` the chat knows (absent: never seen)."""
        ids = sorted(set(tx_ids))
        if not ids:
            return {}
        marks = ",".join("?" for _ in ids)
        rows = await self._db.fetchall(
            f"SELECT tx_id, state FROM deposits_seen WHERE chat_id = ? AND tx_id IN ({marks})",
            (chat_id, *ids),
        )
        return {row["tx_id"]: row["state"] for row in rows}

    async def record(self, chat_id: int, deposits: Iterable[tuple[str, str, Decimal]]) -> None:
        """Remember deposits as ``skipped`` or ``pending`` (tx id, state, amount); a deposit
        known already keeps its state (only ``announce`` changes a pending one)."""
        now = _iso(self._clock.now())
        rows = [(chat_id, tx_id, state, str(amount), now) for tx_id, state, amount in deposits]
        if not rows:
            return
        try:
            async with self._db.transaction() as conn:
                for row in rows:
                    cur = await conn.execute(
                        "INSERT INTO deposits_seen (chat_id, tx_id, state, amount, seen_at)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat_id, tx_id) DO NOTHING",
                        row,
                    )
                    await cur.close()
        except sqlite3.IntegrityError as exc:
            raise StorageError(f"chat {chat_id}: deposits not recorded: {exc}") from None

    async def announce(
        self, chat_id: int, tx_id: str, amount: Decimal, message: OutgoingMessage
    ) -> bool:
        """Mark the deposit announced and queue ``message``, in one transaction; False (and
        nothing queued) when it was announced before or the chat is gone."""
        now = self._clock.now()
        try:
            async with self._db.transaction() as conn:
                cur = await conn.execute(
                    "INSERT INTO deposits_seen (chat_id, tx_id, state, amount, seen_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat_id, tx_id) DO UPDATE SET"
                    " state = excluded.state, seen_at = excluded.seen_at"
                    " WHERE deposits_seen.state != ?",
                    (chat_id, tx_id, ANNOUNCED, str(amount), _iso(now), ANNOUNCED),
                )
                changed = cur.rowcount
                await cur.close()
                if changed != 1:
                    return False
                await enqueue(conn, message, now)
        except sqlite3.IntegrityError:
            return False  # the chat logged out meanwhile
        return True

    async def states_of(self, chat_id: int) -> dict[str, str]:
        """Every deposit the chat knows and its state (for tests and support)."""
        rows = await self._db.fetchall(
            "SELECT tx_id, state FROM deposits_seen WHERE chat_id = ?", (chat_id,)
        )
        return {row["tx_id"]: row["state"] for row in rows}

    @staticmethod
    def _target(row: sqlite3.Row) -> WatchTarget:
        back = None
        if row["return_op_id"] and row["return_kind"]:
            at = _dt(row["return_at"]) or datetime.fromtimestamp(0, UTC)
            back = ReturnTarget(row["return_op_id"], row["return_kind"], at)
        return WatchTarget(
            chat_id=row["chat_id"],
            linked_at=_dt(row["linked_at"]),
            since=_dt(row["since"]),
            fast_until=_dt(row["fast_until"]),
            next_poll_at=_dt(row["next_poll_at"]),
            failures=row["failures"] or 0,
            polled_at=_dt(row["polled_at"]),
            back=back,
        )
