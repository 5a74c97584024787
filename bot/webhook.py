"""Webhook mode: Telegram POSTs updates to us (WEBHOOK_URL, behind a reverse proxy).

aiogram's aiohttp handler checks X-Telegram-Bot-Api-Secret-Token (401 without it, nothing
handled) and answers at once, handling the update in the background. Bounded like polling:
past MAX_CONCURRENT_UPDATES running handlers the next request waits for a slot before it
is acknowledged, so a flood waits at Telegram (which holds at most `max_connections` open
requests) instead of piling up tasks here. The same server answers /healthz and /metrics.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

log = logging.getLogger(__name__)

# Telegram's default is 40; more only helps when handlers are slow and numerous.
MAX_CONNECTIONS = 40


class BoundedWebhookHandler(SimpleRequestHandler):
    """SimpleRequestHandler in background mode, with a bound and a closed state."""

    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, *, secret_token: str, limit: int, **data: Any
    ) -> None:
        super().__init__(
            dispatcher, bot, handle_in_background=True, secret_token=secret_token, **data
        )
        self._slots = asyncio.Semaphore(limit)
        self.closing = False
        # Deliveries held unacknowledged for a free slot (Telegram keeps them meanwhile).
        self.waiting = 0

    async def _handle_request_background(self, bot: Bot, request: web.Request) -> web.Response:
        if self.closing:
            # Telegram delivers it again later (to the next process): nothing is lost.
            return web.Response(status=503, text="stopping")
        update = await request.json(loads=bot.session.json_loads)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        if self.closing:
            self._slots.release()
            return web.Response(status=503, text="stopping")
        task = asyncio.create_task(self._background_feed_update(bot=bot, update=update))
        self._background_feed_update_tasks.add(task)
        task.add_done_callback(self._background_feed_update_tasks.discard)
        task.add_done_callback(lambda _: self._slots.release())
        return web.json_response({}, dumps=bot.session.json_dumps)

    async def close(self) -> None:
        # The app's own stop waits for running handlers (bounded); the bot session is
        # closed by the app too, so aiogram's close (which closes it) is not called.
        self.closing = True


def webhook_path(url: str) -> str:
    return urlsplit(url).path or "/"


async def start_site(
    web_app: web.Application, host: str, port: int
) -> web.AppRunner:
    # access_log off: one line per request would double the per-update log line.
    runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
