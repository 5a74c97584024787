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
from proxy_api import OrderRequest, ProxyApiClient, build_http_client
from proxy_api.errors import ProxyApiError
from proxy_api.retry import RetryPolicy
from services.prices import PriceBook
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
