"""Per-user preferences. The chosen language is read on every update (the language
middleware), so it is kept in memory: this repository is the only writer of the table, and
one process polls, so its copy is the truth; SQLite keeps it across restarts."""

from __future__ import annotations

from core.clock import Clock
from storage.db import Database

# Users whose choice is kept in memory; past it the cache starts over (one read each).
_CACHE_SIZE = 10_000
_MISSING = object()


class UserRepository:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._languages: dict[int, str | None] = {}

    async def language(self, user_id: int) -> str | None:
        cached = self._languages.get(user_id, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        row = await self._db.fetchone("SELECT language FROM users WHERE user_id = ?", (user_id,))
        language = row["language"] if row else None
        if len(self._languages) >= _CACHE_SIZE:
            self._languages.clear()
        # A set_language meanwhile wins: it is newer than this read.
        self._languages.setdefault(user_id, language)
        return language

    async def set_language(self, user_id: int, language: str | None) -> None:
        # Memory first, with no await in between, so it follows the order of the writes.
        self._languages[user_id] = language
        try:
            await self._db.execute(
                "INSERT INTO users (user_id, language, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET language = excluded.language,"
                " updated_at = excluded.updated_at",
                (user_id, language, self._clock.now().isoformat()),
            )
        except BaseException:
            self._languages.pop(user_id, None)  # unknown now: read it again
            raise

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
