"""The bot's own membership in a chat (`my_chat_member`): blocked, removed, back again;
and a group that became a supergroup (a new chat id for everything kept for it).

Telegram sends it when a person blocks or unblocks the bot (kicked ↔ member in their
private chat) and when a group removes or re-adds it. Nothing is answered: a chat that
blocked the bot cannot be written to, and a group that re-added it asks with /start.
"""

from __future__ import annotations

from typing import Protocol

from aiogram import F, Router
from aiogram.filters import IS_MEMBER, IS_NOT_MEMBER, ChatMemberUpdatedFilter
from aiogram.types import ChatMemberUpdated, Message

from services.membership import ChatMembership


class Replanner(Protocol):
    """The part of the reminder service this module needs (services/reminders.py)."""

    async def plan_chat(self, chat_id: int) -> int: ...


async def bot_left(event: ChatMemberUpdated, membership: ChatMembership) -> None:
    why = "blocked the bot" if event.chat.type == "private" else "removed the bot"
    await membership.lost(event.chat.id, why)


async def bot_back(
    event: ChatMemberUpdated, membership: ChatMembership, reminders: Replanner | None = None
) -> None:
    known = await membership.regained(event.chat.id)
    # While the chat was away its reminders were neither planned nor sent: plan them anew.
    # Optional in the workflow data, so this module works without the reminder service.
    if known and reminders is not None:
        await reminders.plan_chat(event.chat.id)


async def group_migrated(message: Message, membership: ChatMembership) -> None:
    # The service message arrives in both chats: the old one names the new id, the new one
    # the old id. Whichever comes first moves everything; the other finds nothing to move.
    if message.migrate_to_chat_id is not None:
        await membership.moved(message.chat.id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id is not None:
        await membership.moved(message.migrate_from_chat_id, message.chat.id)


def setup() -> Router:
    router = Router(name=__name__)
    # IS_MEMBER: creator, administrator, member, restricted but still a member.
    # A promotion (member → administrator) matches neither transition and is ignored.
    router.my_chat_member.register(bot_left, ChatMemberUpdatedFilter(IS_MEMBER >> IS_NOT_MEMBER))
    router.my_chat_member.register(bot_back, ChatMemberUpdatedFilter(IS_NOT_MEMBER >> IS_MEMBER))
    # A group upgraded to a supergroup (service messages; delivered even in privacy mode).
    router.message.register(
        group_migrated, F.migrate_to_chat_id | F.migrate_from_chat_id
    )
    return router
