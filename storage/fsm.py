"""aiogram FSM storage on the bot's SQLite database, with a write-through cache.

Every update reads its chat's state (aiogram's FSM middleware) and many handlers clear it
(`state.clear()` is two writes), so without a cache a menu tap cost three SQLite round trips
through aiosqlite's thread before any work was done. Only one process polls a bot
(Telegram refuses a second getUpdates), so this process's copy is the truth for the FSM:
reads are served from memory, and a write that changes nothing is not written. SQLite
stays the durable copy (a restart reads it back); rows deleted behind the cache's back
(logout, a group moved to a supergroup: `Database.chat_dropped`) empty the cache.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey

from core.clock import Clock
from storage.db import Database

# Chats whose state is kept in memory; the least recently used are read again when needed.
CACHE_SIZE = 10_000
_EMPTY = "{}"


def _state_name(state: StateType) -> str | None:
    return state.state if isinstance(state, State) else state


class _Entry:
    __slots__ = ("data", "state")

    def __init__(self, state: str | None, data: str) -> None:
        self.state = state
        self.data = data  # JSON, so callers never share (and mutate) the cached object


class SQLiteStorage(BaseStorage):
    def __init__(self, db: Database, clock: Clock, cache_size: int = CACHE_SIZE) -> None:
        self._db = db
        self._clock = clock
        self._keys = DefaultKeyBuilder(with_destiny=True, with_bot_id=True)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._cache_size = cache_size
        db.on_chat_dropped(lambda _chat_id: self._cache.clear())

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name = _state_name(state)
        built = self._keys.build(key)
        entry = await self._entry(built)
        if entry.state == name:
            return
        # The cache first, with no await in between: concurrent writes to one key then
        # reach memory in the order they reach the database (its lock is FIFO).
        entry.state = name
        await self._write(
            built,
            "INSERT INTO fsm_state (storage_key, chat_id, state, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (storage_key) DO UPDATE SET state = excluded.state,"
            " updated_at = excluded.updated_at",
            (built, key.chat_id, name, self._now()),
        )

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._entry(self._keys.build(key))).state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        payload = json.dumps(dict(data), ensure_ascii=False, separators=(",", ":"))
        built = self._keys.build(key)
        entry = await self._entry(built)
        if entry.data == payload:
            return
        entry.data = payload
        await self._write(
            built,
            "INSERT INTO fsm_state (storage_key, chat_id, data, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (storage_key) DO UPDATE SET data = excluded.data,"
            " updated_at = excluded.updated_at",
            (built, key.chat_id, payload, self._now()),
        )

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return json.loads((await self._entry(self._keys.build(key))).data)

    async def close(self) -> None:
        # The database is owned by the composition root, which closes it.
        return None

    async def _entry(self, built: str) -> _Entry:
        entry = self._cache.get(built)
        if entry is not None:
            self._cache.move_to_end(built)
            return entry
        row = await self._db.fetchone(
            "SELECT state, data FROM fsm_state WHERE storage_key = ?", (built,)
        )
        # Read meanwhile by another update of the same chat: keep the one already there.
        entry = self._cache.get(built)
        if entry is None:
            entry = _Entry(row["state"] if row else None, (row["data"] if row else None) or _EMPTY)
            self._cache[built] = entry
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return entry

    async def _write(self, built: str, sql: str, params: tuple) -> None:
        try:
            await self._db.execute(sql, params)
        except BaseException:
            # Not written (or not known to be): read it back from the database next time.
            self._cache.pop(built, None)
            raise

    def _now(self) -> str:
        return self._clock.now().isoformat()
