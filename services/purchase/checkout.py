"""Confirming a quote: placing the order exactly once through the paid-action runner.

Every quote recorded an operation (kind ``order``) whose id is the Idempotency-Key of
POST /orders. Confirm claims it (one tap wins, one paid action per chat), sends it, and
stores the receipt; later taps show that receipt.

An order whose answer was lost is ``unknown``. While the provider still remembers the key
(``RESEND_WITHIN``) it is settled by resending the very same key — the provider replays
the first answer, so nothing is bought twice. After that a resend could place a new
order, days later, at an old price and with no new confirmation; an older unresolved
order is instead looked for in ``GET /orders`` and the transactions, and only proof that
nothing was bought releases it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core.clock import Clock
from proxy_api import (
    CreatedOrder,
    Order,
    OrderRequest,
    OrderStatus,
    ProxyApi,
    ProxyApiError,
    UpstreamError,
)
from services.account import AccountService
from services.errors import AlreadyProcessing, StaleAction
from services.paid import (
    Aborted,
    DidNotHappen,
    Done,
    Finding,
    Happened,
    Investigation,
    NotHappened,
    PaidActionBlocked,
    PaidActionRunner,
    Refused,
    RunResult,
    Ticket,
    Unclear,
)
from services.purchase import (
    OPERATION_KIND,
    QUOTE_TTL,
    OrderUnresolved,
    PurchaseService,
    QuoteView,
    Receipt,
    WizardStep,
    quote_of,
)
from storage import Repositories
from storage.operations import DONE, FAILED, IN_FLIGHT, PENDING, Operation
from storage.orders import LocalOrder, StorageError

log = logging.getLogger(__name__)

# How long a resend of an order's Idempotency-Key is trusted to be answered from the
# provider's memory of the first request.
RESEND_WITHIN = timedelta(hours=24)
# Slack between our clock and the provider's when matching orders and transactions.
CLOCK_SLACK = timedelta(minutes=2)


# -- outcomes (what the user is shown) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderPending:
    """The order may be placed already; Check status (the same key) settles it."""

    op_id: str
    quote: QuoteView | None
    cause: ProxyApiError | None = None
    stale: bool = False  # too old to resend: only a search can settle it


@dataclass(frozen=True, slots=True)
class OrderFailed:
    """The provider failed the order (502); ``refunded`` says whether a debit came back."""

    op_id: str
    refunded: bool


@dataclass(frozen=True, slots=True)
class OrderRefused:
    """The API refused it (402, 400, 429…): nothing was bought; the same quote stays."""

    op_id: str
    error: ProxyApiError


@dataclass(frozen=True, slots=True)
class OrderNotPlaced:
    """An interrupted or unresolved order proven not placed; nothing was charged."""

    op_id: str
    quote: QuoteView | None
    interrupted: bool  # True: stopped before it was sent at all


PurchaseOutcome = Receipt | OrderPending | OrderFailed | OrderRefused | OrderNotPlaced


# -- the paid action ------------------------------------------------------------------


class OrderAction:
    """POST /orders with the operation's id as Idempotency-Key."""

    kind = OPERATION_KIND

    def __init__(self, repos: Repositories, clock: Clock) -> None:
        self._repos = repos
        self._clock = clock

    async def check(self, api: ProxyApi, op: Operation) -> dict[str, Any] | None:
        return None

    async def send(self, api: ProxyApi, op: Operation) -> CreatedOrder:
        request = OrderRequest.model_validate(op.request["body"])
        return await api.create_order(request, idempotency_key=op.op_id)

    async def settle(self, api: ProxyApi, op: Operation, response: object) -> Happened:
        assert isinstance(response, CreatedOrder)
        receipt = await self._record(op, response.order_id, response.charged)
        return Happened(receipt.to_dict(), response.order_id)

    def refused(self, op: Operation, error: ProxyApiError) -> tuple[str, dict[str, Any] | None]:
        if isinstance(error, UpstreamError):
            return FAILED, {"failure": "upstream", "refunded": error.refunded}
        # A repeated key gets the first answer replayed, so a refusal proves no order was
        # placed with it: the same quote (and key) may simply be confirmed again.
        return PENDING, {"error": error.code}

    async def investigate(self, api: ProxyApi, op: Operation) -> Investigation:
        sent_at = op.sent_at or op.updated_at
        if self._clock.now() - sent_at < RESEND_WITHIN:
            return Finding.RESEND
        return await self._search(api, op)

    async def _search(self, api: ProxyApi, op: Operation) -> Investigation:
        """An old unresolved order: find it among the orders, or prove it absent."""
        since = (op.sent_at or op.claimed_at or op.created_at) - CLOCK_SLACK
        body = op.request.get("body") or {}
        taken = await self._repos.operations.order_ids(OPERATION_KIND)
        async for order in api.iter_orders():
            if order.created_at < since:
                break
            if order.id in taken or order.type != body.get("type"):
                continue
            if body.get("countryId") not in (None, order.country_id):
                continue
            if body.get("quantity") not in (None, order.quantity):
                continue
            receipt = await self._record(op, order.id, order.charged_amount, order)
            return Happened(receipt.to_dict(), order.id)
        async for tx in api.iter_transactions(type="purchase"):
            if tx.created_at < since:
                break
            if tx.amount < 0:
                # Money left the account in that window and no order matches: cannot tell.
                return Finding.UNDECIDED
        return DidNotHappen({"proof": "no order and no purchase since the claim"})

    async def _record(
        self, op: Operation, order_id: str, charged: Decimal, listed: Order | None = None
    ) -> Receipt:
        """Keep the local copy of the order and make its receipt, with no further call.

        The receipt states what the API charged (POST /orders' ``charged``) and the period
        bought; no balance after it (the balance is one tap away) and no expiry: the order's
        status and expiry, and with them its reminders, come from the order sync
        (GET /orders, every ORDER_SYNC_INTERVAL) or when the order is opened. ``listed``: the
        order as GET /orders gave it (an old unresolved order found there), all of it known.
        """
        view = QuoteView.from_dict(op.request["view"])
        quantity = view.quantity or (int(view.traffic) if view.traffic else 1)
        status: str | None = None
        expires_at: datetime | None = None
        local = LocalOrder(
            order_id=order_id,
            chat_id=op.chat_id,
            type=view.type,
            # Not known yet: no reminders are planned for it until the sync says active.
            status=OrderStatus.PENDING.value,
            quantity=quantity,
            country_id=view.country_id,
            country_name=view.country,
            period_id=view.period_id,
            charged=charged,
            expires_at=None,
            created_at=self._clock.now(),
        )
        if listed is not None:
            status, expires_at, quantity = listed.status, listed.expires_at, listed.quantity
            local = replace(local, status=status, quantity=quantity, expires_at=expires_at,
                            created_at=listed.created_at)
        try:
            if listed is not None:
                await self._repos.orders.upsert(local)
            else:
                # A sync that read the order meanwhile knows more: never overwritten.
                await self._repos.orders.add_if_absent(local)
        except StorageError as exc:
            # The order is placed and paid whatever happens here (say, the chat was logged
            # out meanwhile, so its row is gone); /orders still lists it from the API.
            log.warning("chat %s: order %s placed; local copy not saved (%s)",
                        op.chat_id, order_id, exc)
        return Receipt(
            order_id=order_id,
            type=view.type,
            charged=charged,
            quantity=quantity,
            country=view.country,
            country_code=view.country_code,
            period=view.period,
            period_days=view.period_days,
            tarif=view.tarif,
            status=status,
            expires_at=expires_at,
            service=view.service,
            operator=view.operator,
            rotation=view.rotation,
            protocol=view.protocol,
        )


# -- the service ---------------------------------------------------------------------


class CheckoutService:
    def __init__(
        self,
        accounts: AccountService,
        purchases: PurchaseService,
        runner: PaidActionRunner,
        clock: Clock,
    ) -> None:
        self._accounts = accounts
        self._purchases = purchases
        self._runner = runner
        self._clock = clock

    async def begin(
        self, chat_id: int, user_id: int | None, op_id: str, message_id: int | None = None
    ) -> PurchaseOutcome | WizardStep | Ticket:
        """Claim the quote for this tap, or say why not.

        A Ticket: this tap won and ``place`` sends it. A stored outcome: the quote was
        settled before (a later tap shows the same receipt). A WizardStep: the quote was too
        old to buy at and was priced again. AlreadyProcessing: another tap holds it.
        """
        op = await self._runner.operation(chat_id, op_id, OPERATION_KIND)
        if op.status in (DONE, FAILED):
            return self._settled(op)
        api = await self._accounts.api_for(chat_id)
        if op.request.get("key_id", api.key_id) != api.key_id:
            # The chat linked another account since this quote: never buy on that one.
            await self._purchases.drop(op_id, "relinked")
            raise StaleAction
        if op.status == PENDING and self._clock.now() - op.created_at > QUOTE_TTL:
            return await self._purchases.requote_operation(chat_id, user_id, op)
        if op.status == IN_FLIGHT:
            raise AlreadyProcessing
        try:
            return await self._runner.claim(op, message_id)
        except PaidActionBlocked as blocked:
            if blocked.other.status == IN_FLIGHT:
                raise AlreadyProcessing from None  # another of the chat's taps is at it
            if blocked.other.kind == OPERATION_KIND:
                return OrderPending(blocked.other.op_id, quote_of(blocked.other))
            raise
        except AlreadyProcessing:
            # It may have finished between our read and the claim.
            latest = await self._runner.operation(chat_id, op_id, OPERATION_KIND)
            if latest.status in (DONE, FAILED):
                return self._settled(latest)
            raise

    async def back_to_quote(
        self, chat_id: int, user_id: int | None, op_id: str
    ) -> PurchaseOutcome | WizardStep:
        """The quote again, after a top-up: the same operation (so its Confirm and the
        earlier "Try again" are one order) with a balance read within a minute (the deposit's
        announcement reads it; no read is made here), or priced again (a
        new operation) when it is older than QUOTE_TTL. A quote settled meanwhile shows
        its outcome; one whose Confirm went out shows "Check status". Nothing is claimed.
        """
        op = await self._runner.operation(chat_id, op_id, OPERATION_KIND)
        if op.status in (DONE, FAILED):
            return self._settled(op)
        if op.status != PENDING:
            return OrderPending(op.op_id, quote_of(op))
        api = await self._accounts.api_for(chat_id)
        if op.request.get("key_id", api.key_id) != api.key_id:
            await self._purchases.drop(op_id, "relinked")
            raise StaleAction
        if self._clock.now() - op.created_at > QUOTE_TTL:
            return await self._purchases.requote_operation(chat_id, user_id, op)
        screen = await self._purchases.saved_quote(chat_id, op_id)
        assert screen.quote is not None
        # No read for a quote: the balance the deposit's announcement just read, if any.
        balance = self._accounts.recent_balance(api)
        return replace(screen, quote=replace(screen.quote, balance=balance))

    async def place(self, ticket: Ticket) -> PurchaseOutcome:
        return self.outcome(await self._runner.run(ticket))

    def outcome(self, result: RunResult) -> PurchaseOutcome:
        """What a run of an order means for the user."""
        op = result.op
        if isinstance(result, Done):
            return self._settled(op)
        if isinstance(result, Refused):
            if op.status == FAILED:
                return self._settled(op)
            return OrderRefused(op.op_id, result.error)
        if isinstance(result, NotHappened):
            return OrderNotPlaced(op.op_id, quote_of(op), result.interrupted)
        if isinstance(result, Unclear):
            stale = op.sent_at is not None and (
                self._clock.now() - op.sent_at >= RESEND_WITHIN
            )
            return OrderPending(op.op_id, quote_of(op), result.error, stale=stale)
        assert isinstance(result, Aborted)
        raise StaleAction

    @staticmethod
    def _settled(op: Operation) -> PurchaseOutcome:
        result = op.result or {}
        if op.status == DONE:
            return Receipt.from_dict(result)
        if result.get("failure") == "upstream":
            return OrderFailed(op.op_id, bool(result.get("refunded")))
        raise StaleAction  # superseded by a newer quote, or bought on another account


__all__ = [
    "CheckoutService",
    "OrderAction",
    "OrderFailed",
    "OrderNotPlaced",
    "OrderPending",
    "OrderRefused",
    "OrderUnresolved",
    "PurchaseOutcome",
]
