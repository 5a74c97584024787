from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.clock import Clock
from storage.db import Database

# Chat links kept in memory; past it the cache starts over (one read each).
_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class ChatLink:
    chat_id: int
    api_key_enc: bytes | None
    api_key_masked: str | None
    account_email: str | None
    linked_by: int | None
    linked_at: datetime | None
    # False once the chat blocked the bot or removed it from the group (403 on a send, or
    # a my_chat_member update): nothing scheduled goes there until it is back.
    active: bool = True

    @property
    def is_linked(self) -> bool:
        return self.api_key_enc is not None

    def __repr__(self) -> str:
        return (
            f"ChatLink(chat_id={self.chat_id}, linked={self.is_linked}, active={self.active})"
        )


@dataclass(frozen=True, slots=True)
class ChatStatus:
    """What scheduled work (order sync, reminders) needs to know about a chat."""

    chat_id: int
    linked: bool
    active: bool  # False: the bot was blocked or removed; nothing is sent there
    synced_at: datetime | None
    key_revoked_at: datetime | None  # the API refused the key; sync stopped until relinked


class ChatRepository:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        # The links read lately. This repository is the only writer of their fields, and
        # one process runs the bot, so its copy is the truth; see `get` and `_changed`.
        self._links: dict[int, ChatLink] = {}
        self._generation = 0

    async def get(self, chat_id: int) -> ChatLink | None:
        # Every handler that needs the chat's key reads it, some several times per update.
        cached = self._links.get(chat_id)
        if cached is not None:
            return cached
        generation = self._generation
        link = await self._read(chat_id)
        # Not cached when a write to chats ran meanwhile (it may not be in what we read).
        # Absent chats are not cached: other tables' code may create a bare row.
        if link is not None and generation == self._generation:
            if len(self._links) >= _CACHE_SIZE:
                self._links.clear()
            self._links[chat_id] = link
        return link

    async def _read(self, chat_id: int) -> ChatLink | None:
        row = await self._db.fetchone(
            "SELECT chat_id, api_key_enc, api_key_masked, account_email, linked_by, linked_at,"
            " active FROM chats WHERE chat_id = ?",
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
            active=bool(row["active"]),
        )

    def _changed(self, *chat_ids: int) -> None:
        """Before and after every write of the fields of `ChatLink`: drop the copies."""
        self._generation += 1
        if chat_ids:
            for chat_id in chat_ids:
                self._links.pop(chat_id, None)
        else:
            self._links.clear()

    async def set_active(self, chat_id: int, active: bool) -> bool:
        """Whether the bot can reach the chat; False if the chat is unknown here (never
        linked: nothing is scheduled for it, so there is nothing to stop or resume)."""
        self._changed(chat_id)
        try:
            changed = await self._db.execute(
                "UPDATE chats SET active = ? WHERE chat_id = ?", (int(active), chat_id)
            )
        finally:
            self._changed(chat_id)
        return changed == 1

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
        self._changed(chat_id)
        try:
            await self._link(chat_id, api_key_enc, api_key_masked, account_email, linked_by, now)
        finally:
            self._changed(chat_id)

    async def _link(
        self,
        chat_id: int,
        api_key_enc: bytes,
        api_key_masked: str | None,
        account_email: str | None,
        linked_by: int | None,
        now: str,
    ) -> None:
        await self._db.execute(
            "INSERT INTO chats (chat_id, api_key_enc, api_key_masked, account_email, linked_by,"
            " linked_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (chat_id) DO UPDATE SET api_key_enc = excluded.api_key_enc,"
            " api_key_masked = excluded.api_key_masked, account_email = excluded.account_email,"
            " linked_by = excluded.linked_by, linked_at = excluded.linked_at,"
            # A (re)linked key was just checked against the API: order sync starts again.
            " key_revoked_at = NULL",
            (chat_id, api_key_enc, api_key_masked, account_email, linked_by, now, now),
        )

    async def forget(self, chat_id: int) -> None:
        """Drop the key and everything cached for the chat (orders, operations cascade)."""
        self._changed(chat_id)
        try:
            async with self._db.transaction() as conn:
                await conn.execute("DELETE FROM chats WHERE chat_id = ?", (chat_id,))
                await conn.execute("DELETE FROM fsm_state WHERE chat_id = ?", (chat_id,))
        finally:
            self._changed(chat_id)
        self._db.chat_dropped(chat_id)

    async def unlink(self, chat_id: int) -> bool:
        """Clear the key and who linked it, keeping everything else of the chat (orders,
        paid actions, settings): a group's /unlink. True if a key was linked."""
        self._changed(chat_id)
        try:
            changed = await self._db.execute(
                "UPDATE chats SET api_key_enc = NULL, api_key_masked = NULL,"
                " account_email = NULL, linked_by = NULL, linked_at = NULL,"
                " key_revoked_at = NULL WHERE chat_id = ? AND api_key_enc IS NOT NULL",
                (chat_id,),
            )
        finally:
            self._changed(chat_id)
        return changed == 1

    async def all_linked(self) -> list[ChatLink]:
        rows = await self._db.fetchall(
            "SELECT chat_id FROM chats WHERE api_key_enc IS NOT NULL ORDER BY chat_id"
        )
        # Read past the cache: a sweep over every chat would only evict the busy ones.
        links = [await self._read(row["chat_id"]) for row in rows]
        return [link for link in links if link is not None]

    async def replace_ciphertexts(self, updates: list[tuple[int, bytes]]) -> None:
        self._changed()
        try:
            async with self._db.transaction() as conn:
                await conn.executemany(
                    "UPDATE chats SET api_key_enc = ? WHERE chat_id = ?",
                    [(enc, chat_id) for chat_id, enc in updates],
                )
        finally:
            self._changed()

    # -- order sync -------------------------------------------------------------------

    async def status(self, chat_id: int) -> ChatStatus | None:
        row = await self._db.fetchone(
            "SELECT chat_id, api_key_enc IS NOT NULL AS linked, active, synced_at,"
            " key_revoked_at FROM chats WHERE chat_id = ?",
            (chat_id,),
        )
        if row is None:
            return None
        return ChatStatus(
            chat_id=row["chat_id"],
            linked=bool(row["linked"]),
            active=bool(row["active"]),
            synced_at=datetime.fromisoformat(row["synced_at"]) if row["synced_at"] else None,
            key_revoked_at=(
                datetime.fromisoformat(row["key_revoked_at"]) if row["key_revoked_at"] else None
            ),
        )

    async def sync_targets(self) -> list[ChatStatus]:
        """Chats whose orders are synced: linked, active, key not found revoked."""
        rows = await self._db.fetchall(
            "SELECT chat_id FROM chats WHERE api_key_enc IS NOT NULL AND active = 1"
            " AND key_revoked_at IS NULL ORDER BY chat_id"
        )
        found = [await self.status(row["chat_id"]) for row in rows]
        return [status for status in found if status is not None]

    async def mark_synced(self, chat_id: int) -> None:
        await self._db.execute(
            "UPDATE chats SET synced_at = ? WHERE chat_id = ?",
            (self._clock.now().isoformat(), chat_id),
        )

    async def mark_key_revoked(self, chat_id: int) -> bool:
        """Record that the API refused the chat's key; True only the first time (the chat
        is told once), False when it was marked already or the chat has no key."""
        changed = await self._db.execute(
            "UPDATE chats SET key_revoked_at = ? WHERE chat_id = ?"
            " AND key_revoked_at IS NULL AND api_key_enc IS NOT NULL",
            (self._clock.now().isoformat(), chat_id),
        )
        return changed == 1

    # -- groups -----------------------------------------------------------------------------

    async def move(self, old_chat_id: int, new_chat_id: int) -> bool:
        """See `_move`."""
        self._changed(old_chat_id, new_chat_id)
        try:
            return await self._move(old_chat_id, new_chat_id)
        finally:
            self._changed(old_chat_id, new_chat_id)

    async def _move(self, old_chat_id: int, new_chat_id: int) -> bool:
        """A group became a supergroup (a new chat id): carry over everything kept for it —
        the key, settings, orders, paid actions, planned reminders, queued messages,
        deposits and requests. True if there was anything to carry.

        Screens and half-finished wizards stay behind: their messages are in the old chat,
        which Telegram no longer lets anyone write to.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute("SELECT 1 FROM chats WHERE chat_id = ?", (old_chat_id,))
            if await cursor.fetchone() is None:
                return False
            # Foreign keys are checked at commit, once every table points at the new id.
            await conn.execute("PRAGMA defer_foreign_keys = ON")
            # A /start in the new supergroup before the move may have made an empty row.
            await conn.execute(
                "DELETE FROM chats WHERE chat_id = ? AND api_key_enc IS NULL", (new_chat_id,)
            )
            for table in _CHAT_TABLES:
                await conn.execute(
                    f"UPDATE {table} SET chat_id = ? WHERE chat_id = ?",
                    (new_chat_id, old_chat_id),
                )
            await conn.execute(
                "UPDATE group_link_tokens SET group_id = ? WHERE group_id = ?",
                (new_chat_id, old_chat_id),
            )
            await conn.execute("DELETE FROM fsm_state WHERE chat_id = ?", (old_chat_id,))
            await conn.execute("DELETE FROM screens WHERE chat_id = ?", (old_chat_id,))
        self._db.chat_dropped(old_chat_id)
        return True


# Every table whose rows belong to one chat and follow it to a new id.
_CHAT_TABLES = (
    "chats",
    "orders",
    "operations",
    "reminders",
    "order_mutes",
    "outbox",
    "deposit_watch",
    "deposits_seen",
    "group_requests",
)
