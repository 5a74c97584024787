"""aiogram FSM storage on the bot's SQLite database."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey

from core.clock import Clock
from storage.db import Database


def _state_name(state: StateType) -> str | None:
    return state.state if isinstance(state, State) else state


class SQLiteStorage(BaseStorage):
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._keys = DefaultKeyBuilder(with_destiny=True, with_bot_id=True)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._db.execute(
            "INSERT INTO fsm_state (storage_key, chat_id, state, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (storage_key) DO UPDATE SET state = excluded.state,"
            " updated_at = excluded.updated_at",
            (self._keys.build(key), key.chat_id, _state_name(state), self._now()),
        )

    async def get_state(self, key: StorageKey) -> str | None:
        row = await self._db.fetchone(
            "SELECT state FROM fsm_state WHERE storage_key = ?", (self._keys.build(key),)
        )
        return row["state"] if row else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        payload = json.dumps(dict(data), ensure_ascii=False, separators=(",", ":"))
        await self._db.execute(
            "INSERT INTO fsm_state (storage_key, chat_id, data, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (storage_key) DO UPDATE SET data = excluded.data,"
            " updated_at = excluded.updated_at",
            (self._keys.build(key), key.chat_id, payload, self._now()),
        )

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await self._db.fetchone(
            "SELECT data FROM fsm_state WHERE storage_key = ?", (self._keys.build(key),)
        )
        return json.loads(row["data"]) if row else {}

    async def close(self) -> None:
        # The database is owned by the composition root, which closes it.
        return None

    def _now(self) -> str:
        return self._clock.now().isoformat()
