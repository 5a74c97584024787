from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.clock import Clock
from storage.db import Database


@dataclass(frozen=True, slots=True)
class ChatLink:
    chat_id: int
    api_key_enc: bytes | None
    api_key_masked: str | None
    account_email: str | None
    linked_by: int | None
    linked_at: datetime | None

    @property
    def is_linked(self) -> bool:
        return self.api_key_enc is not None

    def __repr__(self) -> str:
        return f"ChatLink(chat_id={self.chat_id}, linked={self.is_linked})"


class ChatRepository:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def get(self, chat_id: int) -> ChatLink | None:
        row = await self._db.fetchone(
            "SELECT chat_id, api_key_enc, api_key_masked, account_email, linked_by, linked_at "
            "FROM chats WHERE chat_id = ?",
            (chat_id,),
        )
        if row is None:
            return None
        return ChatLink(
            chat_id=row["chat_id"],
            api_key_enc=row["api_key_enc"],
            api_key_masked=row["api_key_masked"],
            account_email=row["account_email"],
            linked_by=row["linked_by"],
            linked_at=datetime.fromisoformat(row["linked_at"]) if row["linked_at"] else None,
        )

    async def link(
        self,
        chat_id: int,
        *,
        api_key_enc: bytes,
        api_key_masked: str | None,
        account_email: str | None,
        linked_by: int | None,
    ) -> None:
        now = self._clock.now().isoformat()
        await self._db.execute(
            "INSERT INTO chats (chat_id, api_key_enc, api_key_masked, account_email, linked_by,"
            " linked_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (chat_id) DO UPDATE SET api_key_enc = excluded.api_key_enc,"
            " api_key_masked = excluded.api_key_masked, account_email = excluded.account_email,"
            " linked_by = excluded.linked_by, linked_at = excluded.linked_at",
            (chat_id, api_key_enc, api_key_masked, account_email, linked_by, now, now),
        )

    async def forget(self, chat_id: int) -> None:
        """Drop the key and everything cached for the chat (orders, operations cascade)."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM chats WHERE chat_id = ?", (chat_id,))
            await conn.execute("DELETE FROM fsm_state WHERE chat_id = ?", (chat_id,))

    async def all_linked(self) -> list[ChatLink]:
        rows = await self._db.fetchall(
            "SELECT chat_id FROM chats WHERE api_key_enc IS NOT NULL ORDER BY chat_id"
        )
        links = [await self.get(row["chat_id"]) for row in rows]
        return [link for link in links if link is not None]

    async def replace_ciphertexts(self, updates: list[tuple[int, bytes]]) -> None:
        async with self._db.transaction() as conn:
            await conn.executemany(
                "UPDATE chats SET api_key_enc = ? WHERE chat_id = ?",
                [(enc, chat_id) for chat_id, enc in updates],
            )
