"""The job that tells chats about deposits that reached their balance.

Each run asks the deposit watch (services/deposit_watch.py) for the arrivals of the chats
whose turn it is — the watch spreads the chats over ORDER_SYNC_INTERVAL, reads a chat every
DEPOSIT_POLL_INTERVAL for an hour after a deposit address was shown, and backs off when the
API fails — builds each announcement in the chat's language ("💰 Deposit received: +$50.00
(BTC). Balance: $150.00", with a button back to the quote or extend that was short of
money), and hands it off: the deposit is marked announced and its message queued in the
outbox in one transaction, so a restart or crash never announces a deposit twice and never
loses one. bot/sender.py delivers it.

When: one APScheduler interval job, every ``DepositWatch.tick`` (a fraction of
DEPOSIT_POLL_INTERVAL); one run at a time, a slow API delays the next instead of piling up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.i18n import chat_language
from keyboards.topup import arrival_keyboard
from services.deposit_watch import Arrival, DepositWatch
from storage import Repositories
from storage.outbox import OutgoingMessage
from views.topup import arrival_text

log = logging.getLogger(__name__)

JOB_ID = "deposit-arrivals"
KIND = "deposit"


class DepositJob:
    def __init__(
        self,
        watch: DepositWatch,
        repos: Repositories,
        i18n: I18n,
        wake_sender: Callable[[], None] | None = None,
    ) -> None:
        self._watch = watch
        self._repos = repos
        self._i18n = i18n
        self._wake = wake_sender  # makes the sender look at the outbox now

    def attach(self, scheduler: AsyncIOScheduler) -> None:
        scheduler.add_job(
            self.run,
            "interval",
            seconds=self._watch.tick.total_seconds(),
            id=JOB_ID,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )

    async def run(self) -> int:
        """Read the due chats' deposits and queue an announcement per arrival; how many."""
        queued = 0
        for arrival in await self._watch.poll_due():
            try:
                if await self._queue(arrival):
                    queued += 1
            except Exception:
                # Not marked announced: the next read of the chat returns it again.
                log.exception("chat %s: deposit %s not queued", arrival.chat_id, arrival.tx_id)
        if queued and self._wake is not None:
            self._wake()
        return queued

    def message(self, arrival: Arrival, language: str) -> OutgoingMessage:
        back = (arrival.back.op_id, arrival.back.kind) if arrival.back else None
        with self._i18n.context(), self._i18n.use_locale(language):
            text = arrival_text(
                arrival.amount, arrival.currency, arrival.balance, can_go_back=back is not None
            )
            markup = arrival_keyboard(back)
        return OutgoingMessage(
            chat_id=arrival.chat_id,
            kind=KIND,
            ref=f"{arrival.chat_id}:{arrival.tx_id}",
            text=text,
            markup=markup.model_dump_json(exclude_none=True) if markup else None,
        )

    async def _queue(self, arrival: Arrival) -> bool:
        message = self.message(arrival, await chat_language(self._repos, arrival.chat_id))
        return await self._watch.hand_off(arrival, message)
