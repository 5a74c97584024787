from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import aiosqlite

from core.clock import Clock
from storage.db import Database
from storage.errors import StorageError

__all__ = ["LocalOrder", "OrderRepository", "StorageError"]


@dataclass(frozen=True, slots=True)
class LocalOrder:
    order_id: str
    chat_id: int
    type: str
    status: str
    quantity: int
    country_id: int | None
    country_name: str | None
    period_id: int | None
    charged: Decimal
    expires_at: datetime | None
    created_at: datetime


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class OrderRepository:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def upsert(self, order: LocalOrder) -> None:
        """Insert or refresh; a known country name is kept when the refresh has none.

        StorageError when the chat is gone (logged out meanwhile).
        """
        try:
            await self._upsert(order)
        except sqlite3.IntegrityError as exc:
            raise StorageError(f"order {order.order_id} not saved: {exc}") from None

    async def _upsert(self, order: LocalOrder) -> None:
        await self._db.execute(
            "INSERT INTO orders (order_id, chat_id, type, status, quantity, country_id,"
            " country_name, period_id, charged, expires_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (chat_id, order_id) DO UPDATE SET status = excluded.status,"
            " quantity = excluded.quantity, country_id = excluded.country_id,"
            " country_name = COALESCE(excluded.country_name, orders.country_name),"
            " period_id = COALESCE(excluded.period_id, orders.period_id),"
            " charged = excluded.charged, expires_at = excluded.expires_at,"
            " updated_at = excluded.updated_at",
            self._row(order),
        )

    def _row(self, order: LocalOrder) -> tuple[object, ...]:
        """The INSERT's values, in the columns' order; ``updated_at`` is now."""
        return (
            order.order_id,
            order.chat_id,
            order.type,
            order.status,
            order.quantity,
            order.country_id,
            order.country_name,
            order.period_id,
            str(order.charged),
            order.expires_at.isoformat() if order.expires_at else None,
            order.created_at.isoformat(),
            self._clock.now().isoformat(),
        )

    async def add_if_absent(self, order: LocalOrder) -> bool:
        """Insert unless the chat already has the order (a sync wrote it first and knows
        more); whether it was inserted. StorageError when the chat is gone."""
        try:
            changed = await self._db.execute(
                "INSERT INTO orders (order_id, chat_id, type, status, quantity, country_id,"
                " country_name, period_id, charged, expires_at, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (chat_id, order_id) DO NOTHING",
                self._row(order),
            )
        except sqlite3.IntegrityError as exc:
            raise StorageError(f"order {order.order_id} not saved: {exc}") from None
        return changed > 0

    async def get(self, chat_id: int, order_id: str) -> LocalOrder | None:
        row = await self._db.fetchone(
            "SELECT * FROM orders WHERE chat_id = ? AND order_id = ?", (chat_id, order_id)
        )
        return self._from_row(row) if row else None

    async def forget_missing(
        self, chat_id: int, seen: Collection[str], before: datetime
    ) -> list[str]:
        """Delete the chat's orders that a complete listing of the account no longer has
        (another account's key linked since, say); returns their ids.

        Rows written at or after ``before`` (when the listing began) stay: an order placed
        while the listing ran is missing from it without being gone.
        """
        keep = set(seen)
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT order_id, updated_at FROM orders WHERE chat_id = ?", (chat_id,)
            ) as cur:
                rows = list(await cur.fetchall())
            gone = [
                row["order_id"]
                for row in rows
                if row["order_id"] not in keep
                and datetime.fromisoformat(row["updated_at"]) < before
            ]
            await conn.executemany(
                "DELETE FROM orders WHERE chat_id = ? AND order_id = ?",
                [(chat_id, order_id) for order_id in gone],
            )
        return gone

    async def list_for_chat(self, chat_id: int) -> list[LocalOrder]:
        rows = await self._db.fetchall(
            "SELECT * FROM orders WHERE chat_id = ? ORDER BY created_at DESC", (chat_id,)
        )
        return [self._from_row(row) for row in rows]

    async def expiring_soonest(
        self, chat_id: int, now: datetime, limit: int = 3
    ) -> list[LocalOrder]:
        """The chat's active orders that have not expired yet, the soonest to expire first
        (the dashboard's list; the local table only, no API call)."""
        rows = await self._db.fetchall(
            "SELECT * FROM orders WHERE chat_id = ? AND status = 'active'"
            " AND expires_at IS NOT NULL AND expires_at > ? ORDER BY expires_at LIMIT ?",
            (chat_id, now.isoformat(), limit),
        )
        return [self._from_row(row) for row in rows]

    @staticmethod
    def _from_row(row: aiosqlite.Row) -> LocalOrder:
        return LocalOrder(
            order_id=row["order_id"],
            chat_id=row["chat_id"],
            type=row["type"],
            status=row["status"],
            quantity=row["quantity"],
            country_id=row["country_id"],
            country_name=row["country_name"],
            period_id=row["period_id"],
            charged=Decimal(row["charged"]),
            expires_at=_dt(row["expires_at"]),
            created_at=datetime.fromisoformat(row["created_at"]),
        )
