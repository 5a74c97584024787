"""The chat's orders: list, details, credentials, downloads, and extending exactly once.

The list always comes from the API (orders bought on the website show up too); every
order seen is written to the local copy (OrderRepository), which reminders read.

Extending has no idempotency key in the API, so it is guarded locally with an
operation record (kind ``extend``) created when the confirmation screen is shown:

* the Confirm button carries the operation id; ``claim`` lets exactly one tap send,
  a repeated tap of a finished confirmation shows the stored receipt again;
* one extend per order at a time (a per-order lock, plus unresolved operations of the
  same order are settled before a new one is sent);
* right before sending, the order's ``expiresAt`` is read and compared with the one
  recorded on the confirmation screen; a confirmation made before the order changed
  (extended meanwhile, here or on the website) is not sent but shown again, fresh;
* an answer from the API other than success means nothing stayed charged (402, 409,
  400, 429, 502 — the spec refunds a failed upstream call), so the same confirmation
  may be tapped again; no answer (timeout, 5xx, garbage) or a crash leaves the
  operation ``unknown``.
* An ``unknown`` operation is resolved by reading the order: ``expiresAt`` moved since
  the value recorded right before sending → the extend happened (shown as done, the
  exact charge is in the transactions); unchanged → it did not, and the confirmation
  is offered again — but only once ``UNKNOWN_SETTLE`` has passed since the operation
  became unknown, so a request the provider is still processing is not sent twice.
  Risk accepted: an extend done on the website in that window would be reported as
  ours; that never charges twice. Unknown operations are settled when the chat next
  opens that order, its extend menu, or taps Check / an old Confirm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import weakref
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pydantic

from bot.clock import Clock
from bot.exports import ExportFormat, export_format, file_name, render_local
from bot.proxy_api import (
    Country,
    InsufficientFunds,
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
    RateLimited,
    Reference,
    UpstreamError,
    ValidationError,
)
from bot.proxy_api.errors import AuthError
from bot.services.account import AccountService
from bot.services.errors import AlreadyProcessing, BotError, StaleAction
from storage import Repositories
from storage.operations import DONE, FAILED, IN_FLIGHT, PENDING, UNKNOWN, Operation
from storage.orders import LocalOrder

log = logging.getLogger(__name__)

PAGE_SIZE = 5
STATUS_FILTERS: tuple[str, ...] = tuple(s.value for s in OrderStatus)
TYPE_FILTERS: tuple[str, ...] = tuple(t.value for t in ProxyType)
EXTEND_KIND = "extend"
# How long an extend with no answer stays "maybe still happening" before an unchanged
# expiry is trusted as "did not happen" (longer than any request the client waits for).
UNKNOWN_SETTLE = timedelta(seconds=60)
# Types without periods (residential is a traffic package) cannot be extended.
_NOT_EXTENDABLE_TYPES = frozenset({ProxyType.RESIDENT.value})
_EXTENDABLE_STATUSES = frozenset({OrderStatus.ACTIVE.value, OrderStatus.EXPIRED.value})
# What an order id from a button may look like before it is sent anywhere.
_ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Errors that are the API's answer to the extend itself: the request was refused or
# (502) refunded, so nothing stayed charged and the same confirmation may be sent again.
_ANSWERED = (InsufficientFunds, NotProvisioned, UpstreamError, RateLimited, ValidationError,
             AuthError)


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


@dataclass(frozen=True, slots=True)
class ExtendMenu:
    info: OrderInfo
    periods: list[Period]
    recovered: ExtendDone | None = None  # an interrupted extend found to have happened


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


ExtendOutcome = ExtendDone | ExtendQuote | ExtendUnclear


class NotExtendable(BotError):
    def __init__(self, order_id: str, reason: str) -> None:
        super().__init__(reason)
        self.order_id = order_id
        self.reason = reason  # resident, canceled, no_periods


class ExtendFailed(BotError):
    """The API refused the extend; nothing stayed charged, the confirmation may be re-sent."""

    def __init__(self, order_id: str, op_id: str, cause: ProxyApiError) -> None:
        super().__init__(cause.message)
        self.order_id = order_id
        self.op_id = op_id
        self.cause = cause


def extend_blocker(order: Order) -> str | None:
    """Why ``order`` cannot be extended, or None. Pending raises NotProvisioned instead."""
    if order.type in _NOT_EXTENDABLE_TYPES:
        return "resident"
    if order.status == OrderStatus.PENDING.value:
        return "pending"
    if order.status not in _EXTENDABLE_STATUSES:
        return "canceled"
    return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _check_order_id(order_id: str) -> None:
    # A forged button may carry anything; only id-shaped values reach the API.
    if not _ORDER_ID.match(order_id):
        raise NotFound("Order not found", status=404)


# -- the service ----------------------------------------------------------------------


class OrdersService:
    def __init__(self, accounts: AccountService, repos: Repositories, clock: Clock) -> None:
        self._accounts = accounts
        self._repos = repos
        self._clock = clock
        # One lock per (chat, order): extends of one order never run side by side.
        self._locks: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

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
        recovered = None
        with contextlib.suppress(AlreadyProcessing):  # still unclear: the details show anyway
            async with self._lock(chat_id, order_id):
                recovered = await self._settle_unknown(api, chat_id, order_id, None)
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
        async with self._lock(chat_id, order_id):
            recovered = await self._settle_unknown(api, chat_id, order_id, None)
        info = await self._info(api, chat_id, order_id)
        self._ensure_extendable(info.order)
        reference = await api.get_reference(info.order.type)
        if not reference.periods:
            raise NotExtendable(order_id, "no_periods")
        return ExtendMenu(info, list(reference.periods), recovered)

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
        request: dict[str, Any] = {
            "order_id": order_id,
            "period_id": period.id,
            "period_name": period.name,
            "expires_seen": _iso(info.order.expires_at),
            "estimate": str(estimate) if estimate is not None else None,
        }
        await self._repos.operations.create(
            op_id, chat_id=chat_id, user_id=user_id, kind=EXTEND_KIND, request=request,
            order_id=order_id,
        )
        return ExtendQuote(op_id, info, period, estimate, note)

    async def confirm_extend(self, chat_id: int, op_id: str) -> ExtendOutcome:
        op = await self._repos.operations.get(op_id)
        if op is None or op.chat_id != chat_id or op.kind != EXTEND_KIND:
            raise StaleAction
        order_id = str(op.request["order_id"])
        api = await self._accounts.api_for(chat_id)
        async with self._lock(chat_id, order_id):
            op = await self._repos.operations.get(op_id)
            assert op is not None
            if op.status == DONE:
                return _done_from(op)
            if op.status == FAILED:
                raise StaleAction
            if op.status == IN_FLIGHT:
                raise AlreadyProcessing
            if op.status == UNKNOWN:
                outcome = await self._resolve(api, chat_id, op)
                if outcome is not None:
                    return outcome
                return await self._quote_again(api, chat_id, op, note="retry")
            return await self._send_extend(api, chat_id, op)

    # -- extend internals ---------------------------------------------------------------

    async def _send_extend(self, api: ProxyApi, chat_id: int, op: Operation) -> ExtendOutcome:
        order_id = str(op.request["order_id"])
        period_id = int(op.request["period_id"])
        await self._settle_unknown(api, chat_id, order_id, op.op_id)
        order = await self._read_for(api, op)
        await self._remember(chat_id, order, None)
        # A pending order has no expiry to compare; the provider's 409 answers it below.
        pending = order.status == OrderStatus.PENDING.value
        if not pending and _iso(order.expires_at) != op.request.get("expires_seen"):
            # Extended (or otherwise changed) since this confirmation was drawn.
            await self._repos.operations.finish(op.op_id, FAILED, {"error": "changed"})
            return await self._quote_again(api, chat_id, op, note="changed")
        if not await self._repos.operations.claim(op.op_id, (PENDING,)):
            raise AlreadyProcessing
        log.info("chat %s: extending order %s (op %s)", chat_id, order_id, op.op_id)
        try:
            result = await api.extend_order(order_id, period_id)
        except NotFound as exc:
            await self._repos.operations.finish(op.op_id, FAILED, {"error": exc.code})
            raise
        except _ANSWERED as exc:
            await self._repos.operations.finish(op.op_id, PENDING)
            raise ExtendFailed(order_id, op.op_id, exc) from None
        except ProxyApiError as exc:
            # No usable answer: the provider may have extended and charged.
            log.warning("chat %s: extend of %s unclear (%s)", chat_id, order_id, exc.code)
            await self._repos.operations.finish(op.op_id, UNKNOWN, {"error": exc.code})
            return ExtendUnclear(op.op_id, order_id)
        expires_at: datetime | None = None
        try:
            after = await api.get_order(order_id)
            expires_at = after.expires_at
            await self._remember(chat_id, after, None)
        except ProxyApiError as exc:
            log.warning("chat %s: order %s not re-read after extend (%s)", chat_id, order_id,
                        exc.code)
        done = ExtendDone(order_id, str(op.request["period_name"]), result.charged, expires_at)
        await self._repos.operations.finish(op.op_id, DONE, _done_record(done))
        return done

    async def _resolve(
        self, api: ProxyApi, chat_id: int, op: Operation
    ) -> ExtendDone | ExtendUnclear | None:
        """Decide an ``unknown`` extend by the order's expiry; None = it did not happen."""
        order_id = str(op.request["order_id"])
        order = await self._read_for(api, op)
        await self._remember(chat_id, order, None)
        if _iso(order.expires_at) != op.request.get("expires_seen"):
            done = ExtendDone(
                order_id, str(op.request["period_name"]), None, order.expires_at, recovered=True
            )
            await self._repos.operations.finish(op.op_id, DONE, _done_record(done))
            log.info("chat %s: interrupted extend %s did happen", chat_id, op.op_id)
            return done
        if self._clock.now() - op.updated_at < UNKNOWN_SETTLE:
            return ExtendUnclear(op.op_id, order_id)
        await self._repos.operations.finish(op.op_id, PENDING)
        log.info("chat %s: interrupted extend %s did not happen", chat_id, op.op_id)
        return None

    async def _read_for(self, api: ProxyApi, op: Operation) -> OrderDetails:
        """The order an operation is about; gone from the account → the operation fails."""
        try:
            return await api.get_order(str(op.request["order_id"]))
        except NotFound as exc:
            await self._repos.operations.finish(op.op_id, FAILED, {"error": exc.code})
            raise

    async def _settle_unknown(
        self, api: ProxyApi, chat_id: int, order_id: str, current_op: str | None
    ) -> ExtendDone | None:
        """Resolve this order's other unfinished extends before anything new is sent."""
        recovered = None
        while True:
            other = await self._repos.operations.find_in_flight(chat_id, EXTEND_KIND, order_id)
            if other is None or other.op_id == current_op:
                return recovered
            if other.status == IN_FLIGHT:
                raise AlreadyProcessing
            outcome = await self._resolve(api, chat_id, other)
            if isinstance(outcome, ExtendUnclear):
                raise AlreadyProcessing
            if isinstance(outcome, ExtendDone):
                recovered = outcome

    async def _quote_again(
        self, api: ProxyApi, chat_id: int, op: Operation, note: str
    ) -> ExtendQuote:
        order_id = str(op.request["order_id"])
        if note == "retry":
            # The same operation is offered again; its recorded expiry still holds.
            info = await self._info(api, chat_id, order_id)
            period = (await api.get_reference(info.order.type)).period(
                int(op.request["period_id"])
            )
            if period is None:
                raise StaleAction
            estimate = op.request.get("estimate")
            return ExtendQuote(
                op.op_id, info, period, Decimal(estimate) if estimate else None, note
            )
        return await self.prepare_extend(
            chat_id, op.user_id, order_id, int(op.request["period_id"]), note
        )

    def _ensure_extendable(self, order: OrderDetails) -> None:
        blocker = extend_blocker(order)
        if blocker == "pending":
            raise NotProvisioned("Order not yet provisioned upstream", status=409)
        if blocker is not None:
            raise NotExtendable(order.id, blocker)

    async def _estimate(
        self, api: ProxyApi, order: OrderDetails, period: Period
    ) -> Decimal | None:
        """The price of buying the same again for ``period``: what an extend should cost.

        Not possible for mobile orders (operator and rotation are not in the order).
        """
        if order.type == ProxyType.MOBILE.value:
            return None
        protocol = None
        if order.type == ProxyType.IPV6.value and order.protocol:
            protocol = order.protocol.upper()
        try:
            request = OrderRequest(
                type=order.type,
                country_id=order.country_id,
                period_id=period.id,
                quantity=order.proxy_count or order.quantity,
                protocol=protocol,
            )
            return (await api.calc_order(request)).price
        except (ProxyApiError, pydantic.ValidationError) as exc:
            log.info("no extend estimate for %s: %s", order.id, type(exc).__name__)
            return None

    def _lock(self, chat_id: int, order_id: str) -> asyncio.Lock:
        key = (chat_id, order_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

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
        await self._repos.orders.upsert(
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


def _country(reference: Reference | None, country_id: int | None) -> Country | None:
    if reference is None or country_id is None:
        return None
    return reference.country(country_id)


def _done_record(done: ExtendDone) -> dict[str, Any]:
    return {
        "period_name": done.period_name,
        "charged": str(done.charged) if done.charged is not None else None,
        "expires_at": _iso(done.expires_at),
        "recovered": done.recovered,
    }


def _done_from(op: Operation) -> ExtendDone:
    result = op.result or {}
    charged = result.get("charged")
    expires = result.get("expires_at")
    return ExtendDone(
        order_id=str(op.request["order_id"]),
        period_name=str(result.get("period_name") or op.request.get("period_name") or ""),
        charged=Decimal(charged) if charged else None,
        expires_at=datetime.fromisoformat(expires) if expires else None,
        recovered=bool(result.get("recovered")),
    )
