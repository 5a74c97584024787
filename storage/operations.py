"""Money-moving operations, recorded before the request leaves the process.

Life of an operation: ``pending`` (recorded, not yet sent) → ``in_flight`` (one
worker claimed it) → ``done`` (result stored) or back to ``pending`` when the
attempt failed in a way that is safe to retry. A process that dies while an
operation is ``in_flight`` leaves it so; start-up turns those into ``unknown``
and the owning service decides how to resolve them (an order is resent with its
idempotency key; an extend is checked against the order first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from bot.clock import Clock
from storage.db import Database

PENDING = "pending"
IN_FLIGHT = "in_flight"
DONE = "done"
FAILED = "failed"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Operation:
    op_id: str
    chat_id: int
    user_id: int | None
    kind: str
    request: dict[str, Any]
    status: str
    result: dict[str, Any] | None
    order_id: str | None
    created_at: datetime
    updated_at: datetime


class OperationRepository:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create(
        self,
        op_id: str,
        *,
        chat_id: int,
        user_id: int | None,
        kind: str,
        request: dict[str, Any],
        order_id: str | None = None,
    ) -> Operation:
        now = self._clock.now().isoformat()
        await self._db.execute(
            "INSERT INTO operations (op_id, chat_id, user_id, kind, request, status, order_id,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (op_id) DO NOTHING",
            (op_id, chat_id, user_id, kind, json.dumps(request), PENDING, order_id, now, now),
        )
        op = await self.get(op_id)
        assert op is not None
        return op

    async def get(self, op_id: str) -> Operation | None:
        row = await self._db.fetchone("SELECT * FROM operations WHERE op_id = ?", (op_id,))
        return self._from_row(row) if row else None

    async def claim(self, op_id: str, from_statuses: tuple[str, ...] = (PENDING,)) -> bool:
        """Atomically move to in_flight; only one caller ever wins."""
        marks = ",".join("?" for _ in from_statuses)
        changed = await self._db.execute(
            f"UPDATE operations SET status = ?, updated_at = ? "
            f"WHERE op_id = ? AND status IN ({marks})",
            (IN_FLIGHT, self._clock.now().isoformat(), op_id, *from_statuses),
        )
        return changed == 1

    async def finish(
        self,
        op_id: str,
        status: str,
        result: dict[str, Any] | None = None,
        order_id: str | None = None,
    ) -> None:
        await self._db.execute(
            "UPDATE operations SET status = ?, result = ?, order_id = COALESCE(?, order_id),"
            " updated_at = ? WHERE op_id = ?",
            (
                status,
                json.dumps(result) if result is not None else None,
                order_id,
                self._clock.now().isoformat(),
                op_id,
            ),
        )

    async def find_in_flight(self, chat_id: int, kind: str, order_id: str) -> Operation | None:
        row = await self._db.fetchone(
            "SELECT * FROM operations WHERE chat_id = ? AND kind = ? AND order_id = ?"
            " AND status IN (?, ?) ORDER BY created_at DESC LIMIT 1",
            (chat_id, kind, order_id, IN_FLIGHT, UNKNOWN),
        )
        return self._from_row(row) if row else None

    async def count_in_flight(self, chat_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM operations WHERE chat_id = ? AND status = ?",
            (chat_id, IN_FLIGHT),
        )
        return int(row[0]) if row else 0

    async def find_unresolved(self, chat_id: int, kind: str) -> Operation | None:
        """The chat's newest operation of ``kind`` that may have reached the API without
        its answer being known (in flight now, or interrupted/timed out)."""
        row = await self._db.fetchone(
            "SELECT * FROM operations WHERE chat_id = ? AND kind = ? AND status IN (?, ?)"
            " ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (chat_id, kind, IN_FLIGHT, UNKNOWN),
        )
        return self._from_row(row) if row else None

    async def mark_interrupted(self) -> int:
        """At start-up: whatever was in flight belonged to a process that is gone."""
        return await self._db.execute(
            "UPDATE operations SET status = ?, updated_at = ? WHERE status = ?",
            (UNKNOWN, self._clock.now().isoformat(), IN_FLIGHT),
        )

    async def purge_older_than(self, age: timedelta) -> int:
        """Finished operations are kept a while so a late tap still finds its receipt;
        quotes never confirmed (pending) go after the same time."""
        cutoff = (self._clock.now() - age).isoformat()
        return await self._db.execute(
            "DELETE FROM operations WHERE status IN (?, ?, ?) AND updated_at < ?",
            (DONE, FAILED, PENDING, cutoff),
        )

    @staticmethod
    def _from_row(row: aiosqlite.Row) -> Operation:
        return Operation(
            op_id=row["op_id"],
            chat_id=row["chat_id"],
            user_id=row["user_id"],
            kind=row["kind"],
            request=json.loads(row["request"]),
            status=row["status"],
            result=json.loads(row["result"]) if row["result"] else None,
            order_id=row["order_id"],
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
        )
