"""aiogram's aiohttp session, minus one hidden cost per Bot API call.

aiogram reads every answer through ``Response[method.__returning__]``, a pydantic generic
parametrised per call. pydantic caches parametrisations only weakly, so once the garbage
collector drops one the next call builds the model class again (schema and all): in a
profile of menu taps that was ~8% of the bot's CPU. Holding each parametrisation once, for
the life of the process, turns it back into a dictionary lookup.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import Response, TelegramMethod

# One entry per method return type used so far (a few dozen at most).
_PINNED: dict[Any, type[Response[Any]]] = {}


class BotSession(AiohttpSession):
    def check_response(
        self, bot: Bot, method: TelegramMethod[Any], status_code: int, content: str
    ) -> Response[Any]:
        returning = method.__returning__
        if returning not in _PINNED:
            _PINNED[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)
