"""What the bot keeps for a group beyond its key: who sees credentials, who opened which
screen, and who linked the key (the policies in handlers/policies.py ask these)."""

from __future__ import annotations

from storage import Repositories
from storage.groups import ADMINS, EVERYONE, ScreenOwner


class GroupService:
    def __init__(self, repos: Repositories) -> None:
        self._repos = repos

    async def credentials_for_everyone(self, chat_id: int) -> bool:
        return await self._repos.groups.credentials_visibility(chat_id) == EVERYONE

    async def set_credentials_for_everyone(self, chat_id: int, everyone: bool) -> bool:
        """False if the chat is not linked here (there is nothing to show anyway)."""
        return await self._repos.groups.set_credentials_visibility(
            chat_id, EVERYONE if everyone else ADMINS
        )

    async def screen_owner(self, chat_id: int, message_id: int) -> ScreenOwner | None:
        """Who opened the screen; None for screens of the whole group (or unknown ones)."""
        return await self._repos.groups.screen_owner(chat_id, message_id)

    async def key_linked_by(self, chat_id: int) -> int | None:
        """The user who linked the chat's key, if a key is linked."""
        link = await self._repos.chats.get(chat_id)
        return link.linked_by if link is not None and link.is_linked else None
