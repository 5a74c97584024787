"""Whether the bot can still reach a chat.

A person who blocks the bot, or a group that removes it, is *inactive*: nothing scheduled
is sent there (the sender would only collect 403s) until the chat is back — the person
pressed Start again, the group re-added the bot. Telegram says so with a `my_chat_member`
update (handlers/membership.py); the outbox sender also finds out by itself when a send
is refused with 403 (bot/sender.py). Both end here, so both do the same thing.
"""

from __future__ import annotations

import logging

from storage.chats import ChatRepository
from storage.outbox import OutboxRepository

log = logging.getLogger(__name__)


class ChatMembership:
    def __init__(self, chats: ChatRepository, outbox: OutboxRepository) -> None:
        self._chats = chats
        self._outbox = outbox

    async def lost(self, chat_id: int, why: str) -> int:
        """The bot can no longer write to the chat: mark it inactive and drop what was
        queued for it (it would go out days later, out of date, if the chat came back).
        Returns how many queued messages were dropped."""
        known = await self._chats.set_active(chat_id, False)
        dropped = await self._outbox.drop_chat(chat_id)
        log.info("chat %s is inactive (%s)%s; %d queued message(s) dropped",
                 chat_id, why, "" if known else ", not linked here", dropped)
        return dropped

    async def regained(self, chat_id: int) -> bool:
        """The chat is reachable again; False if it is unknown here (never linked)."""
        known = await self._chats.set_active(chat_id, True)
        log.info("chat %s is active again%s", chat_id, "" if known else " (not linked here)")
        return known

    async def moved(self, old_chat_id: int, new_chat_id: int) -> bool:
        """A group became a supergroup: its link, orders, settings, planned reminders and
        queued messages go on under the new id. Telegram says so twice (a service message
        in each chat) and a send to the old id says so again: only the first one moves
        anything; True if it did."""
        moved = await self._chats.move(old_chat_id, new_chat_id)
        if moved:
            log.info("chat %s is now supergroup %s; everything kept for it moved",
                     old_chat_id, new_chat_id)
        return moved
