"""Databases generated directly: the bot's migrations, then bulk inserts.

Going through the bot (a purchase per order) would take hours for 100,000 orders; the rows
are written in the forms the repositories write them (`storage.reminders.iso` for times
compared in SQL), so the bot reads them as its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.security import KeyVault
from sandbox.server import SandboxServer
from storage.db import Database
from storage.reminders import iso

# The bot's default REMINDER_OFFSETS (3 days, 1 day, 3 hours), in seconds.
OFFSETS = (3 * 86400, 86400, 3 * 3600)
ORDERS_PER_CHAT = 10


def _later(stamp: str, chat_id: int) -> str:
    """A next deposit poll spread over the next ten minutes (the default sync interval)."""
    return iso(datetime.fromisoformat(stamp) + timedelta(seconds=60 + chat_id * 7919 % 540))


async def migrate(path: Path) -> None:
    """An empty database at the current schema, created by the bot's own migrations."""
    db = Database(path)
    await db.connect()
    await db.close()


def _insert(path: Path, chats: list[tuple], orders: list[tuple], reminders: list[tuple]) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            # Synced and deposit-watched lately, as in a bot that has been running: the
            # order sync and the deposit watch go on at their usual pace, not all at once.
            conn.executemany(
                "INSERT INTO chats (chat_id, api_key_enc, api_key_masked, account_email,"
                " linked_by, linked_at, created_at, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(*c, c[5]) for c in chats])
            conn.executemany(
                "INSERT INTO deposit_watch (chat_id, since, next_poll_at, updated_at)"
                " VALUES (?, ?, ?, ?)",
                [(c[0], c[5], _later(c[5], c[0]), c[5]) for c in chats])
            conn.executemany(
                "INSERT INTO users (user_id, telegram_language, updated_at) VALUES (?, 'en', ?)",
                [(c[0], c[5]) for c in chats])
            conn.executemany(
                "INSERT INTO orders (order_id, chat_id, type, status, quantity, country_id,"
                " country_name, period_id, charged, expires_at, created_at, updated_at)"
                " VALUES (?, ?, 'ipv4', 'active', 5, 1, 'United States', 1, '6.25', ?, ?, ?)",
                orders)
            conn.executemany(
                "INSERT INTO reminders (chat_id, order_id, expires_at, offset_seconds, due_at,"
                " state, created_at) VALUES (?, ?, ?, ?, ?, 'planned', ?)", reminders)
    finally:
        conn.close()


async def stored_orders(path: Path, vault: KeyVault, count: int, api_key: str) -> None:
    """``count`` active orders (10 per chat, each chat linked) with their three planned
    reminders each, all in the future: the state of a bot that has sold for a while."""
    await migrate(path)
    now = datetime.now(UTC)
    stamp = now.isoformat()
    chats, orders, reminders = [], [], []
    key = vault.encrypt(api_key)
    for n in range(count):
        chat_id = 10_000_000 + n // ORDERS_PER_CHAT
        if n % ORDERS_PER_CHAT == 0:
            chats.append((chat_id, key, "sk_…", f"c{chat_id}@example.com", chat_id, stamp, stamp))
        order_id = f"cmbench{n:018d}"
        # Spread over the next 30 days, so the reminders' due times are spread as well.
        expires = now + timedelta(days=4, seconds=(n * 7919) % (26 * 86400))
        orders.append((order_id, chat_id, expires.isoformat(), stamp, stamp))
        reminders.extend(
            (chat_id, order_id, iso(expires), s, iso(expires - timedelta(seconds=s)), iso(now))
            for s in OFFSETS
        )
    await asyncio.to_thread(_insert, path, chats, orders, reminders)


async def due_reminders(
    path: Path, vault: KeyVault, sandbox: SandboxServer, count: int
) -> list[int]:
    """``count`` chats, each with its own account, one order at the sandbox and one reminder
    (3 hours before expiry) due a minute ago; the chat ids."""
    await migrate(path)
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = now.isoformat()
    # Whole seconds: the API's and the database's copies of the expiry compare equal.
    expires = now + timedelta(hours=3) - timedelta(minutes=1)
    chats, orders, reminders, ids = [], [], [], []
    state = sandbox.state
    for n in range(count):
        chat_id = 20_000_000 + n
        account = state.create_account(f"fan{chat_id}@example.com", balance="1000.00")
        receipt = await state.create_order(
            account, {"type": "ipv4", "countryId": 1, "periodId": 1, "quantity": 5}
        )
        order = state.set_order(receipt.order_id, expires_at=expires, status="active")
        chats.append((chat_id, vault.encrypt(account.api_key), "sk_…", account.email, chat_id,
                      stamp, stamp))
        orders.append((order.id, chat_id, expires.isoformat(), stamp, stamp))
        reminders.append((chat_id, order.id, iso(expires), OFFSETS[2],
                          iso(expires - timedelta(seconds=OFFSETS[2])), iso(now)))
        ids.append(chat_id)
    await asyncio.to_thread(_insert, path, chats, orders, reminders)
    return ids


__all__ = ["due_reminders", "migrate", "stored_orders"]
