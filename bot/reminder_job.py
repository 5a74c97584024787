"""The job that turns due reminders into queued messages.

Each run claims the reminders due now (owner + lease: two processes never both get one),
builds each message in the chat's language — order, expiry in the chat's terms, one
"Extend" button per period with its price — and hands it off: the reminder is marked sent
and its message queued in the outbox in one transaction (services/reminders.hand_off), so a
crash or restart never sends a reminder twice and never loses one. A crash after the claim
and before the hand-off leaves the claim to expire; the next run takes it again.

When it runs: APScheduler holds one in-memory "next reminder" job, re-created from the
reminders table at start and after every run (the earliest planned due time), plus a
periodic safety run, so a reminder planned by a sync or an extend in between is never
later than that period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.i18n import chat_language
from core.clock import Clock
from keyboards.reminders import reminder_keyboard
from services.reminders import DueReminder, ReminderService
from storage import Repositories
from storage.outbox import OutboxRepository, OutgoingMessage
from views.reminders import key_revoked_text, order_line, reminder_text

log = logging.getLogger(__name__)

JOB_ID = "reminders-next"
# The safety net between planned runs (a reminder planned meanwhile waits at most this).
SAFETY_INTERVAL = timedelta(minutes=1)
# Chats whose reminders are built at the same time (each waits on its own key's API reads,
# the order then its periods' prices one after the other: up to 8 requests at once, within
# the 20 connections the HTTP pool keeps alive, so no connection is opened per request).
PARALLEL_CHATS = 8


class ReminderJob:
    def __init__(
        self,
        reminders: ReminderService,
        repos: Repositories,
        i18n: I18n,
        clock: Clock,
        owner: str,
        outbox: OutboxRepository,
        wake_sender: Callable[[], None] | None = None,
    ) -> None:
        self._reminders = reminders
        self._repos = repos
        self._i18n = i18n
        self._clock = clock
        self._owner = owner
        self._outbox = outbox
        self._wake = wake_sender  # makes the sender look at the outbox now
        self._scheduler: AsyncIOScheduler | None = None

    def attach(self, scheduler: AsyncIOScheduler) -> None:
        self._scheduler = scheduler
        scheduler.add_job(
            self.run, "interval", seconds=SAFETY_INTERVAL.total_seconds(),
            id="reminders-safety", replace_existing=True,
        )

    async def run(self) -> int:
        """Queue every reminder due now; how many were queued."""
        queued = 0
        while True:
            batch = await self._reminders.claim_due(self._owner)
            if not batch:
                break
            in_batch = await self._queue_batch(batch)
            # Each batch leaves at once: with thousands due, the sender would otherwise
            # wait for the last one to be built before sending the first.
            if in_batch and self._wake is not None:
                self._wake()
            queued += in_batch
            if len(batch) < 50:
                break
        await self.reschedule()
        return queued

    async def _queue_batch(self, batch: list[DueReminder]) -> int:
        """One chat's reminders in order, different chats side by side: building one waits
        on API reads (the order, its prices), and one at a time kept a fan-out of thousands
        well below the 30 messages a second Telegram allows."""
        by_chat: dict[int, list[DueReminder]] = {}
        for due in batch:
            by_chat.setdefault(due.chat_id, []).append(due)
        gate = asyncio.Semaphore(PARALLEL_CHATS)

        async def one_chat(dues: list[DueReminder]) -> int:
            queued = 0
            async with gate:
                for due in dues:
                    try:
                        if await self._queue(due):
                            queued += 1
                    except Exception:
                        # Its claim expires and the next run takes it again: late, never lost.
                        log.exception("reminder %s not queued", due.reminder_id)
            return queued

        return sum(await asyncio.gather(*(one_chat(dues) for dues in by_chat.values())))

    async def reschedule(self) -> None:
        """The in-memory job for the next planned reminder, from the table (the truth)."""
        if self._scheduler is None:
            return
        next_due = await self._repos.reminders.next_due()
        if next_due is None:
            return
        # APScheduler runs on the wall clock; the injected clock may be ahead (tests).
        delay = max((next_due - self._clock.now()).total_seconds(), 0.0)
        run_at = datetime.now(UTC) + timedelta(seconds=delay)
        self._scheduler.add_job(
            self.run, "date", run_date=run_at, id=JOB_ID, replace_existing=True
        )

    async def _queue(self, due: DueReminder) -> bool:
        content = await self._reminders.content(due)
        if content is None:
            return False  # skipped: the order changed or went
        order = content.order
        language = await chat_language(self._repos, due.chat_id)
        with self._i18n.context(), self._i18n.use_locale(language):
            line = order_line(order.type, order.country_name, order.quantity, order.order_id)
            unpriced = any(p.price is None for p in content.periods)
            text = reminder_text(
                line, due.expires_at, self._clock.now(), content.expired, unpriced
            )
            markup = reminder_keyboard(
                due.reminder_id, order.order_id,
                [(p.period, p.price) for p in content.periods], content.more_periods,
            )
        message = OutgoingMessage(
            chat_id=due.chat_id,
            kind="reminder",
            ref=str(due.reminder_id),
            text=text,
            markup=markup.model_dump_json(exclude_none=True),
        )
        return await self._reminders.hand_off(due, message)

    async def tell_key_revoked(self, chat_id: int) -> None:
        """Once per revocation (the sync says when): the chat hears why reminders stopped."""
        language = await chat_language(self._repos, chat_id)
        with self._i18n.context(), self._i18n.use_locale(language):
            text = key_revoked_text()
        ref = f"{chat_id}:{self._clock.now():%Y%m%d%H%M%S}"
        queued = await self._outbox.queue(OutgoingMessage(chat_id, "key_revoked", ref, text))
        if queued and self._wake is not None:
            self._wake()
