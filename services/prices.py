"""Prices the API quoted a moment ago, for labels shown before a choice is made.

The wizard prices its buttons (types, quantity presets, periods, packages), the extend screen
and the reminders price an extension — all from ``POST /orders/calc``. Asked per tap or per
reminder that would be one upstream call each; the book keeps each answer for a few minutes per
account and request, and concurrent askers of the same price share one call.

What the user finally confirms is never served from here: the quote step calls the API itself,
and the order is charged whatever the API charges. A label from the book is what the API said
within the TTL — provable, and shown as such.

In memory, one process: several replicas would each keep their own (a missed hit costs one calc).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TypeAlias

import pydantic

from core.clock import Clock
from proxy_api.client import ProxyApi
from proxy_api.models import OrderRequest, Period, ProxyType, Quote

PRICE_TTL = timedelta(minutes=5)
MAX_PRICES = 10_000

PriceKey: TypeAlias = tuple[str, tuple[tuple[str, object], ...]]


def price_key(api: ProxyApi, request: OrderRequest) -> PriceKey:
    """One account's one request: markups may differ per account, so never shared across keys."""
    return api.key_id, tuple(sorted(request.to_body().items()))


def same_again(
    proxy_type: str,
    country_id: int | None,
    period_id: int,
    quantity: int | None,
    protocol: str | None,
) -> OrderRequest | None:
    """The request that buys an order's proxies again for ``period_id``: its price is what
    extending the order costs (the extend confirmation, the reminders' buttons).

    None when the API cannot price it: a mobile order (its operator and rotation are not in
    the order), an IPv6 order whose protocol is unknown, anything the model refuses.
    """
    if proxy_type == ProxyType.MOBILE.value or not quantity:
        return None
    if proxy_type == ProxyType.IPV6.value:
        if not protocol:
            return None
        protocol = protocol.upper()
    else:
        protocol = None
    try:
        return OrderRequest(
            type=proxy_type,
            country_id=country_id,
            period_id=period_id,
            quantity=quantity,
            protocol=protocol,
        )
    except pydantic.ValidationError:
        return None


def own_period(periods: Sequence[Period], period_id: int | None) -> Period:
    """The period a list of period buttons prices with its one calc: the order's own
    (``period_id``), else the first. ``periods`` is not empty."""
    return next((p for p in periods if p.id == period_id), periods[0])


class PriceBook:
    def __init__(self, clock: Clock, ttl: timedelta = PRICE_TTL, limit: int = MAX_PRICES) -> None:
        self._clock = clock
        self._ttl = ttl.total_seconds()
        self._limit = limit
        self._quotes: dict[PriceKey, tuple[Quote, float]] = {}
        # Each account's keys in the book: the type picker looks over one account's prices,
        # not the whole book (thousands under load: ~3% of the wizard's CPU).
        self._by_account: dict[str, set[PriceKey]] = {}
        self._fetches: dict[PriceKey, asyncio.Task[Quote]] = {}

    def cached(self, api: ProxyApi, request: OrderRequest) -> Quote | None:
        """The price if the API told it within the TTL, without asking it."""
        return self._fresh(price_key(api, request))

    def remember(self, api: ProxyApi, request: OrderRequest, quote: Quote) -> None:
        """An answer the caller had from the API itself (the quote step's own calc), kept so
        that labels for the same request need not ask again."""
        self._keep(price_key(api, request), quote)

    def known_prices(
        self,
        api: ProxyApi,
        periods: Sequence[Period],
        request_for: Callable[[Period], OrderRequest | None],
    ) -> dict[int, Decimal]:
        """What the book holds for each of ``periods``, by period id, asking nothing; a
        period is missing when its price is not known (or it has no request)."""
        known: dict[int, Decimal] = {}
        for period in periods:
            request = request_for(period)
            quote = self._fresh(price_key(api, request)) if request is not None else None
            if quote is not None and quote.price is not None:
                known[period.id] = quote.price
        return known

    def lowest_unit_price(self, api: ProxyApi, proxy_type: str) -> Decimal | None:
        """The lowest price per unit among this account's fresh answers for ``proxy_type``
        without a coupon — what the type picker can name without asking the API."""
        now = self._clock.monotonic()
        found = []
        for key in self._by_account.get(api.key_id, ()):
            quote, stamp = self._quotes[key]
            body = dict(key[1])
            if (now - stamp < self._ttl and quote.unit_price is not None
                    and body.get("type") == proxy_type and not body.get("coupon")):
                found.append(quote.unit_price)
        return min(found) if found else None

    async def quote(self, api: ProxyApi, request: OrderRequest) -> Quote:
        """The API's price for ``request``: from the book when fresh, else one shared calc.

        Failures are not kept: the next asker tries again.
        """
        key = price_key(api, request)
        cached = self._fresh(key)
        if cached is not None:
            return cached
        task = self._fetches.get(key)
        if task is None or task.done():
            # A task, not the caller's coroutine: a cancelled first asker must not
            # cancel the call everyone else waits for.
            task = asyncio.create_task(self._fetch(api, request, key))
            self._fetches[key] = task
            task.add_done_callback(lambda done, key=key: self._fetched(key, done))
        # The key holds the account, so a shared failure is this caller's failure too.
        return await asyncio.shield(task)

    async def _fetch(self, api: ProxyApi, request: OrderRequest, key: PriceKey) -> Quote:
        quote = await api.calc_order(request)
        self._keep(key, quote)
        return quote

    def _fresh(self, key: PriceKey) -> Quote | None:
        entry = self._quotes.get(key)
        if entry is None or self._clock.monotonic() - entry[1] >= self._ttl:
            return None
        return entry[0]

    def _keep(self, key: PriceKey, quote: Quote) -> None:
        now = self._clock.monotonic()
        # Moved to the end, so the book stays in the order prices were told: the oldest
        # first, and pruning stops at the first fresh one.
        self._quotes.pop(key, None)
        if len(self._quotes) >= self._limit:
            self._prune(now)
        self._quotes[key] = (quote, now)
        self._by_account.setdefault(key[0], set()).add(key)

    def _fetched(self, key: PriceKey, task: asyncio.Task[Quote]) -> None:
        if self._fetches.get(key) is task:
            del self._fetches[key]
        if not task.cancelled():
            task.exception()  # retrieved so an unawaited failure is not reported as lost

    def _prune(self, now: float) -> None:
        """Drop the expired prices, oldest first, and when the book is still full the
        oldest tenth of it: the next prices are kept without pruning again. (Looking over
        the whole book for every price once it was full made a fan-out of 5,000 reminders,
        25,000 prices, quadratic: it ran at half the rate of 2,000.)"""
        stale = 0
        for _, stamp in self._quotes.values():
            if now - stamp < self._ttl:
                break
            stale += 1
        if len(self._quotes) - stale >= self._limit:
            stale = len(self._quotes) - self._limit + max(1, self._limit // 10)
        for key in list(itertools.islice(self._quotes, stale)):
            del self._quotes[key]
            keys = self._by_account[key[0]]
            keys.discard(key)
            if not keys:
                del self._by_account[key[0]]
