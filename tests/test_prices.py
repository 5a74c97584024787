"""The price book: labels priced by the API, each asked once per account and TTL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from core.clock import ManualClock
from proxy_api import OrderRequest, ProxyApiClient, Quote, build_http_client
from proxy_api.errors import ProxyApiError
from proxy_api.retry import RetryPolicy
from services.prices import PriceBook, same_again
from tests.sandbox_fixture import sandbox, sandbox_account  # noqa: F401

CALC = "POST /orders/calc"
IPV4 = OrderRequest(type="ipv4", country_id=1, period_id=1, quantity=1)


def calcs(server: Any) -> int:
    return server.state.request_counts.get(CALC, 0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(sandbox: Any, clock: ManualClock) -> AsyncIterator[ProxyApiClient]:  # noqa: F811
    http: httpx.AsyncClient = build_http_client(timeout=5.0)
    api_client = ProxyApiClient(http, sandbox.base_url, clock=clock, retry=RetryPolicy(jitter=0.0))
    yield api_client
    await api_client.aclose()
    await http.aclose()


async def test_one_calc_per_request_and_ttl(client, sandbox, sandbox_account, clock):  # noqa: F811
    book = PriceBook(clock, ttl=timedelta(minutes=5))
    api = client.for_key(sandbox_account.api_key)
    assert book.cached(api, IPV4) is None

    first = await book.quote(api, IPV4)
    again = await book.quote(api, IPV4)

    expected = sandbox.state.quote(IPV4.to_body()).price
    assert first.price == again.price == Decimal(str(expected))
    assert calcs(sandbox) == 1
    assert book.cached(api, IPV4) == first
    five = OrderRequest(type="ipv4", country_id=1, period_id=1, quantity=5)
    await book.quote(api, five)
    assert calcs(sandbox) == 2  # another quantity is another price

    clock.advance(timedelta(minutes=5))
    assert book.cached(api, IPV4) is None
    await book.quote(api, IPV4)
    assert calcs(sandbox) == 3


async def test_concurrent_askers_share_one_call(client, sandbox, sandbox_account, clock):  # noqa: F811
    book = PriceBook(clock)
    api = client.for_key(sandbox_account.api_key)

    quotes = await asyncio.gather(*(book.quote(api, IPV4) for _ in range(20)))

    assert len({q.price for q in quotes}) == 1
    assert calcs(sandbox) == 1


async def test_accounts_do_not_share_prices(client, sandbox, sandbox_account, clock):  # noqa: F811
    book = PriceBook(clock)
    other = sandbox.state.create_account(email="other@example.com", balance=Decimal("1"))

    await book.quote(client.for_key(sandbox_account.api_key), IPV4)
    await book.quote(client.for_key(other.api_key), IPV4)

    assert calcs(sandbox) == 2


async def test_failures_are_not_kept(client, sandbox, sandbox_account, clock):  # noqa: F811
    book = PriceBook(clock)
    api = client.for_key(sandbox_account.api_key)
    sandbox.state.add_fault(CALC, "bad_body")

    with pytest.raises(ProxyApiError):
        await book.quote(api, IPV4)
    assert book.cached(api, IPV4) is None
    assert (await book.quote(api, IPV4)).price > 0


async def test_full_book_drops_the_oldest(client, sandbox, sandbox_account, clock):  # noqa: F811
    book = PriceBook(clock, limit=2)
    api = client.for_key(sandbox_account.api_key)
    requests = [
        OrderRequest(type="ipv4", country_id=1, period_id=1, quantity=n) for n in (1, 2, 3)
    ]
    for request in requests:
        await book.quote(api, request)

    assert book.cached(api, requests[0]) is None
    assert book.cached(api, requests[1]) is not None
    assert book.cached(api, requests[2]) is not None


async def test_remembered_answers_and_the_lowest_unit_price(
    client, sandbox, sandbox_account, clock  # noqa: F811
):
    book = PriceBook(clock, ttl=timedelta(minutes=5))
    api = client.for_key(sandbox_account.api_key)
    other = client.for_key(sandbox.state.create_account(email="o@example.com").api_key)
    week = OrderRequest(type="ipv4", country_id=1, period_id=1, quantity=10)
    month = OrderRequest(type="ipv4", country_id=1, period_id=2, quantity=10)
    coupon = OrderRequest(type="ipv4", country_id=1, period_id=1, quantity=10, coupon="SAVE10")
    # An answer the caller had itself (the quote step's own calc) is kept, not asked again.
    book.remember(api, month, await api.calc_order(month))
    assert calcs(sandbox) == 1
    assert book.lowest_unit_price(api, "ipv4") == Decimal("2.40")
    await book.quote(api, week)
    # A coupon's price is that coupon's: never a type's lowest price.
    discounted = Quote.model_validate(
        {"type": "ipv4", "quantity": 10, "price": "10.00", "unitPrice": "1.00"}
    )
    book.remember(api, coupon, discounted)
    assert book.lowest_unit_price(api, "ipv4") == Decimal("1.25")
    assert book.lowest_unit_price(api, "isp") is None
    assert book.lowest_unit_price(other, "ipv4") is None, "another account's prices"
    clock.advance(timedelta(minutes=5))
    assert book.lowest_unit_price(api, "ipv4") is None, "only fresh answers"


def test_same_again_is_the_request_an_extension_is_priced_with():
    request = same_again("ipv6", 3, 2, 4, "socks5")
    assert request is not None
    assert request.to_body() == {
        "type": "ipv6", "countryId": 3, "periodId": 2, "quantity": 4, "protocol": "SOCKS5",
    }
    ipv4 = same_again("ipv4", 1, 1, 3, "https")
    assert ipv4 is not None and ipv4.protocol is None  # only IPv6 sends one
    assert same_again("mobile", 1, 1, 1, "https") is None  # operator, rotation unknown
    assert same_again("ipv6", 3, 2, 4, None) is None
    assert same_again("ipv4", 1, 1, 0, None) is None
    assert same_again("socks", 1, 1, 1, None) is None


def test_a_full_book_drops_expired_then_its_oldest_tenth_at_once(clock):
    from types import SimpleNamespace

    book = PriceBook(clock, ttl=timedelta(minutes=5), limit=10)
    api: Any = SimpleNamespace(key_id="k")
    quote = Quote.model_validate({"type": "ipv4", "quantity": 1, "price": "1.00"})
    asks = [OrderRequest(type="ipv4", country_id=1, period_id=1, quantity=n)
            for n in range(1, 14)]
    for request in asks[:10]:
        book.remember(api, request, quote)
        clock.advance(1)
    book.remember(api, asks[0], quote)  # told again: now the newest, not the oldest
    book.remember(api, asks[10], quote)  # the book was full: the oldest tenth goes
    kept = [n for n, request in enumerate(asks, 1) if book.cached(api, request)]
    assert kept == [1, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    # Expired prices go first, and only they, when they make room.
    clock.advance(5 * 60 - 7)  # asks 3 and 4 (told at 2 and 3 s) are now 5 minutes old
    book.remember(api, asks[11], quote)
    book.remember(api, asks[12], quote)
    kept = [n for n, request in enumerate(asks, 1) if book.cached(api, request)]
    assert kept == [1, 5, 6, 7, 8, 9, 10, 11, 12, 13]  # none of the fresh ones dropped


def test_the_lowest_unit_price_follows_what_the_book_keeps_and_drops(clock):
    # The type picker reads one account's prices through an index kept with the book.
    from types import SimpleNamespace

    book = PriceBook(clock, ttl=timedelta(minutes=5), limit=10)
    mine: Any = SimpleNamespace(key_id="mine")
    others: list[Any] = [SimpleNamespace(key_id=f"other{n}") for n in range(9)]

    def quote(unit: str) -> Quote:
        return Quote.model_validate(
            {"type": "ipv4", "quantity": 1, "price": unit, "unitPrice": unit}
        )

    cheap = OrderRequest(type="ipv4", country_id=1, period_id=1, quantity=1)
    dear = OrderRequest(type="ipv4", country_id=1, period_id=2, quantity=1)
    book.remember(mine, cheap, quote("1.00"))
    clock.advance(1)
    book.remember(mine, dear, quote("3.00"))
    for account in others:  # fills the book: my cheap price, the oldest, goes
        clock.advance(1)
        book.remember(account, cheap, quote("0.50"))
    assert book.cached(mine, cheap) is None
    assert book.lowest_unit_price(mine, "ipv4") == Decimal("3.00")
    assert book.lowest_unit_price(others[-1], "ipv4") == Decimal("0.50")
    clock.advance(5 * 60)
    assert book.lowest_unit_price(mine, "ipv4") is None
