"""The job that closes member requests nobody answered within GROUP_REQUEST_TTL.

Each run asks `GroupRequests.expire_due` to close the open requests past their time: each
quote is dropped first (so it can never be bought), then the request is closed — for
exactly one caller, so two processes never both handle one. Requests whose order an
admin's Approve is placing right now wait for its outcome. The job then edits each
closed request's message into "expired" in the chat's language: an edit, not a new
message (nothing goes around the outbox), and best effort — a tap on the request still
says it has expired.

When: an APScheduler interval job every minute, one run at a time.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from aiogram import Bot
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.i18n import chat_language
from services.group_requests import GroupRequests, RequestClosed
from storage import Repositories
from views.best_effort import best_effort
from views.requests import expired_text

log = logging.getLogger(__name__)

JOB_ID = "expire-group-requests"
INTERVAL = timedelta(minutes=1)


class RequestExpiryJob:
    def __init__(
        self, requests: GroupRequests, repos: Repositories, bot: Bot, i18n: I18n
    ) -> None:
        self._requests = requests
        self._repos = repos
        self._bot = bot
        self._i18n = i18n

    def attach(self, scheduler: AsyncIOScheduler) -> None:
        scheduler.add_job(
            self.run,
            "interval",
            seconds=INTERVAL.total_seconds(),
            id=JOB_ID,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )

    async def run(self) -> int:
        """Close the requests past their time and say so on each; how many were closed."""
        closed = await self._requests.expire_due()
        for each in closed:
            try:
                await self._show(each)
            except Exception:
                log.exception("chat %s: expired request %s not shown",
                              each.request.chat_id, each.request.request_id)
        if closed:
            log.info("closed %d expired group request(s)", len(closed))
        return len(closed)

    async def _show(self, closed: RequestClosed) -> None:
        request = closed.request
        if request.message_id is None:
            return
        language = await chat_language(self._repos, request.chat_id)
        with self._i18n.context(), self._i18n.use_locale(language):
            text = expired_text(request, closed.quote)
        await best_effort(
            self._bot.edit_message_text(
                text=text, chat_id=request.chat_id, message_id=request.message_id,
                reply_markup=None,
            ),
            "show an expired request",
        )
