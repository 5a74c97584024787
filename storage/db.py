"""One aiosqlite connection with the PRAGMAs we rely on, and ordered migrations."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TypeVar

import aiosqlite

from core.files import create_private_file, make_private_dir, warn_if_exposed

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def _migrations() -> list[tuple[int, str]]:
    """Migrations are files `NNNN_name.sql`, applied in number order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        # One connection is shared; explicit transactions must not interleave on it.
        self._tx_lock = asyncio.Lock()
        # Told when a chat's rows were deleted or moved wholesale (logout, a group that
        # became a supergroup), so in-memory copies of them (the FSM cache) are dropped.
        self._chat_dropped: list[Callable[[int], None]] = []

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not connected")
        return self._conn

    async def connect(self) -> None:
        on_disk = str(self.path) != ":memory:"
        if on_disk:
            make_private_dir(self.path.parent)
            create_private_file(self.path)
        # Autocommit mode: single statements commit at once, transactions are explicit.
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        self._conn.row_factory = aiosqlite.Row
        await self._conn.execute("PRAGMA journal_mode=WAL")
        await self._conn.execute("PRAGMA foreign_keys=ON")
        await self._conn.execute("PRAGMA busy_timeout=5000")
        await self._conn.execute("PRAGMA synchronous=NORMAL")
        await self.migrate()
        if on_disk:
            # After the migration, so -wal and -shm exist and are checked too.
            warn_if_exposed([self.path.parent, *self.files()])

    def files(self) -> list[Path]:
        """The database file and its WAL companions."""
        return [self.path, *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm"))]

    async def migrate(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
        for version, sql in _migrations():
            if version <= current:
                continue
            log.info("applying database migration %04d", version)
            async with self._tx_lock:
                await self.conn.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version={version};\nCOMMIT;"
                )
            current = version
        return current

    def on_chat_dropped(self, listener: Callable[[int], None]) -> None:
        self._chat_dropped.append(listener)

    def chat_dropped(self, chat_id: int) -> None:
        """Call after a committed change that deleted or moved a chat's rows."""
        for listener in self._chat_dropped:
            listener(chat_id)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._tx_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    # Reads take the lock too: on the one shared connection, a read interleaved with another
    # coroutine's open transaction would see its uncommitted (maybe rolled back) writes.
    async def fetchone(self, sql: str, params: tuple = ()) -> sqlite3.Row | None:
        async with self._tx_lock:
            return await self._on_thread(lambda raw: raw.execute(sql, params).fetchone())

    async def fetchall(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        async with self._tx_lock:
            return await self._on_thread(lambda raw: raw.execute(sql, params).fetchall())

    async def execute(self, sql: str, params: tuple = ()) -> int:
        """Run one statement under the transaction lock; returns rows changed."""
        async with self._tx_lock:
            return await self._on_thread(lambda raw: raw.execute(sql, params).rowcount)

    async def _on_thread(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work` on aiosqlite's thread in one hop.

        aiosqlite's cursor API costs a hop to its thread per call — execute, fetch and close
        are three, each waking the event loop from the other thread — and these three
        methods serve every update (FSM writes, screen owners, the dashboard): one hop
        instead of three cut a read's CPU from ~130 to ~45 µs. `_execute` and `_conn` are
        aiosqlite's private parts, hence its pinned range in pyproject.toml;
        tests/test_storage.py fails if they move. The cursor is made and dropped on that
        thread.
        """
        conn = self.conn
        return await conn._execute(work, conn._conn)
