"""What only groups have: link invitations, member requests, screen owners, settings.

A group is a chat like any other (its key, orders and reminders live in the same tables as
a private chat's); this module keeps what a team needs on top of that.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.clock import Clock
from storage.db import Database
from storage.errors import DuplicateRequest

# Credentials visibility in a group.
ADMINS = "admins"
EVERYONE = "all"
VISIBILITIES = (ADMINS, EVERYONE)

# Request states.
OPEN = "open"
APPROVED = "approved"
DECLINED = "declined"
EXPIRED = "expired"


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class LinkInvitation:
    token: str
    group_id: int
    group_title: str
    created_by: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ScreenOwner:
    user_id: int
    name: str


@dataclass(frozen=True, slots=True)
class GroupRequest:
    request_id: str
    chat_id: int
    requester_id: int
    requester_name: str
    op_id: str
    status: str
    message_id: int | None
    decided_by: int | None
    decided_name: str | None
    created_at: datetime
    expires_at: datetime

    @property
    def is_open(self) -> bool:
        return self.status == OPEN


class GroupRepository:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # -- settings -------------------------------------------------------------------------

    async def credentials_visibility(self, chat_id: int) -> str:
        row = await self._db.fetchone(
            "SELECT credentials_visibility FROM chats WHERE chat_id = ?", (chat_id,)
        )
        return row["credentials_visibility"] if row else ADMINS

    async def set_credentials_visibility(self, chat_id: int, visibility: str) -> bool:
        if visibility not in VISIBILITIES:
            raise ValueError(f"unknown visibility {visibility!r}")
        changed = await self._db.execute(
            "UPDATE chats SET credentials_visibility = ? WHERE chat_id = ?",
            (visibility, chat_id),
        )
        return changed == 1

    # -- link invitations -----------------------------------------------------------------

    async def invite(
        self, group_id: int, group_title: str, created_by: int, ttl: timedelta
    ) -> LinkInvitation:
        """A new single-use token for /start: 22 url-safe characters, 128 random bits."""
        token = secrets.token_urlsafe(16)
        now = self._clock.now()
        await self._db.execute(
            "INSERT INTO group_link_tokens (token, group_id, group_title, created_by,"
            " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (token, group_id, group_title, created_by, now.isoformat(),
             (now + ttl).isoformat()),
        )
        return LinkInvitation(token, group_id, group_title, created_by, now + ttl)

    async def invitation(self, token: str) -> LinkInvitation | None:
        """The invitation if it is unused and not expired; None otherwise."""
        row = await self._db.fetchone(
            "SELECT token, group_id, group_title, created_by, expires_at"
            " FROM group_link_tokens WHERE token = ? AND used_at IS NULL AND expires_at > ?",
            (token, self._clock.now().isoformat()),
        )
        if row is None:
            return None
        return LinkInvitation(
            row["token"], row["group_id"], row["group_title"], row["created_by"],
            datetime.fromisoformat(row["expires_at"]),
        )

    async def use_invitation(self, token: str, user_id: int) -> LinkInvitation | None:
        """Spend the token: exactly one caller gets the invitation, later ones None."""
        invitation = await self.invitation(token)
        if invitation is None:
            return None
        changed = await self._db.execute(
            "UPDATE group_link_tokens SET used_at = ?, used_by = ?"
            " WHERE token = ? AND used_at IS NULL",
            (self._clock.now().isoformat(), user_id, token),
        )
        return invitation if changed == 1 else None

    # -- screen owners --------------------------------------------------------------------

    async def remember_screen(self, chat_id: int, message_id: int, owner: ScreenOwner) -> None:
        await self._db.execute(
            "INSERT INTO screens (chat_id, message_id, owner_id, owner_name, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat_id, message_id) DO UPDATE SET"
            " owner_id = excluded.owner_id, owner_name = excluded.owner_name",
            (chat_id, message_id, owner.user_id, owner.name, self._clock.now().isoformat()),
        )

    async def screen_owner(self, chat_id: int, message_id: int) -> ScreenOwner | None:
        row = await self._db.fetchone(
            "SELECT owner_id, owner_name FROM screens WHERE chat_id = ? AND message_id = ?",
            (chat_id, message_id),
        )
        return ScreenOwner(row["owner_id"], row["owner_name"]) if row else None

    # -- member requests ------------------------------------------------------------------

    async def create_request(
        self,
        chat_id: int,
        requester_id: int,
        requester_name: str,
        op_id: str,
        ttl: timedelta,
    ) -> GroupRequest:
        """A new open request; DuplicateRequest if the quote has one open already."""
        request_id = secrets.token_hex(8)
        now = self._clock.now()
        try:
            await self._db.execute(
                "INSERT INTO group_requests (request_id, chat_id, requester_id,"
                " requester_name, op_id, status, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (request_id, chat_id, requester_id, requester_name, op_id, OPEN,
                 now.isoformat(), (now + ttl).isoformat()),
            )
        except sqlite3.IntegrityError as exc:
            # The partial unique index: another tap (any process) opened it first.
            raise DuplicateRequest(op_id) from exc
        request = await self.request(request_id)
        assert request is not None
        return request

    async def request(self, request_id: str) -> GroupRequest | None:
        row = await self._db.fetchone(
            "SELECT * FROM group_requests WHERE request_id = ?", (request_id,)
        )
        return _request(row) if row else None

    async def open_request_for_op(self, op_id: str) -> GroupRequest | None:
        row = await self._db.fetchone(
            "SELECT * FROM group_requests WHERE op_id = ? AND status = ?", (op_id, OPEN)
        )
        return _request(row) if row else None

    async def set_request_message(self, request_id: str, message_id: int) -> None:
        await self._db.execute(
            "UPDATE group_requests SET message_id = ? WHERE request_id = ?",
            (message_id, request_id),
        )

    async def requote_request(self, request_id: str, op_id: str) -> bool:
        """The request now stands for a new quote (the old one was too old to buy at)."""
        changed = await self._db.execute(
            "UPDATE group_requests SET op_id = ? WHERE request_id = ? AND status = ?",
            (op_id, request_id, OPEN),
        )
        return changed == 1

    async def decide(
        self, request_id: str, status: str, by: int | None = None, name: str | None = None
    ) -> bool:
        """Close an open request; True only for the one caller that closed it."""
        changed = await self._db.execute(
            "UPDATE group_requests SET status = ?, decided_by = ?, decided_name = ?,"
            " decided_at = ? WHERE request_id = ? AND status = ?",
            (status, by, name, self._clock.now().isoformat(), request_id, OPEN),
        )
        return changed == 1

    async def expired_requests(self) -> list[GroupRequest]:
        """Open requests past their time, oldest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM group_requests WHERE status = ? AND expires_at <= ?"
            " ORDER BY expires_at",
            (OPEN, self._clock.now().isoformat()),
        )
        return [_request(row) for row in rows]

    async def purge_older_than(self, age: timedelta) -> int:
        """Forget used or expired invitations and screens older than ``age``."""
        cutoff = (self._clock.now() - age).isoformat()
        async with self._db.transaction() as conn:
            tokens = await conn.execute(
                "DELETE FROM group_link_tokens WHERE created_at < ?", (cutoff,)
            )
            screens = await conn.execute("DELETE FROM screens WHERE created_at < ?", (cutoff,))
            return tokens.rowcount + screens.rowcount


def _request(row) -> GroupRequest:
    return GroupRequest(
        request_id=row["request_id"],
        chat_id=row["chat_id"],
        requester_id=row["requester_id"],
        requester_name=row["requester_name"],
        op_id=row["op_id"],
        status=row["status"],
        message_id=row["message_id"],
        decided_by=row["decided_by"],
        decided_name=row["decided_name"],
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
    )
