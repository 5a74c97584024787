"""The 1001Proxy client against the sandbox over real HTTP on 127.0.0.1.

``httpx.MockTransport`` is used only for failures the sandbox cannot produce
(malformed envelopes, gateway HTML pages, timeouts, codes in odd places).
Time is a ``ManualClock``: retries and rate-limit waits advance it instead of
sleeping, so every wait is asserted exactly and the file stays fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import traceback
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from core.clock import ManualClock
from proxy_api import (
    DEPOSIT_CURRENCIES,
    ERRORS_BY_CODE,
    Account,
    AuthError,
    BadResponse,
    Banned,
    CreatedOrder,
    DepositAddress,
    DownloadFormat,
    ExtendResult,
    InsufficientFunds,
    InvalidApiKey,
    InvalidCurrency,
    InvalidType,
    NotFound,
    NotProvisioned,
    Order,
    OrderDetails,
    OrderRequest,
    OrderStatus,
    Page,
    Protocol,
    ProxyApi,
    ProxyApiClient,
    ProxyApiError,
    ProxyCredential,
    ProxyType,
    Quote,
    RateLimited,
    RateLimits,
    Reference,
    RetryPolicy,
    ServerError,
    Transaction,
    TransactionType,
    TransportError,
    Unauthorized,
    Unverified,
    UpstreamError,
    ValidationError,
    build_http_client,
)
from proxy_api.envelope import decode
from proxy_api.ratelimit import KeyLimiter, Scope, TokenBucket
from tests.sandbox_fixture import sandbox, sandbox_account  # noqa: F401

IPV4_ORDER = OrderRequest(type=ProxyType.IPV4, country_id=1, period_id=1, quantity=2)
MOCK_KEY = "sk_mock_0123456789abcdefSECRET"
NO_JITTER = RetryPolicy(jitter=0.0)
# The spec's error table.
SPEC_STATUS = {
    "VALIDATION_ERROR": 400,
    "INVALID_TYPE": 400,
    "INVALID_CURRENCY": 400,
    "UNAUTHORIZED": 401,
    "INVALID_API_KEY": 401,
    "INSUFFICIENT_FUNDS": 402,
    "BANNED": 403,
    "UNVERIFIED": 403,
    "NOT_FOUND": 404,
    "NOT_PROVISIONED": 409,
    "RATE_LIMITED": 429,
    "SERVER_ERROR": 500,
    "UPSTREAM_ERROR": 502,
}


# -- helpers ----------------------------------------------------------------


def assert_key_hidden(key: str, *things: object) -> None:
    """``key`` appears in no str/repr/args/details/traceback of ``things``."""
    for thing in things:
        texts = [str(thing), repr(thing)]
        if isinstance(thing, BaseException):
            texts += [repr(thing.args), "".join(traceback.format_exception(thing))]
            if isinstance(thing, ProxyApiError):
                texts.append(repr(thing.details))
        for text in texts:
            assert key not in text, f"API key leaked via {type(thing).__name__}: {text!r}"


def assert_not_chained(exc: BaseException) -> None:
    # httpx exceptions reference the request and its Authorization header.
    assert exc.__cause__ is None
    assert exc.__context__ is None


class LiftingClock(ManualClock):
    """A ManualClock that runs ``on_sleep`` whenever the client decides to wait.

    The sandbox keeps real time, so moving the manual clock does not refill its
    buckets; tests lift the server limit at the moment the client backs off.
    """

    def __init__(self, on_sleep: Callable[[], None]) -> None:
        super().__init__()
        self._on_sleep = on_sleep

    async def sleep(self, seconds: float) -> None:
        self._on_sleep()
        await super().sleep(seconds)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def envelope_error(
    status: int, code: str | None, message: str = "boom", **extra: Any
) -> httpx.Response:
    """An error envelope; ``error=`` merges into the error object, other kwargs go top level."""
    error: dict[str, Any] = {"message": message}
    if code is not None:
        error["code"] = code
    error.update(extra.pop("error", {}))
    return httpx.Response(
        status,
        headers=extra.pop("headers", {}),
        text=json.dumps({"success": False, "error": error, **extra}),
    )


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response], clock: ManualClock
) -> tuple[httpx.AsyncClient, ProxyApiClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = ProxyApiClient(http, "http://api.test/api/v1", clock=clock, retry=NO_JITTER)
    return http, client


def count(server: Any, endpoint: str) -> int:
    """Requests the sandbox received for a route template such as "GET /orders/{id}"."""
    return server.state.request_counts.get(endpoint, 0)


# -- fixtures ---------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = build_http_client(timeout=5.0)
    yield client
    await client.aclose()


@pytest.fixture
async def client(
    http: httpx.AsyncClient,
    sandbox: Any,  # noqa: F811
    clock: ManualClock,
) -> AsyncIterator[ProxyApiClient]:
    api_client = ProxyApiClient(http, sandbox.base_url, clock=clock, retry=NO_JITTER)
    yield api_client
    await api_client.aclose()


@pytest.fixture
def api(client: ProxyApiClient, sandbox_account: Any) -> ProxyApi:  # noqa: F811
    return client.for_key(sandbox_account.api_key)


# -- typed results ----------------------------------------------------------


async def test_account_is_typed_and_balance_is_exact(api: ProxyApi, sandbox_account: Any) -> None:  # noqa: F811
    account = await api.get_account()
    assert isinstance(account, Account)
    assert account.id == sandbox_account.id
    assert account.email == sandbox_account.email
    assert account.balance == Decimal("100.00")
    assert str(account.balance) == "100.00"
    assert account.api_key_masked is not None
    assert sandbox_account.api_key not in account.api_key_masked
    assert account.created_at.tzinfo is not None


async def test_quote_keeps_cents_as_decimal(api: ProxyApi) -> None:
    quote = await api.calc_order(
        OrderRequest(type=ProxyType.IPV4, country_id=1, period_id=1, quantity=10)
    )
    assert isinstance(quote, Quote)
    assert quote.type == "ipv4"
    assert quote.quantity == 10
    assert quote.price == Decimal("12.50")
    assert str(quote.price) == "12.50"  # parsed from the JSON text, never through float
    assert quote.unit_price == Decimal("1.25")
    assert quote.currency == "USD"


async def test_reference_is_typed(api: ProxyApi) -> None:
    ipv4 = await api.get_reference(ProxyType.IPV4)
    assert isinstance(ipv4, Reference)
    assert ipv4.country(1) is not None
    assert ipv4.period(1) is not None
    assert ipv4.tarifs == []
    resident = await api.get_reference("resident")
    assert resident.countries == []
    assert resident.tarifs
    assert all(isinstance(t.price, Decimal) for t in resident.tarifs)
    mobile = await api.get_reference(ProxyType.MOBILE)
    assert mobile.operators
    assert mobile.rotations


async def test_order_lifecycle_is_typed_and_money_exact(
    api: ProxyApi,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
) -> None:
    created = await api.create_order(IPV4_ORDER, idempotency_key="lifecycle-1")
    assert isinstance(created, CreatedOrder)
    assert created.ok is True
    assert created.charged == Decimal("2.50")

    details = await api.get_order(created.order_id)
    assert isinstance(details, OrderDetails)
    assert details.id == created.order_id
    assert details.type == "ipv4"
    assert details.quantity == 2
    assert details.charged_amount == created.charged
    assert details.period_id == 1

    orders = await api.list_orders(status=OrderStatus.ACTIVE, type=ProxyType.IPV4)
    assert isinstance(orders, Page)
    assert [o.id for o in orders.items] == [created.order_id]
    assert isinstance(orders.items[0], Order)
    assert orders.meta.total == 1
    assert orders.meta.total_pages == 1

    proxies = await api.get_proxies(created.order_id)
    assert len(proxies) == 2
    assert all(isinstance(p, ProxyCredential) for p in proxies)
    assert all(p.ip and p.port_https and p.login and p.password for p in proxies)

    plain = await api.download_proxies(created.order_id)
    assert plain.split() == [f"{p.ip}:{p.port_https}" for p in proxies]
    with_auth = await api.download_proxies(
        created.order_id, format=DownloadFormat.USER_PASS_IP_PORT, protocol=Protocol.SOCKS5
    )
    assert with_auth.split() == [f"{p.login}:{p.password}@{p.ip}:{p.port_socks5}" for p in proxies]

    extended = await api.extend_order(created.order_id, period_id=1)
    assert isinstance(extended, ExtendResult)
    assert extended.ok is True
    assert extended.charged > 0

    account = await api.get_account()
    assert account.balance == Decimal("100.00") - created.charged - extended.charged

    purchases = await api.list_transactions(type=TransactionType.PURCHASE)
    assert all(isinstance(t, Transaction) for t in purchases.items)
    assert sum(t.amount for t in purchases.items) == -(created.charged + extended.charged)


async def test_deposit_amounts_sum_exactly(
    api: ProxyApi,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
) -> None:
    before = {t.id for t in (await api.list_transactions(per_page=100)).items}
    sandbox.state.credit_deposit(sandbox_account.id, Decimal("0.10"), "BTC")
    sandbox.state.credit_deposit(sandbox_account.id, Decimal("0.20"), "LTC")
    deposits = await api.list_transactions(type="deposit")
    amounts = [t.amount for t in deposits.items if t.id not in before]
    assert sorted(amounts) == [Decimal("0.10"), Decimal("0.20")]
    assert sum(amounts) == Decimal("0.30")  # as floats this would be 0.30000000000000004
    assert (await api.get_account()).balance == Decimal("100.30")


async def test_deposit_addresses(api: ProxyApi) -> None:
    addresses = await api.list_deposit_addresses()
    assert [a.currency for a in addresses] == list(DEPOSIT_CURRENCIES)
    assert all(isinstance(a, DepositAddress) for a in addresses)

    btc = await api.create_deposit_address("BTC")
    assert btc.currency == "BTC"
    assert btc.address
    assert await api.create_deposit_address("BTC") == btc  # idempotent per spec
    listed = {a.currency: a for a in await api.list_deposit_addresses()}
    assert listed["BTC"].address == btc.address


# -- pagination -------------------------------------------------------------


async def test_iterators_walk_every_page(
    api: ProxyApi,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
) -> None:
    created = [
        (await api.create_order(IPV4_ORDER, idempotency_key=f"page-{i}")).order_id for i in range(5)
    ]
    first = await api.list_orders(per_page=2)
    assert first.meta.total == 5
    assert first.meta.total_pages == 3
    assert len(first.items) == 2

    walked = [order.id async for order in api.iter_orders(per_page=2)]
    assert sorted(walked) == sorted(created)
    assert count(sandbox, "GET /orders") == 1 + 3

    before = await api.list_transactions(type=TransactionType.DEPOSIT)
    for i in range(3):
        sandbox.state.credit_deposit(sandbox_account.id, Decimal(f"1.0{i}"), "BTC")
    deposits = [t async for t in api.iter_transactions(per_page=2, type=TransactionType.DEPOSIT)]
    assert len(deposits) == before.meta.total + 3
    assert {Decimal("1.00"), Decimal("1.01"), Decimal("1.02")} <= {t.amount for t in deposits}
    total = (await api.list_transactions(per_page=1)).meta.total
    everything = [t async for t in api.iter_transactions(per_page=3)]
    assert len(everything) == total
    assert len({t.id for t in everything}) == total


async def test_iterating_nothing_makes_one_request(api: ProxyApi, sandbox: Any) -> None:  # noqa: F811
    assert [o async for o in api.iter_orders()] == []
    assert count(sandbox, "GET /orders") == 1


# -- error mapping against the sandbox --------------------------------------


async def test_auth_errors(
    client: ProxyApiClient,
    sandbox: Any,  # noqa: F811
) -> None:
    banned = sandbox.state.create_account("banned@example.com", banned=True)
    unverified = sandbox.state.create_account("unverified@example.com", verified=False)
    cases: list[tuple[str, type[AuthError]]] = [
        (banned.api_key, Banned),
        (unverified.api_key, Unverified),
        ("sk_live_does_not_exist_0000000000", InvalidApiKey),
    ]
    for key, expected in cases:
        with pytest.raises(expected) as caught:
            await client.for_key(key).get_account()
        assert caught.value.status in (401, 403)
        assert caught.value.code == expected.code
        assert_key_hidden(key, caught.value)


async def test_missing_key_is_unauthorized(http: httpx.AsyncClient, sandbox: Any) -> None:  # noqa: F811
    # The client refuses to send a request without a key, so go around it.
    response = await http.get(f"{sandbox.base_url}/account")
    assert response.status_code == 401
    with pytest.raises(Unauthorized) as caught:
        decode(response, "GET /account", "unused", lambda: ManualClock().now())
    assert caught.value.code == "UNAUTHORIZED"


def test_for_key_rejects_unusable_keys() -> None:
    client = ProxyApiClient(httpx.AsyncClient(), "http://api.test/api/v1")
    for bad in ("", "has space", "new\nline", "ключ"):
        with pytest.raises(Unauthorized) as caught:
            client.for_key(bad)
        if bad:
            assert_key_hidden(bad, caught.value)


async def test_insufficient_funds_details_are_decimal(api: ProxyApi, sandbox: Any) -> None:  # noqa: F811
    big = OrderRequest(type=ProxyType.IPV4, country_id=1, period_id=5, quantity=1000)
    with pytest.raises(InsufficientFunds) as caught:
        await api.create_order(big, idempotency_key="too-big")
    error = caught.value
    assert error.status == 402
    assert error.available == Decimal("100.00")
    assert isinstance(error.required, Decimal)
    assert error.required == (await api.calc_order(big)).price
    assert count(sandbox, "POST /orders") == 1


async def test_not_found_for_unknown_and_foreign_orders(
    api: ProxyApi,
    client: ProxyApiClient,
    sandbox: Any,  # noqa: F811
) -> None:
    with pytest.raises(NotFound) as caught:
        await api.get_order("cm_no_such_order")
    assert caught.value.status == 404

    other = client.for_key(sandbox.state.create_account("other@example.com").api_key)
    foreign = await other.create_order(IPV4_ORDER, idempotency_key="foreign")
    for call in (api.get_order, api.get_proxies, api.download_proxies):
        with pytest.raises(NotFound):
            await call(foreign.order_id)
    with pytest.raises(NotFound):
        await api.extend_order(foreign.order_id, period_id=1)


async def test_path_ids_cannot_escape_their_segment(api: ProxyApi, sandbox: Any) -> None:  # noqa: F811
    for sneaky in ("..", "../account", "x/../../account", "."):
        with pytest.raises(ProxyApiError):
            await api.get_order(sneaky)
    assert count(sandbox, "GET /account") == 0
    assert count(sandbox, "GET /orders") == 0


async def test_pending_order_is_not_provisioned(api: ProxyApi, sandbox: Any) -> None:  # noqa: F811
    sandbox.state.add_fault("POST /orders", "pending")
    created = await api.create_order(IPV4_ORDER, idempotency_key="pending-1")
    assert (await api.get_order(created.order_id)).status == OrderStatus.PENDING
    with pytest.raises(NotProvisioned) as caught:
        await api.get_proxies(created.order_id)
    assert caught.value.status == 409
    with pytest.raises(NotProvisioned):
        await api.extend_order(created.order_id, period_id=1)


async def test_upstream_error_is_refunded_and_not_retried(
    api: ProxyApi,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
    clock: ManualClock,
) -> None:
    sandbox.state.add_fault("POST /orders", "upstream_error")
    with pytest.raises(UpstreamError) as caught:
        await api.create_order(IPV4_ORDER, idempotency_key="upstream-1")
    assert caught.value.status == 502
    assert caught.value.refunded is True
    assert count(sandbox, "POST /orders") == 1
    assert clock.slept == []
    assert (await api.get_account()).balance == Decimal("100.00")


async def test_validation_errors_carry_details(api: ProxyApi) -> None:
    with pytest.raises(ValidationError) as caught:
        await api.calc_order(OrderRequest(type=ProxyType.IPV4))
    error = caught.value
    assert type(error) is ValidationError
    assert error.status == 400
    assert {"countryId", "periodId", "quantity"} <= set(error.details)

    created = await api.create_order(IPV4_ORDER, idempotency_key="validation-1")
    with pytest.raises(ValidationError) as caught:
        await api.extend_order(created.order_id, period_id=1, proxy_ids=[])
    assert "proxyIds" in caught.value.details


async def test_invalid_type_and_currency(api: ProxyApi) -> None:
    with pytest.raises(InvalidType) as caught:
        await api.get_reference("teleport")
    assert caught.value.status == 400
    with pytest.raises(InvalidType):
        await api.list_orders(type="teleport")
    with pytest.raises(InvalidType):
        await api.list_orders(status="lost")
    with pytest.raises(InvalidCurrency) as caught_currency:
        await api.create_deposit_address("DOGGO")
    assert caught_currency.value.status == 400
    assert isinstance(caught_currency.value, ValidationError)  # a 400 like the rest


# -- idempotency ------------------------------------------------------------


async def test_same_idempotency_key_creates_one_order(
    api: ProxyApi,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
) -> None:
    first = await api.create_order(IPV4_ORDER, idempotency_key="same-key")
    second = await api.create_order(IPV4_ORDER, idempotency_key="same-key")
    assert second == first
    assert len(sandbox.state.orders_of(sandbox_account.id)) == 1
    purchases = [
        t for t in sandbox.state.transactions_of(sandbox_account.id) if t.type == "purchase"
    ]
    assert len(purchases) == 1
    assert (await api.get_account()).balance == Decimal("100.00") - first.charged


async def test_create_order_retries_server_error_with_the_same_key(
    api: ProxyApi,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
    clock: ManualClock,
) -> None:
    sandbox.state.add_fault("POST /orders", "server_error")
    created = await api.create_order(IPV4_ORDER, idempotency_key="retry-1")
    assert count(sandbox, "POST /orders") == 2
    assert clock.slept == [0.5]
    assert [o.id for o in sandbox.state.orders_of(sandbox_account.id)] == [created.order_id]


# -- retries ----------------------------------------------------------------


async def test_get_retries_server_error_then_succeeds(
    api: ProxyApi,
    sandbox: Any,  # noqa: F811
    clock: ManualClock,
) -> None:
    sandbox.state.add_fault("GET /account", "server_error", times=2)
    account = await api.get_account()
    assert account.balance == Decimal("100.00")
    assert count(sandbox, "GET /account") == 3
    assert clock.slept == [0.5, 1.0]


async def test_get_gives_up_after_max_retries(
    api: ProxyApi,
    sandbox: Any,  # noqa: F811
    clock: ManualClock,
) -> None:
    sandbox.state.add_fault("GET /account", "server_error", times=10)
    with pytest.raises(ServerError) as caught:
        await api.get_account()
    assert caught.value.status == 500
    assert count(sandbox, "GET /account") == 3
    assert clock.slept == [0.5, 1.0]


async def test_extend_is_never_retried(
    api: ProxyApi,
    sandbox: Any,  # noqa: F811
    clock: ManualClock,
) -> None:
    created = await api.create_order(IPV4_ORDER, idempotency_key="extend-1")
    sandbox.state.add_fault("POST /orders/{id}/extend", "server_error")
    with pytest.raises(ServerError):
        await api.extend_order(created.order_id, period_id=1)
    assert count(sandbox, "POST /orders/{id}/extend") == 1

    sandbox.state.add_fault("POST /orders/{id}/extend", "upstream_error")
    with pytest.raises(UpstreamError) as caught:
        await api.extend_order(created.order_id, period_id=1)
    assert caught.value.refunded is True
    assert count(sandbox, "POST /orders/{id}/extend") == 2

    sandbox.state.configure_rate_limits(general=1)
    await api.get_order(created.order_id)  # spends the only token
    with pytest.raises(RateLimited) as limited:
        await api.extend_order(created.order_id, period_id=1)
    assert limited.value.retry_after == 60.0
    assert count(sandbox, "POST /orders/{id}/extend") == 3
    assert clock.slept == []

    sandbox.state.configure_rate_limits(general=1000)
    # Only the order itself was paid for: failed extends cost nothing.
    assert (await api.get_account()).balance == Decimal("100.00") - created.charged


# -- rate limits ------------------------------------------------------------


async def test_429_waits_retry_after_then_succeeds(
    http: httpx.AsyncClient,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
) -> None:
    clock = LiftingClock(lambda: sandbox.state.configure_rate_limits(general=1000))
    client = ProxyApiClient(
        http, sandbox.base_url, clock=clock, retry=NO_JITTER, limits=RateLimits.unlimited()
    )
    api = client.for_key(sandbox_account.api_key)
    sandbox.state.configure_rate_limits(general=3)
    for _ in range(3):
        await api.get_account()
    await api.get_account()  # 429 Retry-After: 20 (one token every 20 s), then retried
    assert clock.slept == [20.0]
    assert count(sandbox, "GET /account") == 5


async def test_429_beyond_wait_cap_raises_rate_limited(
    http: httpx.AsyncClient,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
    clock: ManualClock,
) -> None:
    client = ProxyApiClient(
        http, sandbox.base_url, clock=clock, retry=NO_JITTER, limits=RateLimits.unlimited()
    )
    api = client.for_key(sandbox_account.api_key)
    sandbox.state.configure_rate_limits(general=3)
    for _ in range(3):
        await api.get_account()
    # The sandbox keeps real time: the second 429 would push the total wait to 40 s > 30 s.
    with pytest.raises(RateLimited) as caught:
        await api.get_account()
    assert caught.value.status == 429
    assert caught.value.retry_after == 20.0
    assert clock.slept == [20.0]
    assert count(sandbox, "GET /account") == 3 + 2

    sandbox.state.configure_rate_limits(general=1)
    await api.list_deposit_addresses()
    # Retry-After 60 alone exceeds the cap: raised at once, nothing slept.
    with pytest.raises(RateLimited) as caught:
        await api.list_deposit_addresses()
    assert caught.value.retry_after == 60.0
    assert clock.slept == [20.0]


async def test_order_scope_429_is_retried_with_the_same_key(
    http: httpx.AsyncClient,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
) -> None:
    clock = LiftingClock(lambda: sandbox.state.configure_rate_limits(orders=1000))
    client = ProxyApiClient(
        http, sandbox.base_url, clock=clock, retry=NO_JITTER, limits=RateLimits.unlimited()
    )
    api = client.for_key(sandbox_account.api_key)
    sandbox.state.configure_rate_limits(orders=2)
    await api.create_order(IPV4_ORDER, idempotency_key="scope-1")
    await api.create_order(IPV4_ORDER, idempotency_key="scope-2")
    await api.create_order(IPV4_ORDER, idempotency_key="scope-3")
    assert clock.slept == [30.0]
    assert count(sandbox, "POST /orders") == 4
    assert len(sandbox.state.orders_of(sandbox_account.id)) == 3


async def test_client_buckets_slow_down_before_the_server_says_429(
    http: httpx.AsyncClient,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
    clock: ManualClock,
) -> None:
    general = ProxyApiClient(
        http,
        sandbox.base_url,
        clock=clock,
        retry=RetryPolicy.disabled(),
        limits=RateLimits(general=2, orders=None, deposits=None, max_wait=60.0),
    )
    api = general.for_key(sandbox_account.api_key)
    await api.get_account()
    await api.get_account()
    assert clock.slept == []
    await api.get_account()
    assert clock.slept == [pytest.approx(30.0)]  # 2 per minute: one token every 30 s

    # Another key has its own buckets.
    other = general.for_key(sandbox.state.create_account("fresh@example.com").api_key)
    await other.get_account()
    await other.get_account()
    assert clock.slept == [pytest.approx(30.0)]

    scoped = ProxyApiClient(
        http,
        sandbox.base_url,
        clock=clock,
        retry=RetryPolicy.disabled(),
        limits=RateLimits(general=None, orders=1, deposits=1, max_wait=60.0),
    )
    api = scoped.for_key(sandbox_account.api_key)
    await api.create_order(IPV4_ORDER, idempotency_key="bucket-1")
    await api.create_order(IPV4_ORDER, idempotency_key="bucket-2")
    assert clock.slept[1:] == [pytest.approx(60.0)]  # 1 order per minute
    await api.create_deposit_address("BTC")
    await api.create_deposit_address("ETH")
    assert clock.slept[1:] == [pytest.approx(60.0), pytest.approx(60.0)]
    await api.get_account()  # the general bucket is off: no wait
    assert len(clock.slept) == 3
    assert count(sandbox, "POST /orders") == 2  # and the server never had to say 429


async def test_concurrent_requests_queue_on_the_bucket(
    http: httpx.AsyncClient,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
    clock: ManualClock,
) -> None:
    client = ProxyApiClient(
        http,
        sandbox.base_url,
        clock=clock,
        limits=RateLimits(general=6, window=60.0, max_wait=30.0),
    )
    api = client.for_key(sandbox_account.api_key)
    accounts = await asyncio.gather(*(api.get_account() for _ in range(9)))
    assert len(accounts) == 9
    # Six at once, then one every 10 s: the waits add up to 30 s, not more.
    assert sum(clock.slept) == pytest.approx(30.0)
    assert count(sandbox, "GET /account") == 9


# -- the buckets never wait without bound ------------------------------------


async def test_bucket_refuses_a_wait_longer_than_the_bound(clock: ManualClock) -> None:
    bucket = TokenBucket(2, 60.0, clock)  # one token every 30 s
    await bucket.acquire(max_wait=5.0)
    await bucket.acquire(max_wait=5.0)
    with pytest.raises(RateLimited) as caught:
        await bucket.acquire(max_wait=5.0)
    assert caught.value.retry_after == pytest.approx(30.0)
    assert clock.slept == []  # refused at once, not after waiting
    clock.advance(26)
    await bucket.acquire(max_wait=5.0)  # 4 s away now: within the bound, so it waits
    assert clock.slept == [pytest.approx(4.0)]


class HeldClock(ManualClock):
    """Sleeps never end on their own: waiters stay queued while the test looks at them."""

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.Event().wait()


async def test_queued_waiters_count_toward_the_bound() -> None:
    bucket = TokenBucket(6, 60.0, HeldClock())  # one token every 10 s after the first six
    for _ in range(6):
        await bucket.acquire(max_wait=25.0)
    waiters = [asyncio.create_task(bucket.acquire(max_wait=25.0)) for _ in range(2)]
    await asyncio.sleep(0)
    # Two are queued (10 s and 20 s away): a third would wait 30 s.
    with pytest.raises(RateLimited) as caught:
        await bucket.acquire(max_wait=25.0)
    assert caught.value.retry_after == pytest.approx(30.0)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert bucket.expected_wait() == pytest.approx(10.0)  # the cancelled left the queue


async def test_key_limiter_bounds_both_buckets_together(clock: ManualClock) -> None:
    limiter = KeyLimiter(RateLimits(general=60, orders=1, deposits=None, max_wait=5.0), clock)
    await limiter.acquire(Scope.ORDERS)
    with pytest.raises(RateLimited):
        await limiter.acquire(Scope.ORDERS)  # the next order token is 60 s away
    await limiter.acquire(None)  # reads are not held up by the orders bucket


async def test_refusal_after_an_unanswered_attempt_may_have_acted(
    http: httpx.AsyncClient,
    sandbox: Any,  # noqa: F811
    clock: ManualClock,
) -> None:
    # A retry the bucket refuses says nothing about the attempt before it (a 500 may
    # have been acted on), so a paid action must not read it as "not charged".
    account = sandbox.state.create_account("bounded@example.com")
    sandbox.state.add_fault("GET /account", "server_error", times=1)
    limits = RateLimits(general=1, orders=None, deposits=None, max_wait=5.0)
    client = ProxyApiClient(
        http, sandbox.base_url, clock=clock, retry=RetryPolicy(jitter=0), limits=limits
    )
    with pytest.raises(RateLimited) as caught:
        await client.for_key(account.api_key).get_account()
    assert caught.value.after_unanswered_attempt
    assert count(sandbox, "GET /account") == 1


# -- reference cache --------------------------------------------------------


async def test_reference_cache_is_shared_across_keys_and_expires(
    client: ProxyApiClient,
    api: ProxyApi,
    sandbox: Any,  # noqa: F811
    clock: ManualClock,
) -> None:
    other = client.for_key(sandbox.state.create_account("cache@example.com").api_key)
    first = await api.get_reference("ipv4")
    assert await other.get_reference(ProxyType.IPV4) is first
    assert count(sandbox, "GET /reference/{type}") == 1

    await api.get_reference("ipv6")  # cached per type
    assert count(sandbox, "GET /reference/{type}") == 2

    clock.advance(299)
    assert await api.get_reference("ipv4") is first
    assert count(sandbox, "GET /reference/{type}") == 2
    clock.advance(2)  # past max-age=300
    refreshed = await other.get_reference("ipv4")
    assert refreshed == first
    assert count(sandbox, "GET /reference/{type}") == 3


async def test_reference_burst_from_many_keys_is_one_upstream_call(
    client: ProxyApiClient,
    sandbox: Any,  # noqa: F811
) -> None:
    handles = [
        client.for_key(sandbox.state.create_account(f"burst{i}@example.com").api_key)
        for i in range(50)
    ]
    results = await asyncio.gather(*(h.get_reference("ipv4") for h in handles))
    assert count(sandbox, "GET /reference/{type}") == 1
    assert all(r is results[0] for r in results)


async def test_reference_errors_are_not_cached(api: ProxyApi, sandbox: Any) -> None:  # noqa: F811
    for _ in range(2):
        with pytest.raises(InvalidType):
            await api.get_reference("teleport")
    assert count(sandbox, "GET /reference/{type}") == 2


async def test_banned_leader_does_not_fail_other_keys(
    client: ProxyApiClient,
    api: ProxyApi,
    sandbox: Any,  # noqa: F811
) -> None:
    banned = client.for_key(sandbox.state.create_account("b@example.com", banned=True).api_key)
    results = await asyncio.gather(
        banned.get_reference("isp"), api.get_reference("isp"), return_exceptions=True
    )
    assert isinstance(results[0], Banned)
    assert isinstance(results[1], Reference)


async def test_reference_ttl_follows_cache_control(clock: ManualClock) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            200,
            headers={"Cache-Control": "public, max-age=10"},
            text='{"success": true, "data": {"countries": [{"id": 1, "name": "US"}]}}',
        )

    http, client = mock_client(handler, clock)
    api = client.for_key(MOCK_KEY)
    await api.get_reference("ipv4")
    clock.advance(9)
    await api.get_reference("ipv4")
    assert calls == 1
    clock.advance(2)
    await api.get_reference("ipv4")
    assert calls == 2
    await http.aclose()


# -- malformed answers ------------------------------------------------------


async def test_bad_body_from_the_sandbox(api: ProxyApi, sandbox: Any) -> None:  # noqa: F811
    sandbox.state.add_fault("GET /account", "bad_body")
    with pytest.raises(BadResponse) as caught:
        await api.get_account()
    assert "GET /account" in str(caught.value)
    assert count(sandbox, "GET /account") == 1  # a 200 with garbage is not retried
    assert (await api.get_account()).balance == Decimal("100.00")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "<html>maintenance</html>", BadResponse),
        (200, '{"ok": true}', BadResponse),
        (200, '{"success": true}', BadResponse),
        (200, '{"success": true, "data": {"id": 1}}', BadResponse),
        (
            200,
            '{"success": true, "data": {"id": "a", "email": "e", "balance": "lots",'
            ' "createdAt": "2025-01-15T08:30:00.000Z"}}',
            BadResponse,
        ),
        (200, '{"success": "yes", "data": {}}', BadResponse),
        (200, '{"success": true, "data": {"balance": NaN}}', BadResponse),
        (404, "<html>Not Found</html>", BadResponse),
        (503, "<html><h1>503 Service Unavailable</h1></html>", ServerError),
        (500, '{"success": false, "error": "oops"}', ServerError),
    ],
)
async def test_malformed_answers(
    clock: ManualClock, status: int, body: str, expected: type[ProxyApiError]
) -> None:
    http, client = mock_client(lambda request: httpx.Response(status, text=body), clock)
    with pytest.raises(expected) as caught:
        await client.for_key(MOCK_KEY).get_account()
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert_key_hidden(MOCK_KEY, caught.value)
    await http.aclose()


async def test_shape_errors_do_not_echo_payload_values(clock: ManualClock) -> None:
    body = {
        "success": True,
        "data": [{"ip": "1.2.3.4", "portHttps": "not-a-port", "password": "hunter2-secret"}],
    }
    http, client = mock_client(lambda r: httpx.Response(200, text=json.dumps(body)), clock)
    with pytest.raises(BadResponse) as caught:
        await client.for_key(MOCK_KEY).get_proxies("o1")
    assert "portHttps" in str(caught.value)
    assert "hunter2-secret" not in str(caught.value)
    assert "hunter2-secret" not in "".join(traceback.format_exception(caught.value))
    assert_not_chained(caught.value)
    await http.aclose()


async def test_gateway_html_502_on_create_order_is_retried(clock: ManualClock) -> None:
    seen_keys: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen_keys.append(request.headers.get("Idempotency-Key"))
        if len(seen_keys) == 1:
            return httpx.Response(502, text="<html>Bad Gateway</html>")
        return httpx.Response(
            200,
            text='{"success": true, "data": {"ok": true, "orderId": "o1", "charged": 2.50}}',
        )

    http, client = mock_client(handler, clock)
    created = await client.for_key(MOCK_KEY).create_order(IPV4_ORDER, "idem-42")
    assert created.charged == Decimal("2.50")
    assert seen_keys == ["idem-42", "idem-42"]
    assert clock.slept == [0.5]
    await http.aclose()


@pytest.mark.parametrize(
    "placement",
    [
        {"error": {"details": {"refunded": True}}},
        {"error": {"refunded": True}},
        {"data": {"refunded": True}},
    ],
)
async def test_refunded_is_found_wherever_it_sits(
    clock: ManualClock, placement: dict[str, Any]
) -> None:
    http, client = mock_client(
        lambda r: envelope_error(502, "UPSTREAM_ERROR", "provider down", **placement), clock
    )
    with pytest.raises(UpstreamError) as caught:
        await client.for_key(MOCK_KEY).create_order(IPV4_ORDER, "idem-1")
    assert caught.value.refunded is True
    assert clock.slept == []
    await http.aclose()


@pytest.mark.parametrize(("code", "cls"), sorted(ERRORS_BY_CODE.items()))
async def test_every_error_code_maps_to_its_class(
    clock: ManualClock, code: str, cls: type[ProxyApiError]
) -> None:
    status = SPEC_STATUS[code]
    http, client = mock_client(lambda r: envelope_error(status, code), clock)
    # extend: nothing is retried, so the first answer is what surfaces.
    with pytest.raises(cls) as caught:
        await client.for_key(MOCK_KEY).extend_order("o1", 1)
    assert type(caught.value) is cls
    assert caught.value.code == code
    assert caught.value.status == status
    await http.aclose()


async def test_unknown_codes_fall_back_to_status(clock: ManualClock) -> None:
    answers = iter(
        [
            envelope_error(
                402, "PAY_UP", error={"details": {"required": 1.10, "available": "0.25"}}
            ),
            envelope_error(418, "TEAPOT"),
            envelope_error(503, None),
            httpx.Response(429, headers={"Retry-After": "7"}, text="slow down"),
        ]
    )
    http, client = mock_client(lambda r: next(answers), clock)
    api = client.for_key(MOCK_KEY)
    with pytest.raises(InsufficientFunds) as funds:
        await api.extend_order("o1", 1)
    assert funds.value.code == "PAY_UP"
    assert funds.value.required == Decimal("1.10")
    assert funds.value.available == Decimal("0.25")
    with pytest.raises(ProxyApiError) as teapot:
        await api.extend_order("o1", 1)
    assert type(teapot.value) is ProxyApiError
    assert teapot.value.status == 418
    with pytest.raises(ServerError):
        await api.extend_order("o1", 1)
    with pytest.raises(RateLimited) as limited:
        await api.extend_order("o1", 1)
    assert limited.value.retry_after == 7.0
    await http.aclose()


async def test_retry_after_as_http_date(clock: ManualClock) -> None:
    answers = iter(
        [
            envelope_error(
                429, "RATE_LIMITED", headers={"Retry-After": "Thu, 01 Jan 2026 12:00:05 GMT"}
            ),
            httpx.Response(200, text='{"success": true, "data": []}'),
        ]
    )
    http, client = mock_client(lambda r: next(answers), clock)
    assert await client.for_key(MOCK_KEY).list_deposit_addresses() == []
    assert clock.slept == [5.0]  # ManualClock starts at 2026-01-01 12:00:00 UTC
    await http.aclose()


# -- transport failures -----------------------------------------------------


async def test_closed_port_is_a_transport_error(
    http: httpx.AsyncClient,
    clock: ManualClock,
    sandbox_account: Any,  # noqa: F811
) -> None:
    client = ProxyApiClient(
        http, f"http://127.0.0.1:{closed_port()}/api/v1", clock=clock, retry=NO_JITTER
    )
    api = client.for_key(sandbox_account.api_key)
    with pytest.raises(TransportError) as caught:
        await api.get_account()
    assert clock.slept == [0.5, 1.0]  # reads are retried
    assert_not_chained(caught.value)
    assert_key_hidden(sandbox_account.api_key, caught.value)

    with pytest.raises(TransportError):
        await api.extend_order("o1", 1)
    assert clock.slept == [0.5, 1.0]  # an extend is not


async def test_timeout_is_a_transport_error(clock: ManualClock) -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ReadTimeout(f"timed out; headers were {dict(request.headers)}", request=request)

    http, client = mock_client(handler, clock)
    with pytest.raises(TransportError) as caught:
        await client.for_key(MOCK_KEY).create_order(IPV4_ORDER, "idem-timeout")
    assert attempts == 3  # safe to repeat: the Idempotency-Key is the same every time
    assert "timed out" in str(caught.value)
    assert_not_chained(caught.value)
    assert_key_hidden(MOCK_KEY, caught.value)
    await http.aclose()


# -- the key stays secret ---------------------------------------------------


async def test_key_never_leaks_into_reprs_errors_or_logs(
    client: ProxyApiClient,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = sandbox_account.api_key
    api = client.for_key(key)
    assert_key_hidden(key, api, client)
    assert api.key_id in repr(api)

    errors: list[BaseException] = []
    await api.get_account()
    await api.get_reference("ipv4")
    sandbox.state.add_fault("GET /account", "server_error")
    await api.get_account()
    for call in (
        api.get_order("cm_missing"),
        api.calc_order(OrderRequest(type=ProxyType.IPV4)),
        api.create_deposit_address("DOGGO"),
    ):
        try:
            await call
        except ProxyApiError as exc:
            errors.append(exc)
    banned = sandbox.state.create_account("leak@example.com", banned=True)
    try:
        await client.for_key(banned.api_key).get_account()
    except ProxyApiError as exc:
        errors.append(exc)
    assert len(errors) == 4
    assert_key_hidden(key, *errors)
    assert_key_hidden(banned.api_key, *errors)

    assert caplog.records
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        assert key not in text
        assert banned.api_key not in text


async def test_key_echoed_by_the_server_is_redacted(clock: ManualClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers["Authorization"]
        return envelope_error(
            401, "INVALID_API_KEY", f"unknown key in {echoed}", error={"details": {"got": echoed}}
        )

    http, client = mock_client(handler, clock)
    with pytest.raises(InvalidApiKey) as caught:
        await client.for_key(MOCK_KEY).get_account()
    assert "[redacted]" in caught.value.message
    assert_key_hidden(MOCK_KEY, caught.value)
    await http.aclose()


async def test_aclose_keeps_the_shared_http_client_open(
    http: httpx.AsyncClient,
    sandbox: Any,  # noqa: F811
    sandbox_account: Any,  # noqa: F811
) -> None:
    first = ProxyApiClient(http, sandbox.base_url)
    await first.for_key(sandbox_account.api_key).get_account()
    await first.aclose()
    assert not http.is_closed
    with pytest.raises(RuntimeError):
        await first.for_key(sandbox_account.api_key).get_account()
    async with ProxyApiClient(http, sandbox.base_url) as second:
        account = await second.for_key(sandbox_account.api_key).get_account()
    assert account.balance == Decimal("100.00")
    assert not http.is_closed


async def test_a_refusal_after_an_unanswered_attempt_is_marked(clock: ManualClock) -> None:
    """A 429 after a timed-out create says nothing about whether the order was placed."""
    answers = iter(["timeout", "throttled"])

    def handler(request: httpx.Request) -> httpx.Response:
        if next(answers) == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        return envelope_error(429, "RATE_LIMITED", headers={"Retry-After": "3600"})

    http, client = mock_client(handler, clock)
    request = OrderRequest(type="ipv4", country_id=1, period_id=1, quantity=1)
    with pytest.raises(RateLimited) as caught:
        await client.for_key("pk_test_0123456789abcdef").create_order(request, "idem-1")
    assert caught.value.after_unanswered_attempt is True
    await http.aclose()

    http, client = mock_client(
        lambda request: envelope_error(429, "RATE_LIMITED", headers={"Retry-After": "3600"}),
        clock,
    )
    with pytest.raises(RateLimited) as caught:
        await client.for_key("pk_test_0123456789abcdef").create_order(request, "idem-2")
    assert caught.value.after_unanswered_attempt is False
    await http.aclose()


def test_may_have_acted_is_false_only_for_proven_refusals():
    from proxy_api import errors as e

    refused = [
        e.ValidationError("bad"), e.InsufficientFunds("low"), e.NotFound("gone"),
        e.NotProvisioned("later"), e.UpstreamError("refunded"), e.RateLimited("slow"),
        e.InvalidApiKey("key"), e.Banned("banned"),
        e.TransportError("could not connect", connected=False),
    ]
    for exc in refused:
        assert not exc.may_have_acted, exc
    for exc in (e.TransportError("timed out"), e.ServerError("500"), e.BadResponse("junk")):
        assert exc.may_have_acted, exc
    # After an unanswered attempt of the same call, no refusal proves anything.
    throttled = e.RateLimited("slow")
    throttled.after_unanswered_attempt = True
    assert throttled.may_have_acted


async def test_a_refused_connection_is_not_an_unanswered_attempt():
    from proxy_api import ProxyApiClient, TransportError, build_http_client

    http = build_http_client(timeout=2.0)
    # Nothing listens on port 9; the manual clock makes the retry backoff instant.
    client = ProxyApiClient(http, "http://127.0.0.1:9/api/v1", clock=ManualClock())
    try:
        with pytest.raises(TransportError) as caught:
            await client.for_key("k" * 32).get_account()
        assert not caught.value.may_have_acted
    finally:
        await client.aclose()
        await http.aclose()


# -- the pooled client's transport (start-up, issue 14) ---------------------------------

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                    "all_proxy", "NO_PROXY", "no_proxy")


async def test_transport_and_its_ssl_context_are_built_on_the_first_request_once(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    built: list[httpx.AsyncHTTPTransport] = []

    class Counted(httpx.AsyncHTTPTransport):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(httpx, "AsyncHTTPTransport", Counted)
    http = build_http_client(timeout=5.0)
    try:
        # Start-up builds the client: no CA certificates loaded yet.
        assert built == []
        answers = await asyncio.gather(
            *(http.get(f"{sandbox.base_url}/reference/ipv4") for _ in range(3))
        )
        await http.get(f"{sandbox.base_url}/reference/ipv4")
    finally:
        await http.aclose()
    assert all(a.status_code < 500 for a in answers)
    # Concurrent first requests share one transport (one SSL context), kept for the next.
    assert len(built) == 1


async def test_a_proxy_in_the_environment_is_still_used(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    http = build_http_client(timeout=5.0)
    try:
        # Through the (refusing) proxy, never straight to the sandbox.
        with pytest.raises((httpx.ConnectError, httpx.ProxyError)):
            await http.get(f"{sandbox.base_url}/reference/ipv4")
    finally:
        await http.aclose()


async def test_key_buckets_are_looked_over_again_only_after_the_busy_ones_doubled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Thousands of keys in use at once (a fan-out of reminders): a look over every bucket
    # for each new key was quadratic.
    import proxy_api.client as client_module

    monkeypatch.setattr(client_module, "_LIMITER_PRUNE_THRESHOLD", 4)
    looked: list[int] = []
    is_idle = KeyLimiter.is_idle
    monkeypatch.setattr(KeyLimiter, "is_idle", lambda self: looked.append(1) or is_idle(self))
    client = ProxyApiClient(None, "http://127.0.0.1:9", clock=ManualClock())  # type: ignore[arg-type]
    for n in range(4):
        await client._limiter(f"key-{n}").acquire(None)  # a token taken: busy
    assert looked == []
    await client._limiter("key-4").acquire(None)  # 4 held: looked over, all busy
    assert len(looked) == 4
    for n in range(5, 8):
        await client._limiter(f"key-{n}").acquire(None)
    assert len(looked) == 4  # not before 8
    client._limiter("key-8")
    assert len(looked) == 4 + 8
