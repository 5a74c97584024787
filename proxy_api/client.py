"""Typed async client for the 1001Proxy reseller API.

One ``ProxyApiClient`` per process owns what is shared: the pooled HTTP
client, the per-key rate-limit buckets, the retry policy and the public
reference-data cache. ``ProxyApiClient.for_key`` hands out cheap per-key
``ProxyApi`` handles, one per shop customer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import quote
from urllib.request import getproxies

import httpx
from pydantic import TypeAdapter

from core.clock import Clock, SystemClock
from proxy_api.envelope import Reply, decode, parse
from proxy_api.errors import (
    AuthError,
    BadResponse,
    ProxyApiError,
    RateLimited,
    TransportError,
    Unauthorized,
)
from proxy_api.models import (
    Account,
    CreatedOrder,
    DepositAddress,
    DownloadFormat,
    ExtendResult,
    Order,
    OrderDetails,
    OrderRequest,
    OrderStatus,
    Page,
    Protocol,
    ProxyCredential,
    ProxyType,
    Quote,
    Reference,
    Transaction,
    TransactionType,
)
from proxy_api.ratelimit import KeyLimiter, RateLimits, Scope
from proxy_api.retry import Replay, RetryPolicy

logger = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = "proxy-shop-bot/0.1"
DEFAULT_REFERENCE_TTL = 300.0
# Past this many keys, buckets that are full and unused are forgotten, so a
# long-running bot with many customers does not keep one per customer forever.
_LIMITER_PRUNE_THRESHOLD = 1024

_ACCOUNT = TypeAdapter(Account)
_TRANSACTIONS = TypeAdapter(Page[Transaction])
_QUOTE = TypeAdapter(Quote)
_CREATED_ORDER = TypeAdapter(CreatedOrder)
_ORDERS = TypeAdapter(Page[Order])
_ORDER_DETAILS = TypeAdapter(OrderDetails)
_PROXIES = TypeAdapter(list[ProxyCredential])
_EXTEND_RESULT = TypeAdapter(ExtendResult)
_REFERENCE = TypeAdapter(Reference)
_DEPOSIT_ADDRESS = TypeAdapter(DepositAddress)
_DEPOSIT_ADDRESSES = TypeAdapter(list[DepositAddress])


class LazyTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, built on the first request instead of at start-up.

    Building it loads the CA certificates into an SSL context (about 0.1 s of CPU), which
    the bot's start-up has no use for: nothing is asked of the API before polling starts.
    It is built once (no await between the check and the assignment) and then reused.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._transport: httpx.AsyncHTTPTransport | None = None

    def _inner(self) -> httpx.AsyncHTTPTransport:
        if self._transport is None:
            self._transport = httpx.AsyncHTTPTransport(limits=self._limits)
        return self._transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner().handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


def build_http_client(timeout: float = 15.0) -> httpx.AsyncClient:
    """The one pooled HTTP client a process shares between all API keys."""
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30)
    # httpx honours HTTP(S)_PROXY only when it builds its transports itself: with a proxy in
    # the environment it does, as ever; without one (the usual case) the transport waits
    # for the first request.
    proxied = any(getproxies().get(scheme) for scheme in ("http", "https", "all"))
    return httpx.AsyncClient(
        # A dead host should fail fast; a slow upstream order may legitimately take a while.
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=limits,
        transport=None if proxied else LazyTransport(limits),
        headers={"User-Agent": USER_AGENT},
        # A redirect is a misconfigured base URL, not something to follow with a bearer key.
        follow_redirects=False,
    )


def _value(item: Enum | str) -> str:
    return str(item.value) if isinstance(item, Enum) else str(item)


def _segment(value: str) -> str:
    """``value`` as one path segment, so an id like "../account" cannot reach another route."""
    value = str(value)
    if not value:
        raise ValueError("an id in the URL path must not be empty")
    if value.strip(".") == "":
        # URL normalisation would resolve "." and ".." segments; escaped, they stay data.
        return value.replace(".", "%2E")
    return quote(value, safe="")


def _check_key(api_key: str) -> None:
    # Checked before anything is sent: httpx would reject a bad header value with
    # an error that may quote it. Keys are user input (pasted into the chat), so
    # this is the API's own "missing or malformed" answer, not a ValueError.
    if (
        not isinstance(api_key, str)
        or not api_key
        or not api_key.isascii()
        or not api_key.isprintable()
        or any(ch.isspace() for ch in api_key)
    ):
        raise Unauthorized("API key is empty or malformed; it was not sent")


def _fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    path: str
    replay: Replay
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    scope: Scope | None = None
    text_body: bool = False

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class _CachedReference:
    value: Reference
    expires_at: float


def _max_age(headers: httpx.Headers) -> float:
    """Cache lifetime from ``Cache-Control``; the documented 5 minutes when absent."""
    value = headers.get("cache-control")
    if value is None:
        return DEFAULT_REFERENCE_TTL
    directives: dict[str, str | None] = {}
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        directives[name.strip().lower()] = arg.strip().strip('"') or None
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    raw = directives.get("max-age")
    if raw is None:
        return DEFAULT_REFERENCE_TTL
    try:
        return max(0.0, float(int(raw)))
    except ValueError:
        return DEFAULT_REFERENCE_TTL


class ProxyApiClient:
    """Shared state for all keys: HTTP pool, buckets per key, retry policy, reference cache."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        *,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        limits: RateLimits | None = None,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._clock: Clock = clock or SystemClock()
        self._retry = retry or RetryPolicy()
        self._limits = limits or RateLimits()
        self._limiters: dict[str, KeyLimiter] = {}
        self._prune_limiters_at = _LIMITER_PRUNE_THRESHOLD
        self._references: dict[str, _CachedReference] = {}
        self._reference_fetches: dict[str, asyncio.Task[Reference]] = {}
        self._closed = False
        # Metrics hooks (bot/metrics.py): every attempt's (method, path, status or error
        # class), and every retry; here so no call site can bypass them.
        self.on_response: Callable[[str, str, int | str], None] | None = None
        self.on_retry: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"ProxyApiClient(base_url={self._base_url!r})"

    def for_key(self, api_key: str) -> ProxyApi:
        """A handle acting as the account owning ``api_key``; Unauthorized if it is malformed."""
        _check_key(api_key)
        return ProxyApi(self, api_key)

    async def aclose(self) -> None:
        """Forget buckets and cache; the shared HTTP client stays open for its owner."""
        self._closed = True
        fetches = list(self._reference_fetches.values())
        for task in fetches:
            task.cancel()
        await asyncio.gather(*fetches, return_exceptions=True)
        self._reference_fetches.clear()
        self._references.clear()
        self._limiters.clear()

    async def __aenter__(self) -> ProxyApiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- requests -----------------------------------------------------------

    def _limiter(self, api_key: str) -> KeyLimiter:
        # Keyed by a digest so the raw key is held only by its handle.
        fingerprint = _fingerprint(api_key)
        limiter = self._limiters.get(fingerprint)
        if limiter is None:
            if len(self._limiters) >= self._prune_limiters_at:
                self._limiters = {
                    fp: lim for fp, lim in self._limiters.items() if not lim.is_idle()
                }
                # Not again before the busy ones left have doubled: with thousands of keys
                # in use at once (a fan-out of reminders, each chat its own account), a look
                # over all of them for every new key was quadratic.
                self._prune_limiters_at = max(_LIMITER_PRUNE_THRESHOLD, 2 * len(self._limiters))
            limiter = self._limiters[fingerprint] = KeyLimiter(self._limits, self._clock)
        return limiter

    async def _call(self, api_key: str, call: _Call) -> Reply:
        """One logical request: rate limiting, attempts and the retry policy."""
        if self._closed:
            raise RuntimeError("ProxyApiClient is closed")
        limiter = self._limiter(api_key)
        policy = self._retry
        retries = 0
        rate_limit_retries = 0
        rate_limit_waited = 0.0
        # Set once an attempt ended without a usable answer: the server may have acted on
        # it, so a later refusal (429, 401) says nothing about whether the request happened.
        unanswered = False
        while True:
            # Every attempt is a request the server counts, retries included.
            try:
                await limiter.acquire(call.scope)
            except RateLimited as exc:
                # Refused before sending; an earlier unanswered attempt still may have acted.
                exc.after_unanswered_attempt = unanswered
                raise
            try:
                return await self._attempt(api_key, call)
            except RateLimited as exc:
                delay = policy.rate_limit_delay(
                    call.replay, exc.retry_after, rate_limit_retries, rate_limit_waited
                )
                if delay is None:
                    exc.after_unanswered_attempt = unanswered
                    raise
                rate_limit_retries += 1
                rate_limit_waited += delay
                reason = "rate limited"
            except ProxyApiError as exc:
                if not policy.should_retry(call.replay, exc, retries):
                    exc.after_unanswered_attempt = unanswered
                    raise
                unanswered = unanswered or exc.may_have_acted
                retries += 1
                delay = policy.backoff(retries)
                reason = type(exc).__name__
            logger.warning("%s: %s, retrying in %.2f s", call.label, reason, delay)
            if self.on_retry is not None:
                self.on_retry()
            await self._clock.sleep(delay)

    async def _attempt(self, api_key: str, call: _Call) -> Reply:
        started = time.perf_counter()
        failure: TransportError | None = None
        try:
            response = await self._http.request(
                call.method,
                self._base_url + call.path,
                params=call.params,
                json=call.body,
                headers={**call.headers, "Authorization": f"Bearer {api_key}"},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            failure = TransportError(
                f"{call.label}: could not connect ({type(exc).__name__})", connected=False
            )
        except httpx.TimeoutException as exc:
            failure = TransportError(f"{call.label}: timed out ({type(exc).__name__})")
        except httpx.RequestError as exc:
            failure = TransportError(f"{call.label}: request failed ({type(exc).__name__})")
        elapsed_ms = (time.perf_counter() - started) * 1000
        if self.on_response is not None:
            status = type(failure).__name__ if failure is not None else response.status_code
            self.on_response(call.method, call.path, status)
        if failure is not None:
            logger.warning("%s -> %s after %.0f ms", call.label, failure.message, elapsed_ms)
            # Raised outside the except block: httpx's exception references the
            # request and its Authorization header, so it must not become __context__.
            raise failure
        logger.debug("%s -> %d in %.0f ms", call.label, response.status_code, elapsed_ms)
        return decode(response, call.label, api_key, self._clock.now, text_body=call.text_body)

    # -- reference cache ----------------------------------------------------

    async def _reference(self, api: ProxyApi, kind: str) -> Reference:
        while True:
            cached = self._references.get(kind)
            if cached is not None and cached.expires_at > self._clock.monotonic():
                return cached.value
            task = self._reference_fetches.get(kind)
            leader = task is None or task.done()
            if leader:
                # A task rather than the caller's own coroutine: if the caller that
                # started the fetch is cancelled, everyone waiting on it still gets it.
                task = asyncio.create_task(self._fetch_reference(api, kind))
                self._reference_fetches[kind] = task
                task.add_done_callback(lambda done, kind=kind: self._reference_fetched(kind, done))
            assert task is not None
            try:
                return await asyncio.shield(task)
            except AuthError:
                if leader:
                    raise
                # The shared fetch ran with someone else's key; its ban or typo is
                # not this caller's answer, so try again with our own key.
                continue

    def _reference_fetched(self, kind: str, task: asyncio.Task[Reference]) -> None:
        if self._reference_fetches.get(kind) is task:
            del self._reference_fetches[kind]
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is not reported as lost

    async def _fetch_reference(self, api: ProxyApi, kind: str) -> Reference:
        call = _Call("GET", f"/reference/{_segment(kind)}", Replay.SAFE)
        reply = await self._call(api._api_key, call)
        reference = parse(_REFERENCE, reply.data, call.label, reply.status)
        ttl = _max_age(reply.headers)
        if ttl > 0:
            self._references[kind] = _CachedReference(reference, self._clock.monotonic() + ttl)
        return reference


class ProxyApi:
    """The API as seen by one account. Cheap to create; state lives in the client."""

    __slots__ = ("_api_key", "_client", "_key_id")

    def __init__(self, client: ProxyApiClient, api_key: str) -> None:
        self._client = client
        self._api_key = api_key
        self._key_id = _fingerprint(api_key)[:12]

    def __repr__(self) -> str:
        # A digest prefix tells handles apart in logs without revealing the key.
        return f"ProxyApi(key_id={self._key_id!r})"

    __str__ = __repr__

    @property
    def key_id(self) -> str:
        return self._key_id

    async def _call(self, call: _Call) -> Reply:
        return await self._client._call(self._api_key, call)

    async def _fetch(self, call: _Call, adapter: TypeAdapter[T]) -> T:
        reply = await self._call(call)
        return parse(adapter, reply.data, call.label, reply.status)

    async def _page(
        self, path: str, params: dict[str, Any], adapter: TypeAdapter[Page[T]]
    ) -> Page[T]:
        call = _Call("GET", path, Replay.SAFE, params=params)
        reply = await self._call(call)
        # A list without meta fails validation like any other malformed payload.
        return parse(adapter, {"items": reply.data, "meta": reply.meta}, call.label, reply.status)

    # -- account ------------------------------------------------------------

    async def get_account(self) -> Account:
        call = _Call("GET", "/account", Replay.SAFE)
        return await self._fetch(call, _ACCOUNT)

    async def list_transactions(
        self, page: int = 1, per_page: int = 20, type: TransactionType | str | None = None
    ) -> Page[Transaction]:
        params: dict[str, Any] = {"page": page, "per_page": per_page}
        if type is not None:
            params["type"] = _value(type)
        return await self._page("/account/transactions", params, _TRANSACTIONS)

    async def iter_transactions(
        self, per_page: int = 100, type: TransactionType | str | None = None
    ) -> AsyncIterator[Transaction]:
        """Every transaction, page by page."""
        async for item in _walk(
            lambda page: self.list_transactions(page, per_page, type), lambda t: t.id
        ):
            yield item

    # -- orders -------------------------------------------------------------

    async def calc_order(self, request: OrderRequest) -> Quote:
        # A quote changes nothing, so it may be replayed like a read.
        call = _Call("POST", "/orders/calc", Replay.SAFE, body=request.to_body())
        return await self._fetch(call, _QUOTE)

    async def create_order(self, request: OrderRequest, idempotency_key: str) -> CreatedOrder:
        """Place an order; retried only because every attempt carries ``idempotency_key``.

        The caller should derive the key from its own record of the purchase, so a
        bot restart mid-request replays the same key instead of buying twice.
        """
        if not idempotency_key or not (idempotency_key.isascii() and idempotency_key.isprintable()):
            raise ValueError("idempotency_key must be a non-empty printable ASCII string")
        call = _Call(
            "POST",
            "/orders",
            Replay.KEYED,
            body=request.to_body(),
            headers={"Idempotency-Key": idempotency_key},
            scope=Scope.ORDERS,
        )
        return await self._fetch(call, _CREATED_ORDER)

    async def list_orders(
        self,
        page: int = 1,
        per_page: int = 20,
        status: OrderStatus | str | None = None,
        type: ProxyType | str | None = None,
    ) -> Page[Order]:
        params: dict[str, Any] = {"page": page, "per_page": per_page}
        if status is not None:
            params["status"] = _value(status)
        if type is not None:
            params["type"] = _value(type)
        return await self._page("/orders", params, _ORDERS)

    async def iter_orders(
        self,
        per_page: int = 100,
        status: OrderStatus | str | None = None,
        type: ProxyType | str | None = None,
    ) -> AsyncIterator[Order]:
        """Every order matching the filters, page by page."""
        async for item in _walk(
            lambda page: self.list_orders(page, per_page, status, type), lambda o: o.id
        ):
            yield item

    async def get_order(self, order_id: str) -> OrderDetails:
        call = _Call("GET", f"/orders/{_segment(order_id)}", Replay.SAFE)
        return await self._fetch(call, _ORDER_DETAILS)

    async def get_proxies(self, order_id: str) -> list[ProxyCredential]:
        call = _Call("GET", f"/orders/{_segment(order_id)}/proxies", Replay.SAFE)
        return await self._fetch(call, _PROXIES)

    async def download_proxies(
        self,
        order_id: str,
        format: DownloadFormat | str = DownloadFormat.IP_PORT,
        protocol: Protocol | str = Protocol.HTTPS,
    ) -> str:
        """The order's proxy list as the plain text the API serves for download."""
        call = _Call(
            "GET",
            f"/orders/{_segment(order_id)}/download",
            Replay.SAFE,
            params={"format": _value(format), "protocol": _value(protocol)},
            text_body=True,
        )
        data = (await self._call(call)).data
        if not isinstance(data, str):
            raise BadResponse(f"{call.label}: expected a text body", status=200)
        return data

    async def extend_order(
        self, order_id: str, period_id: int, proxy_ids: list[str] | None = None
    ) -> ExtendResult:
        """Prolong an order. Never retried, not even after 429.

        An extend debits the balance and, unlike POST /orders, accepts no
        Idempotency-Key: if an attempt timed out after the server charged, a
        replay would charge again. A 429 would be safe to replay, but then the
        user waits silently for up to the whole retry budget on a payment
        screen; raising RateLimited at once lets the bot say "try again in N s".
        """
        body: dict[str, Any] = {"periodId": period_id}
        if proxy_ids is not None:
            body["proxyIds"] = list(proxy_ids)
        call = _Call("POST", f"/orders/{_segment(order_id)}/extend", Replay.NEVER, body=body)
        return await self._fetch(call, _EXTEND_RESULT)

    # -- reference & deposits -----------------------------------------------

    async def get_reference(self, type: ProxyType | str) -> Reference:
        """Countries, periods, tariffs... for ``type``; cached for all keys (public data)."""
        return await self._client._reference(self, _value(type))

    async def list_deposit_addresses(self) -> list[DepositAddress]:
        call = _Call("GET", "/deposits/addresses", Replay.SAFE)
        return await self._fetch(call, _DEPOSIT_ADDRESSES)

    async def create_deposit_address(self, currency: str) -> DepositAddress:
        # The spec makes this idempotent (an existing address is returned), so replay is safe.
        call = _Call(
            "POST",
            "/deposits/addresses",
            Replay.SAFE,
            body={"currency": currency},
            scope=Scope.DEPOSITS,
        )
        return await self._fetch(call, _DEPOSIT_ADDRESS)


async def _walk(
    fetch: Callable[[int], Awaitable[Page[T]]], identity: Callable[[T], Hashable]
) -> AsyncIterator[T]:
    """Yield the items of pages 1..meta.totalPages.

    Items created during the walk push older ones onto later pages; ids already
    seen are skipped so those items are not yielded twice.
    """
    seen: set[Hashable] = set()
    page = 1
    while True:
        result = await fetch(page)
        for item in result.items:
            key = identity(item)
            if key not in seen:
                seen.add(key)
                yield item
        if not result.items or page >= result.meta.total_pages:
            return
        page += 1
