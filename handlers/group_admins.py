"""Who administers a group, asked of Telegram (getChatMember) and remembered briefly.

Money in a group is spent only by its current administrators: the creator, or an
administrator with the right to manage the chat. Telegram is asked on every tap that
spends (``fresh=True``): a demotion a second ago counts. What is merely shown — Confirm or
"Request approval" on a quote — may use an answer up to ``ttl`` old (60 s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner

from core.clock import Clock
from services.errors import AdminCheckFailed
from views.best_effort import TELEGRAM_FAILURES

log = logging.getLogger(__name__)

CACHE_TTL = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class _Answer:
    is_admin: bool
    at: datetime


class GroupAdmins:
    def __init__(self, bot: Bot, clock: Clock, ttl: timedelta = CACHE_TTL) -> None:
        self._bot = bot
        self._clock = clock
        self._ttl = ttl
        self._answers: dict[tuple[int, int], _Answer] = {}

    async def is_admin(self, chat_id: int, user_id: int, *, fresh: bool = False) -> bool:
        """Whether ``user_id`` may spend the group's money; AdminCheckFailed if unknown."""
        key = (chat_id, user_id)
        now = self._clock.now()
        cached = self._answers.get(key)
        if not fresh and cached is not None and now - cached.at < self._ttl:
            return cached.is_admin
        try:
            member = await self._bot.get_chat_member(chat_id, user_id)
        except TELEGRAM_FAILURES as exc:
            log.warning("getChatMember failed for chat %s: %s", chat_id, exc)
            raise AdminCheckFailed from exc
        allowed = isinstance(member, ChatMemberOwner) or (
            isinstance(member, ChatMemberAdministrator) and member.can_manage_chat
        )
        self._answers[key] = _Answer(allowed, now)
        if len(self._answers) > 10_000:  # a bound, not a policy: drop the stale ones
            self._answers = {
                k: v for k, v in self._answers.items() if now - v.at < self._ttl
            }
        return allowed

    def forget_chat(self, chat_id: int) -> None:
        """A group moved to a new id or lost the bot: its answers mean nothing now."""
        self._answers = {k: v for k, v in self._answers.items() if k[0] != chat_id}
