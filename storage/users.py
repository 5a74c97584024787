from __future__ import annotations

from core.clock import Clock
from storage.db import Database


class UserRepository:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def language(self, user_id: int) -> str | None:
        row = await self._db.fetchone("SELECT language FROM users WHERE user_id = ?", (user_id,))
        return row["language"] if row else None

    async def set_language(self, user_id: int, language: str | None) -> None:
        await self._db.execute(
            "INSERT INTO users (user_id, language, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET language = excluded.language,"
            " updated_at = excluded.updated_at",
            (user_id, language, self._clock.now().isoformat()),
        )

    async def telegram_language(self, user_id: int) -> str | None:
        row = await self._db.fetchone(
            "SELECT telegram_language FROM users WHERE user_id = ?", (user_id,)
        )
        return row["telegram_language"] if row else None

    async def remember_telegram_language(self, user_id: int, language: str) -> None:
        await self._db.execute(
            "INSERT INTO users (user_id, telegram_language, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET telegram_language = excluded.telegram_language,"
            " updated_at = excluded.updated_at",
            (user_id, language, self._clock.now().isoformat()),
        )
