"""Client-side token buckets mirroring the API's documented per-key limits.

Waiting here, before a request is sent, is always safe; being answered 429
after sending is not (an extend is never retried). So the bot slows itself
down to the documented rate instead of discovering the limit the hard way.

Waiting is bounded, though: a person tapping faster than their key allows
would otherwise queue ever longer waits (each holding a handler and its
memory) and then see answers long after they stopped caring. Past
``RateLimits.max_wait`` the request is refused at once with ``RateLimited``,
whose ``retry_after`` becomes "try again in N s".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import Enum

from core.clock import Clock
from proxy_api.errors import RateLimited

# Refills are float arithmetic; without a little slack a bucket refilled to
# 0.9999999 tokens would schedule a second, microscopic sleep.
_EPSILON = 1e-9


class Scope(Enum):
    """A limit that applies to some endpoints on top of the general one."""

    ORDERS = "orders"
    DEPOSITS = "deposits"


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Requests allowed per key per ``window`` seconds; None switches a bucket off.

    ``max_wait`` bounds how long one request may wait for its tokens (all its buckets
    together) before it is refused with ``RateLimited`` instead.
    """

    general: int | None = 60
    orders: int | None = 10
    deposits: int | None = 30
    window: float = 60.0
    max_wait: float = 5.0

    @classmethod
    def unlimited(cls) -> RateLimits:
        return cls(general=None, orders=None, deposits=None)

    def limit_for(self, scope: Scope | None) -> int | None:
        if scope is None:
            return self.general
        return self.orders if scope is Scope.ORDERS else self.deposits


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``capacity / window`` per second."""

    def __init__(self, capacity: int, window: float, clock: Clock) -> None:
        if capacity < 1 or window <= 0:
            raise ValueError("a token bucket needs capacity >= 1 and a positive window")
        self._capacity = float(capacity)
        self._rate = capacity / window
        self._clock = clock
        self._tokens = self._capacity
        self._stamp = clock.monotonic()
        # Waiters queue on the lock, so they are served in arrival order and each
        # computes its wait only after the one before it has taken its token.
        self._lock = asyncio.Lock()
        # Callers inside acquire() that have not taken their token yet (holding or
        # queued on the lock): each will take one before a newcomer gets its turn.
        self._queued = 0

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._stamp = now

    def expected_wait(self) -> float:
        """Seconds a caller arriving now would wait for its token."""
        self._refill()
        missing = self._queued + 1.0 - self._tokens
        return max(0.0, missing / self._rate) if missing > _EPSILON else 0.0

    async def acquire(self, max_wait: float | None = None) -> None:
        """Take a token, waiting for it; RateLimited at once when that wait would be
        longer than ``max_wait`` seconds (nothing is taken then)."""
        if max_wait is not None:
            wait = self.expected_wait()
            if wait > max_wait + _EPSILON:
                raise RateLimited(
                    f"client-side rate limit: a token in {wait:.1f} s", retry_after=wait
                )
        self._queued += 1
        try:
            async with self._lock:
                self._refill()
                while self._tokens < 1.0 - _EPSILON:
                    await self._clock.sleep((1.0 - self._tokens) / self._rate)
                    self._refill()
                self._tokens -= 1.0
        finally:
            self._queued -= 1

    def is_idle(self) -> bool:
        """Full and unused: forgetting it changes nothing."""
        self._refill()
        return self._tokens >= self._capacity - _EPSILON and self._queued == 0


class KeyLimiter:
    """The buckets of one API key."""

    def __init__(self, limits: RateLimits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._buckets: dict[Scope | None, TokenBucket] = {}

    def _bucket(self, scope: Scope | None) -> TokenBucket | None:
        bucket = self._buckets.get(scope)
        if bucket is None:
            limit = self._limits.limit_for(scope)
            if limit is None:
                return None
            bucket = self._buckets[scope] = TokenBucket(limit, self._limits.window, self._clock)
        return bucket

    async def acquire(self, scope: Scope | None) -> None:
        """Wait for the tokens of one request, at most ``max_wait`` in all; past that,
        RateLimited without waiting (so without sending)."""
        budget = self._limits.max_wait
        started = self._clock.monotonic()
        # The scarcer bucket first: a general token taken before a long wait for
        # an orders token would sit unused meanwhile.
        if scope is not None and (scoped := self._bucket(scope)) is not None:
            await scoped.acquire(budget)
        if (general := self._bucket(None)) is not None:
            spent = self._clock.monotonic() - started
            await general.acquire(max(0.0, budget - spent))

    def is_idle(self) -> bool:
        return all(bucket.is_idle() for bucket in self._buckets.values())
