"""Remembering who opened each screen in a group (see views/screens.py for why).

`OpenerMiddleware` (outer, on every update) sets the opener for updates from a group;
`ScreenRecorder` (a Bot session middleware) stores the owner of every message with
buttons sent to a group while an opener is set. Both sides are here so a handler never
has to remember to do it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.methods import SendDocument, SendMessage, SendPhoto
from aiogram.types import Chat, InlineKeyboardMarkup, Message, TelegramObject, User

from storage.groups import GroupRepository, ScreenOwner
from views.screens import Opener, current_opener

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
    from aiogram.methods import TelegramMethod

log = logging.getLogger(__name__)

_GROUPS = ("group", "supergroup")
_SCREEN_METHODS = (SendMessage, SendPhoto, SendDocument)


class OpenerMiddleware(BaseMiddleware):
    """Outer update middleware, after aiogram's user context (it reads `event_chat`)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        if chat is None or chat.type not in _GROUPS or user is None:
            return await handler(event, data)
        token = current_opener.set(Opener(user.id, user.full_name))
        try:
            return await handler(event, data)
        finally:
            current_opener.reset(token)


class ScreenRecorder(BaseRequestMiddleware):
    def __init__(self, groups: GroupRepository) -> None:
        self._groups = groups

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Any:
        result = await make_request(bot, method)
        opener = current_opener.get()
        if (
            opener is not None
            and isinstance(method, _SCREEN_METHODS)
            and isinstance(method.reply_markup, InlineKeyboardMarkup)
            and isinstance(result, Message)
            and result.chat.type in _GROUPS
        ):
            await self._groups.remember_screen(
                result.chat.id, result.message_id, ScreenOwner(opener.user_id, opener.name)
            )
        return result
