"""In-memory 1001Proxy domain: accounts, orders, proxies, transactions, faults, rate limits.

`SandboxState` is the single source of truth for the sandbox. The spec routes in
`sandbox.server` call its request-facing methods (which raise `ApiError`), and tests and the
`/_admin` routes drive it through its admin methods (which raise `AdminError` for bad input
and `UnknownObjectError` for unknown ids).

Behaviour where the spec is silent (kept in one place so the closing notes can cite it):

* Money is `Decimal` everywhere and rounded half-up to cents. Coupons take a percentage off
  the total; `unitPrice` in a quote is the undiscounted list price per unit.
* Residential orders: `quantity` (in quotes and orders) is the package's traffic in GB,
  `unitPrice` is the package price per GB, the price is the package price. The reference's
  `tarifs[].price` is the price per GB too (as the spec says), so price = traffic × it. They
  have one gateway proxy, no country, period, protocol or expiry, and cannot be extended.
* POST /orders with an Idempotency-Key: the first outcome that reached the debit (success or
  502) is cached per account and replayed for any later request with the same key, even if
  its body differs. Validation errors and 402s are not cached, so fixing the request and
  retrying with the same key works.
* An injected upstream failure on create debits, then refunds (a purchase and a refund
  transaction both appear) and answers 502 UPSTREAM_ERROR with `error.details.refunded`
  = true; no order is created. On extend it does the same and leaves the order unchanged.
  On any other endpoint it is a plain 502 with `refunded` = false.
* `expired` is never stored: an active order whose `expiresAt` has passed reports `expired`.
  Extending adds the period to max(now, expiresAt) of each extended proxy, which makes an
  expired order active again. Canceled orders cannot be extended (400 VALIDATION_ERROR).
* `chargedAmount` of an order is what its creation cost; extensions are separate purchase
  transactions and do not change it.
* Pending orders have no proxies and no expiry; provisioning (admin status -> active) gives
  them their proxies and starts the period then.
* Extension `proxyIds` name proxies by their `ip`, the only identifier /proxies exposes.
* Lists (orders, transactions) are newest first; `totalPages` is 0 when there is nothing.
* A new account's opening balance has no transaction; admin balance changes record an
  `adjustment` transaction (paymentMethod `admin`) so the history explains the balance.
* Coupons match case-insensitively and `"coupon": ""` means no coupon; `protocol` must be
  exactly `HTTPS` or `SOCKS5` (orders report it lower-case; non-ipv6 types default to https).
* Requests are authenticated before they are rate limited, so buckets exist only for real
  keys; a 429 consumes no token. `configure_rate_limits` restarts every bucket full.
* server_error and bad_body faults answer before the handler runs, so they have no side
  effects (no debit on POST /orders). latency sleeps before anything else.
* Gated faults, for tests that must not race the clock: `hold` keeps a request waiting
  before anything else until the test calls `fault.release()`; `late` answers 500 at once
  (a gateway that gave up) and carries the request out only when released — a provider
  that completes an order or an extend after the client stopped waiting.
* A held request whose client went away (a bot killed mid-request) is dropped when
  released: nothing is authenticated, rate limited, charged or answered, and the fault's
  `dropped` counts it.
* `hold_answer` carries the request out at once (an order is placed and charged) and holds
  only its answer until released: a client killed meanwhile never hears it (`dropped`
  counts such answers).
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import string
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from sandbox import errors as codes
from sandbox.addresses import deposit_address
from sandbox.errors import AdminError, ApiError, UnknownObjectError
from sandbox.jsonout import money, money_text
from sandbox.ratelimit import DEPOSITS, GENERAL, ORDERS, RateLimiter, RateLimits
from sandbox.seed import (
    CATALOGS,
    COUNTRIES,
    CURRENCIES,
    CURRENCIES_BY_CODE,
    HTTPS_PORTS,
    IP_PREFIXES,
    RESIDENT_PORTS,
    SOCKS5_PORTS,
    Catalog,
    Currency,
)
from sandbox.validation import (
    TRANSACTION_TYPES,
    OrderSpec,
    Paging,
    parse_extend_request,
    parse_order_request,
    parse_proxy_type,
    require_object,
)

Clock = Callable[[], datetime]

# Spec endpoints as "METHOD /route-template" relative to /api/v1. Faults and request counts
# are keyed by these strings.
ENDPOINTS: tuple[str, ...] = (
    "GET /account",
    "GET /account/transactions",
    "POST /orders/calc",
    "POST /orders",
    "GET /orders",
    "GET /orders/{id}",
    "GET /orders/{id}/proxies",
    "GET /orders/{id}/download",
    "POST /orders/{id}/extend",
    "GET /reference/{type}",
    "GET /deposits/addresses",
    "POST /deposits/addresses",
)
CREATE_ORDER = "POST /orders"
EXTEND_ORDER = "POST /orders/{id}/extend"
CREATE_DEPOSIT_ADDRESS = "POST /deposits/addresses"

FAULT_KINDS: tuple[str, ...] = (
    "upstream_error", "server_error", "pending", "latency", "bad_body", "hold", "late",
    "hold_answer",
)
# Faults the route layer applies before the handler runs. upstream_error on create/extend and
# pending on create are applied by the domain at the moment of the upstream call instead.
GENERIC_FAULTS = frozenset({"server_error", "bad_body", "upstream_error"})
MONEY_ENDPOINTS = frozenset({CREATE_ORDER, EXTEND_ORDER})

ORDER_SETTABLE_STATUSES: tuple[str, ...] = ("active", "pending", "canceled")
_ID_ALPHABET = string.ascii_lowercase + string.digits
_CREDENTIAL_ALPHABET = string.ascii_letters + string.digits


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Proxy:
    ip: str
    port_https: int
    port_socks5: int
    login: str
    password: str
    country: str | None
    expires_at: datetime | None


@dataclass
class Order:
    id: str
    account_id: str
    type: str
    quantity: int
    charged_amount: Decimal
    status: str  # stored status: active, pending or canceled; "expired" is derived
    created_at: datetime
    updated_at: datetime
    upstream_order_id: str
    country_id: int | None = None
    period_id: int | None = None
    protocol: str | None = None
    mobile_service_type: str | None = None
    operator_id: int | None = None
    rotation_id: int | None = None
    tarif_id: int | None = None
    coupon: str | None = None
    currency: str = "USD"
    expires_at: datetime | None = None
    proxies: list[Proxy] = field(default_factory=list)

    @property
    def proxy_count(self) -> int:
        return len(self.proxies)

    def status_at(self, now: datetime) -> str:
        if self.status == "active" and self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return self.status


@dataclass
class Transaction:
    id: str
    account_id: str
    type: str
    amount: Decimal
    description: str
    payment_method: str
    status: str
    created_at: datetime


@dataclass
class OrderReceipt:
    """The outcome of POST /orders that is replayed for a repeated Idempotency-Key."""

    order_id: str
    charged: Decimal
    upstream_order_id: str
    error: ApiError | None = None

    def replay(self) -> OrderReceipt:
        if self.error is not None:
            raise self.error
        return self


@dataclass
class Account:
    id: str
    email: str
    name: str | None
    api_key: str
    balance: Decimal
    banned: bool
    verified: bool
    created_at: datetime
    deposit_addresses: dict[str, str] = field(default_factory=dict)
    idempotency: dict[str, OrderReceipt] = field(default_factory=dict, repr=False)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def masked_api_key(self) -> str:
        # Same shape as the spec example: a fixed run of stars, then the last 8 characters.
        return "*" * 20 + self.api_key[-8:]


@dataclass
class Fault:
    endpoint: str
    kind: str
    remaining: int
    delay_seconds: float = 0.0
    # Opened by the test (hold, late); requests held by this fault wait for it.
    gate: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    # How many requests the fault has taken (a test waits for its request to arrive).
    taken: int = 0
    # Held requests whose client had gone when they were released: dropped, not carried out.
    dropped: int = 0

    def release(self) -> None:
        self.gate.set()


@dataclass(frozen=True)
class Quote:
    type: str
    quantity: int
    unit_price: Decimal | None
    price: Decimal
    currency: str = "USD"


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.per_page)


def normalize_endpoint(endpoint: str) -> str:
    """Accept "POST /orders/:id/extend" or "/api/v1/..." spellings of a spec endpoint."""
    method, _, path = endpoint.strip().partition(" ")
    path = path.strip()
    path = path.removeprefix("/api/v1")
    parts = ["{id}" if p == ":id" else "{type}" if p == ":type" else p for p in path.split("/")]
    normalized = f"{method.upper()} {'/'.join(parts).rstrip('/')}"
    if normalized not in ENDPOINTS:
        raise AdminError(f"unknown endpoint {endpoint!r}; expected one of: {', '.join(ENDPOINTS)}")
    return normalized


def parse_amount(value: object, field_name: str, *, allow_zero: bool = True) -> Decimal:
    """Admin money input: a string or number, non-negative, at most two decimals."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise AdminError(f"{field_name} must be a decimal string such as '100.00'")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise AdminError(f"{field_name} must be a decimal string such as '100.00'") from None
    if not amount.is_finite() or amount < 0 or (amount == 0 and not allow_zero):
        raise AdminError(f"{field_name} must be {'>= 0' if allow_zero else '> 0'}")
    if amount != amount.quantize(Decimal("0.01")):
        raise AdminError(f"{field_name} must have at most two decimals")
    return money(amount)


class SandboxState:
    """The whole sandbox world. Not thread-safe: use it from one event loop."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        monotonic: Callable[[], float] | None = None,
        rate_limits: RateLimits | None = None,
        seed: int | None = None,
    ) -> None:
        self.clock: Clock = clock or utc_now
        self._monotonic = monotonic or time.monotonic
        self._initial_limits = rate_limits or RateLimits()
        self._seed = seed
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}
        self.transactions: list[Transaction] = []
        self.faults: list[Fault] = []
        self.request_counts: dict[str, int] = {}
        self._by_key: dict[str, Account] = {}
        self._used_ips: set[str] = set()
        self._rng = random.Random(seed)
        self._upstream_seq = 0
        self.rate_limiter = RateLimiter(self._initial_limits, self._monotonic)
        self._background: set[asyncio.Task[None]] = set()
        self.reset()

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run work after its request was answered (a late fault); kept until done."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def cancel_background(self) -> None:
        for task in self._background:
            task.cancel()

    async def wait_background(self) -> None:
        """Until late work released so far has finished."""
        while self._background:
            await asyncio.wait(set(self._background))

    # ----------------------------------------------------------------- admin / test API

    def reset(self) -> None:
        """Forget accounts, orders, faults, counters and rate-limit changes; keep the seed."""
        # Containers are cleared in place so references held by tests stay live.
        self.accounts.clear()
        self.orders.clear()
        self.transactions.clear()
        self.faults.clear()
        self.request_counts.clear()
        self._by_key.clear()
        self._used_ips.clear()
        self._rng = random.Random(self._seed)
        self._upstream_seq = 4_810_000 + self._rng.randrange(10_000)
        self.rate_limiter.reconfigure(self._initial_limits)

    def now(self) -> datetime:
        moment = self.clock()
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def create_account(
        self,
        email: str,
        name: str | None = None,
        balance: Decimal | str = Decimal("100.00"),
        banned: bool = False,
        verified: bool = True,
        api_key: str | None = None,
    ) -> Account:
        if not isinstance(email, str) or "@" not in email:
            raise AdminError("email must be an address containing '@'")
        if name is not None and not isinstance(name, str):
            raise AdminError("name must be a string or null")
        if not isinstance(banned, bool) or not isinstance(verified, bool):
            raise AdminError("banned and verified must be booleans")
        amount = parse_amount(balance, "balance")
        if api_key is None:
            api_key = "pk_live_" + secrets.token_urlsafe(24)
        elif not isinstance(api_key, str) or len(api_key) < 8 or any(c.isspace() for c in api_key):
            raise AdminError("apiKey must be at least 8 characters without whitespace")
        if api_key in self._by_key:
            raise AdminError("apiKey is already in use")
        account = Account(
            id=self._new_id(),
            email=email,
            name=name,
            api_key=api_key,
            balance=amount,
            banned=banned,
            verified=verified,
            created_at=self.now(),
        )
        self.accounts[account.id] = account
        self._by_key[api_key] = account
        return account

    def account_by_key(self, key: str) -> Account | None:
        return self._by_key.get(key)

    def get_account(self, account_id: str) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise UnknownObjectError(f"no account {account_id!r}")
        return account

    def update_account(
        self,
        account_id: str,
        banned: bool | None = None,
        verified: bool | None = None,
        balance: Decimal | str | None = None,
    ) -> Account:
        account = self.get_account(account_id)
        for flag_name, flag in (("banned", banned), ("verified", verified)):
            if flag is not None and not isinstance(flag, bool):
                raise AdminError(f"{flag_name} must be a boolean")
        new_balance = parse_amount(balance, "balance") if balance is not None else None
        if banned is not None:
            account.banned = banned
        if verified is not None:
            account.verified = verified
        if new_balance is not None and new_balance != account.balance:
            delta = new_balance - account.balance
            account.balance = new_balance
            self._record(account, "adjustment", delta, "Manual balance adjustment", "admin")
        return account

    def credit_deposit(self, account_id: str, amount: Decimal | str, currency: str) -> Transaction:
        """Credit a deposit as if it had been confirmed on-chain (amount in USD)."""
        account = self.get_account(account_id)
        value = parse_amount(amount, "amount", allow_zero=False)
        if currency not in CURRENCIES_BY_CODE:
            raise AdminError(f"unknown currency {currency!r}")
        account.balance += value
        return self._record(account, "deposit", value, f"Crypto deposit ({currency})", "oxapay")

    def get_order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise UnknownObjectError(f"no order {order_id!r}")
        return order

    def set_order(
        self,
        order_id: str,
        expires_at: datetime | None = None,
        status: str | None = None,
    ) -> Order:
        """Move an order in time or between states; status "active" provisions a pending one."""
        order = self.get_order(order_id)
        if status is not None and status not in ORDER_SETTABLE_STATUSES:
            raise AdminError("status must be one of " + ", ".join(ORDER_SETTABLE_STATUSES))
        if expires_at is not None:
            if not isinstance(expires_at, datetime):
                raise AdminError("expires_at must be a datetime")
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
        now = self.now()
        if status == "active" and order.status == "pending":
            order.status = "active"
            self._provision(order, now)
        elif status == "pending" and order.status != "pending":
            # "Not provisioned" means no proxies upstream, so they are dropped.
            order.status = "pending"
            order.proxies = []
            order.expires_at = None
        elif status is not None:
            order.status = status
        if expires_at is not None:
            order.expires_at = expires_at
            for proxy in order.proxies:
                proxy.expires_at = expires_at
        order.updated_at = now
        return order

    def add_fault(
        self, endpoint: str, kind: str, times: int = 1, delay_seconds: float = 0.0
    ) -> Fault:
        """Make the next `times` requests to `endpoint` misbehave in the way `kind` says."""
        normalized = normalize_endpoint(endpoint)
        if kind not in FAULT_KINDS:
            raise AdminError("kind must be one of " + ", ".join(FAULT_KINDS))
        if kind == "pending" and normalized != CREATE_ORDER:
            raise AdminError("kind 'pending' only applies to POST /orders")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise AdminError("times must be an integer >= 1")
        if isinstance(delay_seconds, bool) or not isinstance(delay_seconds, int | float):
            raise AdminError("delaySeconds must be a number")
        if not 0 <= delay_seconds <= 300:
            raise AdminError("delaySeconds must be between 0 and 300")
        fault = Fault(normalized, kind, times, float(delay_seconds))
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def configure_rate_limits(
        self,
        general: int | None = None,
        orders: int | None = None,
        deposits: int | None = None,
        enabled: bool | None = None,
    ) -> RateLimits:
        """Change per-minute limits; buckets restart full with the new capacity."""
        current = self.rate_limiter.limits
        if enabled is not None and not isinstance(enabled, bool):
            raise AdminError("enabled must be a boolean")
        try:
            limits = RateLimits(
                general=current.general if general is None else general,
                orders=current.orders if orders is None else orders,
                deposits=current.deposits if deposits is None else deposits,
                enabled=current.enabled if enabled is None else enabled,
            )
        except ValueError as exc:
            raise AdminError(str(exc)) from None
        self.rate_limiter.reconfigure(limits)
        return limits

    def orders_of(self, account_id: str) -> list[Order]:
        """The account's orders, newest first (pending ones included)."""
        return [o for o in reversed(self.orders.values()) if o.account_id == account_id]

    def transactions_of(self, account_id: str) -> list[Transaction]:
        """The account's transactions, newest first."""
        return [t for t in reversed(self.transactions) if t.account_id == account_id]

    # ------------------------------------------------------------ request-facing API

    def count_request(self, endpoint: str) -> None:
        self.request_counts[endpoint] = self.request_counts.get(endpoint, 0) + 1

    def take_fault(self, endpoint: str, kinds: frozenset[str] | set[str]) -> Fault | None:
        """Consume one use of the oldest matching fault."""
        for fault in self.faults:
            if fault.endpoint == endpoint and fault.kind in kinds:
                fault.remaining -= 1
                fault.taken += 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def authenticate(self, authorization: str | None) -> Account:
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise ApiError(codes.UNAUTHORIZED, "Missing or malformed Authorization header")
        account = self._by_key.get(token)
        if account is None:
            raise ApiError(codes.INVALID_API_KEY, "Invalid API key")
        if account.banned:
            raise ApiError(codes.BANNED, "Account is banned")
        if not account.verified:
            raise ApiError(codes.UNVERIFIED, "Account email not verified")
        return account

    def check_rate_limit(self, api_key: str, endpoint: str) -> None:
        scopes = [GENERAL]
        if endpoint == CREATE_ORDER:
            scopes.append(ORDERS)
        elif endpoint == CREATE_DEPOSIT_ADDRESS:
            scopes.append(DEPOSITS)
        retry_after = self.rate_limiter.acquire(api_key, scopes)
        if retry_after is not None:
            raise ApiError(codes.RATE_LIMITED, "Rate limit exceeded", retry_after=retry_after)

    def reference(self, proxy_type: str) -> Catalog:
        return CATALOGS[parse_proxy_type(proxy_type)]

    def quote(self, body: object) -> Quote:
        return self._quote(parse_order_request(body))

    async def create_order(
        self, account: Account, body: object, idempotency_key: str | None = None
    ) -> OrderReceipt:
        if idempotency_key is not None and len(idempotency_key) > 255:
            raise ApiError.validation({"Idempotency-Key": "must be at most 255 characters"})
        # The per-account lock makes check-debit-record atomic and serialises concurrent
        # requests that share an idempotency key, so the second one sees the first's result.
        async with account.lock:
            if idempotency_key:
                cached = account.idempotency.get(idempotency_key)
                if cached is not None:
                    return cached.replay()
            spec = parse_order_request(body)
            quote = self._quote(spec)
            self._ensure_funds(account, quote.price)
            order_id = self._new_id()
            account.balance -= quote.price
            self._record(
                account, "purchase", -quote.price, f"Order {order_id} ({spec.type})", "balance"
            )
            fault = self.take_fault(CREATE_ORDER, {"upstream_error", "pending"})
            # Stands in for the upstream provider call: other requests may run meanwhile.
            await asyncio.sleep(0)
            if fault is not None and fault.kind == "upstream_error":
                account.balance += quote.price
                self._record(
                    account,
                    "refund",
                    quote.price,
                    f"Refund for order {order_id} ({spec.type}): provider error",
                    "balance",
                )
                receipt = OrderReceipt(order_id, quote.price, "", _upstream_error(refunded=True))
            else:
                order = self._new_order(order_id, account, spec, quote.price)
                if fault is None:
                    self._provision(order, order.created_at)
                receipt = OrderReceipt(order.id, quote.price, order.upstream_order_id)
            if idempotency_key:
                account.idempotency[idempotency_key] = receipt
            return receipt.replay()

    def list_orders(
        self, account: Account, paging: Paging, status: str | None, proxy_type: str | None
    ) -> Page[Order]:
        now = self.now()
        orders = [
            o
            for o in self.orders_of(account.id)
            if (status is None or o.status_at(now) == status)
            and (proxy_type is None or o.type == proxy_type)
        ]
        return _paginate(orders, paging)

    def order_for(self, account: Account, order_id: str) -> Order:
        order = self.orders.get(order_id)
        # Someone else's order is reported exactly like a missing one.
        if order is None or order.account_id != account.id:
            raise ApiError(codes.NOT_FOUND, "Order not found")
        return order

    def provisioned_order_for(self, account: Account, order_id: str) -> Order:
        order = self.order_for(account, order_id)
        if order.status == "pending":
            raise ApiError(codes.NOT_PROVISIONED, "Order not yet provisioned upstream")
        return order

    @staticmethod
    def proxy_lines(order: Order, fmt: str, protocol: str) -> list[str]:
        lines = []
        for proxy in order.proxies:
            port = proxy.port_https if protocol == "https" else proxy.port_socks5
            address = f"{proxy.ip}:{port}"
            if fmt == "user:pass@ip:port":
                address = f"{proxy.login}:{proxy.password}@{address}"
            lines.append(address)
        return lines

    async def extend_order(self, account: Account, order_id: str, body: object) -> Decimal:
        async with account.lock:
            order = self.provisioned_order_for(account, order_id)
            if order.type == "resident":
                raise ApiError.validation(
                    {"type": "resident orders are not extendable; buy a new traffic package"}
                )
            if order.status == "canceled":
                raise ApiError.validation({"orderId": "canceled orders cannot be extended"})
            request = parse_extend_request(require_object(body), order.type)
            proxies = order.proxies
            if request.proxy_ids is not None:
                unknown = [p for p in request.proxy_ids if p not in {x.ip for x in proxies}]
                if unknown:
                    raise ApiError.validation(
                        {"proxyIds": "unknown proxies: " + ", ".join(unknown)}
                    )
                proxies = [p for p in proxies if p.ip in request.proxy_ids]
            if not proxies:
                raise ApiError.validation({"proxyIds": "no proxies to extend"})
            unit = CATALOGS[order.type].unit_price(request.period.id, order.mobile_service_type)
            price = money(unit * len(proxies))
            self._ensure_funds(account, price)
            account.balance -= price
            description = f"Extension of order {order.id} ({order.type}, {request.period.name})"
            self._record(account, "purchase", -price, description, "balance")
            fault = self.take_fault(EXTEND_ORDER, {"upstream_error"})
            await asyncio.sleep(0)  # the upstream call
            if fault is not None:
                account.balance += price
                self._record(
                    account,
                    "refund",
                    price,
                    f"Refund for extension of order {order.id}: provider error",
                    "balance",
                )
                raise _upstream_error(refunded=True)
            now = self.now()
            for proxy in proxies:
                base = max(now, proxy.expires_at or now)
                proxy.expires_at = base + timedelta(days=request.period.days)
            order.expires_at = max(p.expires_at for p in order.proxies if p.expires_at)
            order.updated_at = now
            return price

    def list_transactions(
        self, account: Account, paging: Paging, tx_type: str | None
    ) -> Page[Transaction]:
        items = [t for t in self.transactions_of(account.id) if tx_type in (None, t.type)]
        return _paginate(items, paging)

    def deposit_addresses(self, account: Account) -> list[tuple[Currency, str | None]]:
        return [(c, account.deposit_addresses.get(c.code)) for c in CURRENCIES]

    def create_deposit_address(self, account: Account, body: object) -> tuple[Currency, str]:
        value = require_object(body).get("currency")
        if value is None:
            raise ApiError.validation({"currency": "is required"})
        if not isinstance(value, str):
            raise ApiError.validation({"currency": "must be a string"})
        currency = CURRENCIES_BY_CODE.get(value)
        if currency is None:
            raise ApiError(
                codes.INVALID_CURRENCY,
                f"Unsupported deposit currency: {value}",
                {"currency": "must be one of " + ", ".join(CURRENCIES_BY_CODE)},
            )
        address = account.deposit_addresses.get(currency.code)
        if address is None:
            address = deposit_address(account.id, currency.code, currency.address_style)
            account.deposit_addresses[currency.code] = address
        return currency, address

    # ------------------------------------------------------------------ internals

    def _new_id(self) -> str:
        # CUID-looking (25 lowercase alphanumerics starting "cm"), like "cm1abc123def456".
        return "cm" + "".join(self._rng.choice(_ID_ALPHABET) for _ in range(23))

    def _credential(self, prefix: str, length: int) -> str:
        return prefix + "".join(self._rng.choice(_CREDENTIAL_ALPHABET) for _ in range(length))

    def _record(
        self, account: Account, tx_type: str, amount: Decimal, description: str, method: str
    ) -> Transaction:
        assert tx_type in TRANSACTION_TYPES
        tx = Transaction(
            id=self._new_id(),
            account_id=account.id,
            type=tx_type,
            amount=money(amount),
            description=description,
            payment_method=method,
            status="completed",
            created_at=self.now(),
        )
        self.transactions.append(tx)
        return tx

    @staticmethod
    def _ensure_funds(account: Account, price: Decimal) -> None:
        if account.balance < price:
            raise ApiError(
                codes.INSUFFICIENT_FUNDS,
                "Insufficient balance",
                {"required": money_text(price), "available": money_text(account.balance)},
            )

    @staticmethod
    def _quote(spec: OrderSpec) -> Quote:
        if spec.tarif is not None:
            unit_price = money(spec.tarif.price_per_gb)
            list_total = spec.tarif.price
        else:
            assert spec.period is not None
            catalog = CATALOGS[spec.type]
            unit_price = catalog.unit_price(spec.period.id, spec.mobile_service_type)
            list_total = unit_price * spec.quantity
        if spec.coupon is not None:
            list_total = list_total * (100 - spec.coupon.percent_off) / 100
        return Quote(spec.type, spec.quantity, unit_price, money(list_total))

    def _new_order(self, order_id: str, account: Account, spec: OrderSpec, price: Decimal) -> Order:
        now = self.now()
        self._upstream_seq += 1 + self._rng.randrange(7)
        order = Order(
            id=order_id,
            account_id=account.id,
            type=spec.type,
            quantity=spec.quantity,
            charged_amount=price,
            status="pending",
            created_at=now,
            updated_at=now,
            upstream_order_id=str(self._upstream_seq),
            country_id=spec.country.id if spec.country else None,
            period_id=spec.period.id if spec.period else None,
            protocol=spec.protocol,
            mobile_service_type=spec.mobile_service_type,
            operator_id=spec.operator_id,
            rotation_id=spec.rotation_id,
            tarif_id=spec.tarif.id if spec.tarif else None,
            coupon=spec.coupon.code if spec.coupon else None,
        )
        self.orders[order.id] = order
        return order

    def _provision(self, order: Order, now: datetime) -> None:
        """Give an order its proxies and start its period (the upstream side of an order)."""
        order.status = "active"
        if order.type == "resident":
            order.expires_at = None
            order.proxies = [
                Proxy(
                    ip=self._allocate_ips("resident", 1)[0],
                    port_https=RESIDENT_PORTS[0],
                    port_socks5=RESIDENT_PORTS[1],
                    login=self._credential("res_", 10),
                    password=self._credential("", 14),
                    country=None,
                    expires_at=None,
                )
            ]
            return
        period = CATALOGS[order.type].period(order.period_id or 0)
        assert period is not None
        order.expires_at = now + timedelta(days=period.days)
        country = COUNTRIES[order.country_id].code if order.country_id else None
        login = self._credential("user_", 8)
        password = self._credential("", 12)
        port_https = self._rng.choice(HTTPS_PORTS)
        port_socks5 = self._rng.choice(SOCKS5_PORTS)
        order.proxies = [
            Proxy(ip, port_https, port_socks5, login, password, country, order.expires_at)
            for ip in self._allocate_ips(order.type, order.quantity)
        ]

    def _allocate_ips(self, proxy_type: str, count: int) -> list[str]:
        """A run of consecutive unused addresses, like a provider handing out a subnet."""
        prefixes = IP_PREFIXES[proxy_type]
        for _ in range(1000):
            first, second = self._rng.choice(prefixes)
            value = self._rng.randrange(1, 256 * 256)
            ips: list[str] = []
            while len(ips) < count and value < 256 * 256:
                third, fourth = divmod(value, 256)
                value += 1
                # Network and broadcast-looking addresses would look odd in a proxy list.
                if 0 < fourth < 255:
                    ips.append(f"{first}.{second}.{third}.{fourth}")
            if len(ips) == count and self._used_ips.isdisjoint(ips):
                self._used_ips.update(ips)
                return ips
        raise RuntimeError(f"sandbox address pool for {proxy_type} is exhausted")


def _paginate(items: Sequence[T], paging: Paging) -> Page[T]:
    start = (paging.page - 1) * paging.per_page
    return Page(
        items=list(items[start : start + paging.per_page]),
        page=paging.page,
        per_page=paging.per_page,
        total=len(items),
    )


def _upstream_error(*, refunded: bool) -> ApiError:
    return ApiError(
        codes.UPSTREAM_ERROR, "Proxy provider returned an error", {"refunded": refunded}
    )
