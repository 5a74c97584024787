"""Telling users how a paid action ended when it settled without their tap.

Start-up recovery finishes what the last process left (an order whose answer was lost is
resent with its key, an extend is decided by proof), and a periodic job keeps checking
the extends that are still unclear. Each decided outcome is shown where the user last saw
that action: the message with its Confirm button is edited into the receipt (or a new
message is sent when that one cannot be edited any more).
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n

from bot.i18n import user_language
from core.clock import Clock
from proxy_api import ProxyApiError
from services.errors import BotError
from services.orders import EXTEND_KIND, OrdersService
from services.paid import PaidActionRunner, RunResult
from services.purchase import OPERATION_KIND
from services.purchase.checkout import CheckoutService
from storage import Repositories
from views.best_effort import TELEGRAM_FAILURES
from views.outcomes import extend_outcome_screen, purchase_outcome_screen

log = logging.getLogger(__name__)


class PaidActionNotifier:
    def __init__(
        self,
        bot: Bot,
        i18n: I18n,
        repos: Repositories,
        runner: PaidActionRunner,
        checkout: CheckoutService,
        orders: OrdersService,
        clock: Clock,
    ) -> None:
        self._bot = bot
        self._i18n = i18n
        self._repos = repos
        self._runner = runner
        self._checkout = checkout
        self._orders = orders
        self._clock = clock

    async def recover(self) -> int:
        """At start: settle what the last process left and tell each user; how many."""
        results = await self._runner.recover()
        await self.deliver(results)
        return len(results)

    async def check_unresolved(self) -> int:
        """Periodically: investigate unresolved actions again; tell the decided ones."""
        results = await self._runner.resolve_unknown()
        await self.deliver(results)
        return len(results)

    async def deliver(self, results: list[RunResult]) -> None:
        for result in results:
            try:
                await self._deliver(result)
            except (BotError, ProxyApiError, *TELEGRAM_FAILURES) as exc:
                # The operation itself is settled; only the message about it is lost, and
                # the user finds the same outcome behind its button or in /orders.
                log.warning("chat %s: could not tell the outcome of op %s (%s)",
                            result.op.chat_id, result.op.op_id, type(exc).__name__)

    async def _deliver(self, result: RunResult) -> None:
        op = result.op
        language = await user_language(self._repos, op.user_id)
        with self._i18n.context(), self._i18n.use_locale(language):
            if op.kind == OPERATION_KIND:
                text, markup = purchase_outcome_screen(self._checkout.outcome(result))
            elif op.kind == EXTEND_KIND:
                outcome = await self._orders.extend_outcome(result)
                text, markup = extend_outcome_screen(outcome, self._clock.now())
            else:
                return
        await self._show(op.chat_id, op.message_id, text, markup)
        log.info("chat %s: told the outcome of op %s", op.chat_id, op.op_id)

    async def _show(
        self, chat_id: int, message_id: int | None, text: str, markup: InlineKeyboardMarkup
    ) -> None:
        if message_id is not None:
            try:
                await self._bot.edit_message_text(
                    text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup
                )
                return
            except TELEGRAM_FAILURES as exc:
                log.info("chat %s: message %s not editable (%s); sending a new one",
                         chat_id, message_id, type(exc).__name__)
        await self._bot.send_message(chat_id, text, reply_markup=markup)
