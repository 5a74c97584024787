"""Paid actions, recorded before the request leaves the process.

Life of an operation: ``pending`` (recorded, not yet sent) → ``in_flight`` (one worker
claimed it; ``sent_at`` is set right before the request leaves) → ``done`` (result
stored) or ``failed``, or back to ``pending`` when an answer proves nothing happened.
``unknown`` means the request may have reached the provider and its answer was lost;
only the runner's resolution rules (services/paid.py) take it out of that state.

A claim is one transaction: the chat must have no other operation in flight or unknown
(one chat, at most one paid action at the provider), and the operation must be in a
claimable state. A process that dies leaves its claims ``in_flight``; start-up recovery
turns the ones never sent back to ``pending`` and the sent ones into ``unknown``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from core.clock import Clock
from storage.db import Database

PENDING = "pending"
IN_FLIGHT = "in_flight"
DONE = "done"
FAILED = "failed"
UNKNOWN = "unknown"
# Statuses in which an operation may be at the provider without its outcome being known.
OPEN = (IN_FLIGHT, UNKNOWN)


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
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    owner: str | None = None
    message_id: int | None = None


class ChatBusy(Exception):
    """Another paid action of the chat is in flight or unresolved: settle it first."""

    def __init__(self, other: Operation) -> None:
        super().__init__("another paid action of this chat is open")
        self.other = other


@dataclass(frozen=True, slots=True)
class Interrupted:
    """What start-up found of a process that is gone."""

    never_sent: list[Operation]  # back to pending: nothing reached the provider
    maybe_sent: list[Operation]  # now unknown: to be resolved


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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

    async def claim(
        self,
        op_id: str,
        owner: str,
        from_statuses: tuple[str, ...] = (PENDING,),
        message_id: int | None = None,
    ) -> str | None:
        """Move to in_flight for ``owner``; the status it was claimed from, or None.

        None: the operation is not in one of ``from_statuses`` (someone else has it, or
        it settled meanwhile). Raises ChatBusy when another operation of the same chat is
        in flight or unknown — checked in the same transaction as the claim.
        """
        now = self._clock.now().isoformat()
        marks = ",".join("?" for _ in from_statuses)
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT chat_id, status FROM operations WHERE op_id = ?", (op_id,)
            ) as cur:
                row = await cur.fetchone()
            if row is None or row["status"] not in from_statuses:
                return None
            async with conn.execute(
                "SELECT * FROM operations WHERE chat_id = ? AND op_id != ? AND status IN (?, ?)"
                " ORDER BY created_at LIMIT 1",
                (row["chat_id"], op_id, *OPEN),
            ) as cur:
                other = await cur.fetchone()
            if other is not None:
                raise ChatBusy(self._from_row(other))
            cur = await conn.execute(
                # A claim from unknown keeps sent_at: when the request first left matters to
                # the investigation, and a resend sets it anew.
                f"UPDATE operations SET status = ?, claimed_at = ?, owner = ?,"
                f" sent_at = CASE WHEN status = '{PENDING}' THEN NULL ELSE sent_at END,"
                f" message_id = COALESCE(?, message_id), updated_at = ?"
                f" WHERE op_id = ? AND status IN ({marks})",
                (IN_FLIGHT, now, owner, message_id, now, op_id, *from_statuses),
            )
            changed = cur.rowcount
            await cur.close()
        return row["status"] if changed == 1 else None

    async def mark_sent(self, op_id: str, notes: dict[str, Any] | None = None) -> None:
        """From now on the request may reach the provider: a lost answer means unknown.

        ``notes``: what the action recorded right before sending (kept in ``result``).
        """
        now = self._clock.now().isoformat()
        await self._db.execute(
            "UPDATE operations SET sent_at = ?, result = COALESCE(?, result), updated_at = ?"
            " WHERE op_id = ? AND status = ?",
            (now, json.dumps(notes) if notes is not None else None, now, op_id, IN_FLIGHT),
        )

    async def finish(
        self,
        op_id: str,
        status: str,
        result: dict[str, Any] | None = None,
        order_id: str | None = None,
    ) -> None:
        """Settle (done/failed), release (pending) or leave unresolved (unknown)."""
        await self._db.execute(
            "UPDATE operations SET status = ?, result = COALESCE(?, result),"
            " order_id = COALESCE(?, order_id), updated_at = ? WHERE op_id = ?",
            (
                status,
                json.dumps(result) if result is not None else None,
                order_id,
                self._clock.now().isoformat(),
                op_id,
            ),
        )

    async def fail_pending(self, op_id: str, result: dict[str, Any]) -> bool:
        """End a quote that was never sent (superseded, bought on another account)."""
        changed = await self._db.execute(
            "UPDATE operations SET status = ?, result = ?, updated_at = ?"
            " WHERE op_id = ? AND status = ?",
            (FAILED, json.dumps(result), self._clock.now().isoformat(), op_id, PENDING),
        )
        return changed == 1

    async def set_message(self, op_id: str, message_id: int) -> None:
        await self._db.execute(
            "UPDATE operations SET message_id = ? WHERE op_id = ?", (message_id, op_id)
        )

    async def open_for_chat(self, chat_id: int) -> Operation | None:
        """The chat's operation that may be at the provider (in flight or unknown)."""
        row = await self._db.fetchone(
            "SELECT * FROM operations WHERE chat_id = ? AND status IN (?, ?)"
            " ORDER BY created_at DESC LIMIT 1",
            (chat_id, *OPEN),
        )
        return self._from_row(row) if row else None

    async def unknown(self) -> list[Operation]:
        """Every operation whose outcome is still to be found out, oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM operations WHERE status = ? ORDER BY created_at", (UNKNOWN,)
        )
        return [self._from_row(row) for row in rows]

    async def order_ids(self, kind: str) -> set[str]:
        """Order ids that operations of ``kind`` already settled as theirs."""
        rows = await self._db.fetchall(
            "SELECT order_id FROM operations WHERE kind = ? AND status = ?"
            " AND order_id IS NOT NULL",
            (kind, DONE),
        )
        return {row["order_id"] for row in rows}

    async def done_for_order(self, kind: str, order_id: str) -> list[Operation]:
        rows = await self._db.fetchall(
            "SELECT * FROM operations WHERE kind = ? AND order_id = ? AND status = ?",
            (kind, order_id, DONE),
        )
        return [self._from_row(row) for row in rows]

    async def recover_interrupted(self, owner: str) -> Interrupted:
        """At start-up: claims of other process instances belong to a process that is gone.

        One process per database today; replicas sharing PostgreSQL will need a lease
        (claimed_at + heartbeat) here instead of "every other owner is dead".
        """
        now = self._clock.now().isoformat()
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT * FROM operations WHERE status = ? AND COALESCE(owner, '') != ?",
                (IN_FLIGHT, owner),
            ) as cur:
                rows = [self._from_row(row) for row in await cur.fetchall()]
            never = [op for op in rows if op.sent_at is None]
            maybe = [op for op in rows if op.sent_at is not None]
            for op in never:
                await conn.execute(
                    "UPDATE operations SET status = ?, owner = NULL, updated_at = ?"
                    " WHERE op_id = ?",
                    (PENDING, now, op.op_id),
                )
            for op in maybe:
                await conn.execute(
                    "UPDATE operations SET status = ?, updated_at = ? WHERE op_id = ?",
                    (UNKNOWN, now, op.op_id),
                )
        return Interrupted(never, maybe)

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
            claimed_at=_dt(row["claimed_at"]),
            sent_at=_dt(row["sent_at"]),
            owner=row["owner"],
            message_id=row["message_id"],
        )
