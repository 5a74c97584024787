"""The chat's orders: list, details, credentials, downloads, and extending exactly once.

The list always comes from the API (orders bought on the website show up too); every
order seen is written to the local copy (OrderRepository), which reminders read.

Extending has no idempotency key in the API. It runs through the paid-action runner
(services/paid.py) as kind ``extend``; the confirmation screen records the operation
with the order's ``expiresAt`` as the user saw it, and ``ExtendAction`` adds the rules
that make it exactly once without a key:

* right before sending, the order is read again; a confirmation drawn before the order
  changed (extended meanwhile, here or on the website) is not sent but shown again;
* an answer other than success proves nothing stayed charged (402, 409, 400, 404, 429,
  502 — the spec refunds a failed upstream call): the same confirmation may be sent again;
* no answer leaves the operation ``unknown`` and it is never sent again by itself. It is
  decided only by proof: the order's expiry moved, or a debit for the order after the
  claim time is in the transactions (a matching refund: nothing stayed charged). The
  API debits before it calls the provider, so once ``EXTEND_SETTLE`` has passed with
  neither, the request provably never started: the confirmation is offered again.
  Until then the user sees "still checking" with a Check button.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core.clock import Clock
from proxy_api import (
    Country,
    NotFound,
    NotProvisioned,
    Order,
    OrderDetails,
    OrderRequest,
    OrderStatus,
    Period,
    ProxyApi,
    ProxyApiError,
    ProxyCredential,
    ProxyType,
    Reference,
    Transaction,
)
from services.account import AccountService
from services.catalogue import kind_of
from services.errors import AlreadyProcessing, BotError, StaleAction
from services.exports import ExportFormat, export_format, file_name, render_local
from services.paid import (
    Abort,
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
from services.prices import PriceBook, own_period, same_again
from storage import Repositories
from storage.operations import DONE, FAILED, IN_FLIGHT, PENDING, Operation
from storage.orders import LocalOrder

log = logging.getLogger(__name__)

PAGE_SIZE = 5
STATUS_FILTERS: tuple[str, ...] = tuple(s.value for s in OrderStatus)
TYPE_FILTERS: tuple[str, ...] = tuple(t.value for t in ProxyType)
EXTEND_KIND = "extend"
# The API debits before it calls the provider; a request that left no debit this long
# after it was sent never started (the client gives up on a request after 15 s).
EXTEND_SETTLE = timedelta(minutes=10)
# Slack between our clock and the provider's when reading the transactions.
CLOCK_SLACK = timedelta(minutes=2)
_EXTENDABLE_STATUSES = frozenset({OrderStatus.ACTIVE.value, OrderStatus.EXPIRED.value})
# What an order id from a button may look like before it is sent anywhere.
_ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# -- results -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderRow:
    order: Order
    country: Country | None


@dataclass(frozen=True, slots=True)
class OrdersPage:
    rows: list[OrderRow]
    page: int
    total_pages: int
    total: int
    status: str  # "" = any
    type: str  # "" = any


@dataclass(frozen=True, slots=True)
class OrderInfo:
    order: OrderDetails
    country: Country | None
    period: Period | None
    recovered: ExtendDone | None = None  # an interrupted extend found to have happened

    @property
    def extendable(self) -> bool:
        return extend_blocker(self.order) is None


@dataclass(frozen=True, slots=True)
class Credentials:
    order_id: str
    proxy_type: str | None
    proxies: list[ProxyCredential]


@dataclass(frozen=True, slots=True)
class ExportFile:
    name: str
    data: bytes
    fmt: ExportFormat
    lines: int


@dataclass(frozen=True, slots=True)
class ExtendDone:
    order_id: str
    period_name: str
    charged: Decimal | None  # None: recovered after a lost answer; the charge is unknown here
    expires_at: datetime | None
    recovered: bool = False
    period_days: int | None = None


@dataclass(frozen=True, slots=True)
class ExtendMenu:
    info: OrderInfo
    periods: list[Period]
    recovered: ExtendDone | None = None  # an interrupted extend found to have happened
    # What extending for a period costs, by period id, where the API told it.
    prices: dict[int, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExtendQuote:
    op_id: str
    info: OrderInfo
    period: Period
    estimate: Decimal | None
    # "" first time; "retry" after an interrupted attempt that did not happen;
    # "changed" when the order changed since the previous confirmation.
    note: str = ""


@dataclass(frozen=True, slots=True)
class ExtendUnclear:
    """No answer from the API: the extend may or may not have happened yet."""

    op_id: str
    order_id: str




@dataclass(frozen=True, slots=True)
class ExtendPayload:
    """What an extend operation sends, and the expiry the user saw when confirming."""

    order_id: str
    period_id: int
    period_name: str
    expires_seen: datetime | None
    estimate: Decimal | None = None
    period_days: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "period_id": self.period_id,
            "period_name": self.period_name,
            "period_days": self.period_days,
            "expires_seen": _iso(self.expires_seen),
            "estimate": str(self.estimate) if self.estimate is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtendPayload:
        seen = data.get("expires_seen")
        estimate = data.get("estimate")
        return cls(
            order_id=str(data["order_id"]),
            period_id=int(data["period_id"]),
            period_name=str(data.get("period_name") or ""),
            expires_seen=datetime.fromisoformat(seen) if seen else None,
            estimate=Decimal(estimate) if estimate else None,
            period_days=_days_or_none(data.get("period_days")),
        )


class NotExtendable(BotError):
    def __init__(self, order_id: str, reason: str) -> None:
        super().__init__(reason)
        self.order_id = order_id
        self.reason = reason  # resident, canceled, no_periods


@dataclass(frozen=True, slots=True)
class ExtendFailed:
    """The API refused the extend; nothing stayed charged, the confirmation may be re-sent."""

    order_id: str
    op_id: str
    cause: ProxyApiError


ExtendOutcome = ExtendDone | ExtendQuote | ExtendUnclear | ExtendFailed


def extend_blocker(order: Order) -> str | None:
    """Why ``order`` cannot be extended, or None. Pending raises NotProvisioned instead."""
    kind = kind_of(order.type)
    if kind is not None and not kind.extendable:
        return "resident"
    if order.status == OrderStatus.PENDING.value:
        return "pending"
    if order.status not in _EXTENDABLE_STATUSES:
        return "canceled"
    return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _days_or_none(value: object) -> int | None:
    """A period's days as stored (older operations have none)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_order_id(order_id: str) -> None:
    # A forged button may carry anything; only id-shaped values reach the API.
    if not _ORDER_ID.match(order_id):
        raise NotFound("Order not found", status=404)


# -- the service ----------------------------------------------------------------------


class OrdersService:
    def __init__(
        self,
        accounts: AccountService,
        repos: Repositories,
        clock: Clock,
        runner: PaidActionRunner,
        prices: PriceBook,
    ) -> None:
        self._prices = prices
        self._accounts = accounts
        self._repos = repos
        self._clock = clock
        self._runner = runner
        # Set by the composition root: called when an order read from the API has another
        # status or expiry than the local copy had (a new order gets its reminders when it
        # is opened, not only at the next sync). Its errors are logged, never raised.
        self.on_order_changed: Callable[[int, Order], Awaitable[object]] | None = None

    # -- list & details -----------------------------------------------------------

    async def list_page(
        self, chat_id: int, page: int = 1, status: str = "", type: str = ""
    ) -> OrdersPage:
        """One page, newest first; a page past the end (the list shrank) shows the last."""
        status = status if status in STATUS_FILTERS else ""
        type = type if type in TYPE_FILTERS else ""
        page = max(page, 1)
        api = await self._accounts.api_for(chat_id)
        result = await api.list_orders(page, PAGE_SIZE, status or None, type or None)
        if page > 1 and page > result.meta.total_pages:
            page = max(result.meta.total_pages, 1)
            result = await api.list_orders(page, PAGE_SIZE, status or None, type or None)
        references = await self._references(api, {o.type for o in result.items})
        rows = []
        for order in result.items:
            country = _country(references.get(order.type), order.country_id)
            rows.append(OrderRow(order, country))
            await self._remember(chat_id, order, country)
        return OrdersPage(
            rows=rows,
            page=page,
            total_pages=max(result.meta.total_pages, 1),
            total=result.meta.total,
            status=status,
            type=type,
        )

    async def details(self, chat_id: int, order_id: str) -> OrderInfo:
        """The order; an extend of it interrupted by a restart is settled and reported here."""
        _check_order_id(order_id)
        api = await self._accounts.api_for(chat_id)
        # Still unclear: the details show anyway.
        recovered = await self._settle_open(chat_id, order_id)
        info = await self._info(api, chat_id, order_id)
        return replace(info, recovered=recovered) if recovered else info

    async def sync_all(self, chat_id: int) -> int:
        """Refresh the local copy with every order of the account (for reminders)."""
        api = await self._accounts.api_for(chat_id)
        count = 0
        async for order in api.iter_orders():
            await self._remember(chat_id, order, None)
            count += 1
        return count

    async def local(self, chat_id: int, order_id: str) -> LocalOrder | None:
        """The chat's local copy of an order (no API call)."""
        return await self._repos.orders.get(chat_id, order_id)

    # -- credentials & downloads ----------------------------------------------------

    async def credentials(self, chat_id: int, order_id: str) -> Credentials:
        _check_order_id(order_id)
        api = await self._accounts.api_for(chat_id)
        proxies = await api.get_proxies(order_id)
        local = await self._repos.orders.get(chat_id, order_id)
        return Credentials(order_id, local.type if local else None, proxies)

    async def download(self, chat_id: int, order_id: str, format_code: str) -> ExportFile:
        fmt = export_format(format_code)
        if fmt is None:
            raise StaleAction
        _check_order_id(order_id)
        api = await self._accounts.api_for(chat_id)
        if fmt.from_api:
            assert fmt.protocol is not None
            text = await api.download_proxies(order_id, fmt.api_format, fmt.protocol)
            if text and not text.endswith("\n"):
                text += "\n"  # same shape as the local formats: every line ends
        else:
            text = render_local(await api.get_proxies(order_id), fmt)
        proxy_type = await self._type_of(api, chat_id, order_id)
        lines = sum(1 for line in text.splitlines() if line.strip())
        if fmt.extension == "csv":
            lines = max(lines - 1, 0)  # the header row
        return ExportFile(file_name(order_id, proxy_type, fmt), text.encode(), fmt, lines)

    # -- extend -------------------------------------------------------------------------

    async def extend_menu(self, chat_id: int, order_id: str) -> ExtendMenu:
        _check_order_id(order_id)
        api = await self._accounts.api_for(chat_id)
        recovered = await self._settle_open(chat_id, order_id, strict=True)
        info = await self._info(api, chat_id, order_id)
        self._ensure_extendable(info.order)
        reference = await api.get_reference(info.order.type)
        if not reference.periods:
            raise NotExtendable(order_id, "no_periods")
        periods = list(reference.periods)
        return ExtendMenu(info, periods, recovered, await self._menu_prices(api, info, periods))

    async def prepare_extend(
        self, chat_id: int, user_id: int | None, order_id: str, period_id: int, note: str = ""
    ) -> ExtendQuote:
        """The confirmation screen; records the operation its Confirm button will send."""
        api = await self._accounts.api_for(chat_id)
        info = await self._info(api, chat_id, order_id)
        self._ensure_extendable(info.order)
        period = (await api.get_reference(info.order.type)).period(period_id)
        if period is None:
            raise StaleAction
        estimate = await self._estimate(api, info.order, period)
        op_id = secrets.token_urlsafe(9)
        payload = ExtendPayload(
            order_id=order_id,
            period_id=period.id,
            period_name=period.name,
            period_days=period.days,
            expires_seen=info.order.expires_at,
            estimate=estimate,
        )
        await self._repos.operations.create(
            op_id, chat_id=chat_id, user_id=user_id, kind=EXTEND_KIND,
            request=payload.to_dict(), order_id=order_id,
        )
        return ExtendQuote(op_id, info, period, estimate, note)

    async def begin_extend(
        self, chat_id: int, op_id: str, message_id: int | None = None
    ) -> ExtendOutcome | Ticket:
        """Claim a confirmation for this tap (a Ticket to ``finish_extend``), or its
        stored outcome. AlreadyProcessing while another tap holds it."""
        op = await self._runner.operation(chat_id, op_id, EXTEND_KIND)
        if op.status == DONE:
            return _done_from(op)
        if op.status == FAILED:
            raise StaleAction
        if op.status == IN_FLIGHT:
            raise AlreadyProcessing
        await self._accounts.api_for(chat_id)  # not linked any more: say so, claim nothing
        return await self._runner.claim(op, message_id)

    async def begin_one_tap(
        self,
        chat_id: int,
        user_id: int | None,
        op_id: str,
        order_id: str,
        period_id: int,
        expires_seen: datetime | None,
        message_id: int | None = None,
    ) -> ExtendOutcome | Ticket:
        """A one-tap extend (a reminder's button): no confirmation screen, so the tap itself
        records the operation. ``op_id`` comes from the message (one per reminder): a second
        tap, whatever period it names, finds the same operation and never extends twice.
        ``expires_seen`` is the expiry the message was about; if the order changed since,
        the extend is not sent and a fresh confirmation is shown instead."""
        if await self._repos.operations.get(op_id) is None:
            _check_order_id(order_id)
            api = await self._accounts.api_for(chat_id)
            info = await self._info(api, chat_id, order_id)
            self._ensure_extendable(info.order)
            period = (await api.get_reference(info.order.type)).period(period_id)
            if period is None:
                raise StaleAction
            payload = ExtendPayload(
                order_id=order_id,
                period_id=period.id,
                period_name=period.name,
                period_days=period.days,
                expires_seen=expires_seen or info.order.expires_at,
            )
            # Two taps racing here create the same row once (the insert ignores a twin).
            await self._repos.operations.create(
                op_id, chat_id=chat_id, user_id=user_id, kind=EXTEND_KIND,
                request=payload.to_dict(), order_id=order_id,
            )
        return await self.begin_extend(chat_id, op_id, message_id)

    async def confirmation(self, chat_id: int, op_id: str) -> ExtendOutcome:
        """A recorded extend's confirmation again (back from a top-up): the same operation,
        so its Confirm and the earlier "Try again" are one extend. A fresh confirmation
        (a new operation) when the order changed since; the outcome when it settled
        meanwhile. Nothing is claimed."""
        op = await self._runner.operation(chat_id, op_id, EXTEND_KIND)
        payload = ExtendPayload.from_dict(op.request)
        if op.status == DONE:
            return _done_from(op)
        if op.status == FAILED:
            raise StaleAction
        if op.status != PENDING:
            return ExtendUnclear(op.op_id, payload.order_id)
        api = await self._accounts.api_for(chat_id)
        info = await self._info(api, chat_id, payload.order_id)
        self._ensure_extendable(info.order)
        if info.order.expires_at != payload.expires_seen:
            # Extended or changed since: that confirmation would not go through any more.
            return await self.prepare_extend(
                chat_id, op.user_id, payload.order_id, payload.period_id, note="changed"
            )
        period = (await api.get_reference(info.order.type)).period(payload.period_id)
        if period is None:
            raise StaleAction
        estimate = payload.estimate
        if estimate is None:
            estimate = await self._estimate(api, info.order, period)
        return ExtendQuote(op.op_id, info, period, estimate)

    async def finish_extend(self, ticket: Ticket) -> ExtendOutcome:
        return await self.extend_outcome(await self._runner.run(ticket))

    async def extend_outcome(self, result: RunResult) -> ExtendOutcome:
        """What a run of an extend means for the user."""
        op = result.op
        payload = ExtendPayload.from_dict(op.request)
        if isinstance(result, Done):
            return _done_from(op)
        if isinstance(result, Unclear):
            return ExtendUnclear(op.op_id, payload.order_id)
        if isinstance(result, Refused):
            if isinstance(result.error, NotFound):
                raise result.error
            return ExtendFailed(payload.order_id, op.op_id, result.error)
        if isinstance(result, NotHappened):
            # Proven not charged: the same confirmation (same expiry seen) is offered again.
            return await self._quote_again(op, note="retry")
        assert isinstance(result, Aborted)
        if result.reason == "not_found":
            raise NotFound("Order not found", status=404)
        return await self._quote_again(op, note="changed")

    # -- extend internals ---------------------------------------------------------------

    async def _settle_open(
        self, chat_id: int, order_id: str, strict: bool = False
    ) -> ExtendDone | None:
        """An unresolved extend of this order is investigated before anything new.

        Returns it when it turned out to have happened. ``strict``: while it stays
        unclear, PaidActionBlocked (the caller shows "still checking").
        """
        op = await self._repos.operations.open_for_chat(chat_id)
        if op is None or op.kind != EXTEND_KIND or op.order_id != order_id:
            return None
        try:
            result = await self._runner.run(await self._runner.claim(op))
        except (AlreadyProcessing, PaidActionBlocked, ProxyApiError):
            if strict:
                raise PaidActionBlocked(op) from None
            return None
        if isinstance(result, Done):
            return _done_from(result.op)
        if isinstance(result, Unclear) and strict:
            raise PaidActionBlocked(result.op)
        return None

    async def _quote_again(self, op: Operation, note: str) -> ExtendQuote:
        payload = ExtendPayload.from_dict(op.request)
        if note == "retry":
            # The same operation is offered again; its recorded expiry still holds.
            api = await self._accounts.api_for(op.chat_id)
            info = await self._info(api, op.chat_id, payload.order_id)
            period = (await api.get_reference(info.order.type)).period(payload.period_id)
            if period is None:
                raise StaleAction
            return ExtendQuote(op.op_id, info, period, payload.estimate, note)
        return await self.prepare_extend(
            op.chat_id, op.user_id, payload.order_id, payload.period_id, note
        )

    def _ensure_extendable(self, order: OrderDetails) -> None:
        blocker = extend_blocker(order)
        if blocker == "pending":
            raise NotProvisioned("Order not yet provisioned upstream", status=409)
        if blocker is not None:
            raise NotExtendable(order.id, blocker)

    async def _menu_prices(
        self, api: ProxyApi, info: OrderInfo, periods: list[Period]
    ) -> dict[int, Decimal]:
        """Prices for the period buttons: one calc at most (the order's own period, else the
        first), and whatever else the price book holds (a reminder's prices, say)."""
        order = info.order
        prices = self._prices.known_prices(api, periods, lambda p: self._request(order, p))
        asked = own_period(periods, order.period_id)
        price = await self._estimate(api, order, asked)
        if price is None:
            prices.pop(asked.id, None)
        else:
            prices[asked.id] = price
        return prices

    @staticmethod
    def _request(order: OrderDetails, period: Period) -> OrderRequest | None:
        return same_again(
            order.type, order.country_id, period.id, order.proxy_count or order.quantity,
            order.protocol,
        )

    async def _estimate(
        self, api: ProxyApi, order: OrderDetails, period: Period
    ) -> Decimal | None:
        """What extending ``order`` for ``period`` costs: the API's price for the same
        proxies again (the order's type, country, quantity and protocol) for that period.

        None when the API cannot tell it (mobile orders: operator and rotation are not in
        the order) or does not answer.
        """
        request = self._request(order, period)
        if request is None:
            return None
        try:
            return (await self._prices.quote(api, request)).price
        except ProxyApiError as exc:
            log.info("no extend price for %s: %s", order.id, type(exc).__name__)
            return None

    # -- shared internals -----------------------------------------------------------

    async def _info(self, api: ProxyApi, chat_id: int, order_id: str) -> OrderInfo:
        _check_order_id(order_id)
        order = await api.get_order(order_id)
        reference = (await self._references(api, {order.type})).get(order.type)
        country = _country(reference, order.country_id)
        period = reference.period(order.period_id) if reference and order.period_id else None
        await self._remember(chat_id, order, country)
        return OrderInfo(order, country, period)

    async def _type_of(self, api: ProxyApi, chat_id: int, order_id: str) -> str:
        local = await self._repos.orders.get(chat_id, order_id)
        if local is not None:
            return local.type
        order = await api.get_order(order_id)
        await self._remember(chat_id, order, None)
        return order.type

    async def _references(self, api: ProxyApi, types: set[str]) -> dict[str, Reference]:
        """Reference data per type; a type whose reference cannot be read is left out."""
        found: dict[str, Reference] = {}
        for proxy_type in sorted(types):
            try:
                found[proxy_type] = await api.get_reference(proxy_type)
            except ProxyApiError as exc:
                log.info("reference for %s unavailable: %s", proxy_type, exc.code)
        return found

    async def _remember(self, chat_id: int, order: Order, country: Country | None) -> None:
        before = await self._repos.orders.get(chat_id, order.id)
        await remember(self._repos, chat_id, order, country)
        changed = before is None or (before.status, before.expires_at) != (
            order.status, order.expires_at
        )
        if changed and self.on_order_changed is not None:
            try:
                await self.on_order_changed(chat_id, order)
            except Exception:
                log.exception("chat %s: re-planning order %s failed", chat_id, order.id)


def _country(reference: Reference | None, country_id: int | None) -> Country | None:
    if reference is None or country_id is None:
        return None
    return reference.country(country_id)


async def remember(
    repos: Repositories, chat_id: int, order: Order, country: Country | None = None
) -> None:
    """Refresh the local copy of an order (reminders read it)."""
    await repos.orders.upsert(
        LocalOrder(
            order_id=order.id,
            chat_id=chat_id,
            type=order.type,
            status=order.status,
            quantity=order.quantity,
            country_id=order.country_id,
            country_name=country.name if country else None,
            period_id=order.period_id if isinstance(order, OrderDetails) else None,
            charged=order.charged_amount,
            expires_at=order.expires_at,
            created_at=order.created_at,
        )
    )


def _done_record(
    payload: ExtendPayload,
    charged: Decimal | None,
    expires_at: datetime | None,
    recovered: bool,
    tx_id: str | None = None,
) -> dict[str, Any]:
    return {
        "period_name": payload.period_name,
        "charged": str(charged) if charged is not None else None,
        "expires_at": _iso(expires_at),
        "recovered": recovered,
        "tx_id": tx_id,
    }


def _done_from(op: Operation) -> ExtendDone:
    result = op.result or {}
    charged = result.get("charged")
    expires = result.get("expires_at")
    return ExtendDone(
        order_id=str(op.request["order_id"]),
        period_name=str(result.get("period_name") or op.request.get("period_name") or ""),
        period_days=_days_or_none(op.request.get("period_days")),
        charged=Decimal(charged) if charged else None,
        expires_at=datetime.fromisoformat(expires) if expires else None,
        recovered=bool(result.get("recovered")),
    )


# -- the paid action --------------------------------------------------------------------


class ExtendAction:
    """POST /orders/{id}/extend, made exactly once without an idempotency key."""

    kind = EXTEND_KIND

    def __init__(self, repos: Repositories, clock: Clock) -> None:
        self._repos = repos
        self._clock = clock

    async def check(self, api: ProxyApi, op: Operation) -> dict[str, Any] | None:
        payload = ExtendPayload.from_dict(op.request)
        try:
            order = await api.get_order(payload.order_id)
        except NotFound as exc:
            raise Abort(FAILED, {"error": exc.code}, "not_found") from None
        await remember(self._repos, op.chat_id, order)
        # A pending order has no expiry to compare; the provider's 409 answers it.
        pending = order.status == OrderStatus.PENDING.value
        if not pending and order.expires_at != payload.expires_seen:
            # Extended (or otherwise changed) since this confirmation was drawn.
            raise Abort(FAILED, {"error": "changed"}, "changed")
        # What the ledger already holds about this order: a debit found later that is not
        # in this list can only be this extend's.
        before = [tx.id async for tx in self._about(api, op, order)]
        return {"ledger_before": before}

    async def send(self, api: ProxyApi, op: Operation) -> object:
        payload = ExtendPayload.from_dict(op.request)
        return await api.extend_order(payload.order_id, payload.period_id)

    async def settle(self, api: ProxyApi, op: Operation, response: object) -> Happened:
        payload = ExtendPayload.from_dict(op.request)
        expires_at: datetime | None = None
        try:
            after = await api.get_order(payload.order_id)
            expires_at = after.expires_at
            await remember(self._repos, op.chat_id, after)
        except ProxyApiError as exc:
            log.warning("chat %s: order %s not re-read after extend (%s)",
                        op.chat_id, payload.order_id, exc.code)
        charged = getattr(response, "charged", None)
        return Happened(_done_record(payload, charged, expires_at, recovered=False))

    def refused(self, op: Operation, error: ProxyApiError) -> tuple[str, dict[str, Any] | None]:
        if isinstance(error, NotFound):
            return FAILED, {"error": error.code}
        return PENDING, {"error": error.code}

    async def investigate(self, api: ProxyApi, op: Operation) -> Investigation:
        """Decide an extend whose answer was lost, by proof only."""
        payload = ExtendPayload.from_dict(op.request)
        order = await api.get_order(payload.order_id)
        await remember(self._repos, op.chat_id, order)
        debit, refund = await self._ledger(api, op, order)
        if refund is not None and debit is not None:
            return DidNotHappen({"proof": "refunded", "tx_id": refund.id})
        if debit is not None or order.expires_at != payload.expires_seen:
            charged = -debit.amount if debit is not None else None
            tx_id = debit.id if debit is not None else None
            return Happened(
                _done_record(payload, charged, order.expires_at, recovered=True, tx_id=tx_id)
            )
        sent_at = op.sent_at or op.updated_at
        if self._clock.now() - sent_at >= EXTEND_SETTLE:
            return DidNotHappen({"proof": "no debit"})
        return Finding.UNDECIDED

    async def _ledger(
        self, api: ProxyApi, op: Operation, order: Order
    ) -> tuple[Transaction | None, Transaction | None]:
        """The debit (and refund) for this order that appeared after the extend was sent:
        not in the ledger right before sending, nor another extend's."""
        known = set((op.result or {}).get("ledger_before") or ())
        known |= {
            str((other.result or {}).get("tx_id"))
            for other in await self._repos.operations.done_for_order(EXTEND_KIND, order.id)
        }
        debit = refund = None
        async for tx in self._about(api, op, order):
            if tx.id in known:
                continue
            if tx.amount < 0 and debit is None:
                debit = tx
            elif tx.amount > 0 and tx.type == "refund" and refund is None:
                refund = tx
        return debit, refund

    @staticmethod
    async def _about(api: ProxyApi, op: Operation, order: Order) -> AsyncIterator[Transaction]:
        """Transactions naming the order, newest first, back to the claim (with slack)."""
        since = (op.sent_at or op.claimed_at or op.created_at) - CLOCK_SLACK
        async for tx in api.iter_transactions():
            if tx.created_at < since:
                return
            if order.id in (tx.description or ""):
                yield tx
