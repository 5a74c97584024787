"""Per-API-key token buckets for the three rate-limit scopes of the spec."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

GENERAL = "general"
ORDERS = "orders"
DEPOSITS = "deposits"
SCOPES: tuple[str, ...] = (GENERAL, ORDERS, DEPOSITS)


@dataclass(frozen=True)
class RateLimits:
    """Requests per minute for each scope; `enabled=False` turns limiting off entirely."""

    general: int = 60
    orders: int = 10
    deposits: int = 30
    enabled: bool = True

    def __post_init__(self) -> None:
        for scope in SCOPES:
            value = getattr(self, scope)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"rate limit {scope!r} must be an integer >= 1, got {value!r}")

    def per_minute(self, scope: str) -> int:
        return int(getattr(self, scope))


class TokenBucket:
    """Holds up to `per_minute` tokens and refills continuously at `per_minute / 60` per second."""

    def __init__(self, per_minute: int, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def seconds_until_token(self) -> float:
        # Refills are summed in floats, so "one token" is allowed a hair of rounding error.
        return 0.0 if self.tokens >= 1.0 - 1e-9 else (1.0 - self.tokens) / self.rate


class RateLimiter:
    def __init__(self, limits: RateLimits, monotonic: Callable[[], float]) -> None:
        self.limits = limits
        self._monotonic = monotonic
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def reconfigure(self, limits: RateLimits) -> None:
        # Buckets are rebuilt so a new capacity applies at once instead of after a refill.
        self.limits = limits
        self._buckets.clear()

    def acquire(self, key: str, scopes: Iterable[str]) -> int | None:
        """Take one token from every scope, or none of them.

        Returns None when the request may proceed, otherwise the whole number of seconds
        (at least 1) until every scope has a token again, for the `Retry-After` header.
        """
        if not self.limits.enabled:
            return None
        now = self._monotonic()
        buckets = []
        for scope in scopes:
            bucket = self._buckets.get((key, scope))
            if bucket is None:
                bucket = TokenBucket(self.limits.per_minute(scope), now)
                self._buckets[(key, scope)] = bucket
            bucket.refill(now)
            buckets.append(bucket)
        wait = max((b.seconds_until_token() for b in buckets), default=0.0)
        if wait > 0:
            # The epsilon keeps float noise (1.0000000001 s) from rounding up a whole second.
            return max(1, math.ceil(wait - 1e-9))
        for bucket in buckets:
            bucket.tokens -= 1.0
        return None
