"""When a failed request may be sent again, and how long to wait first.

Every endpoint declares how safe it is to replay (``Replay``); the policy only
decides numbers. Keeping the two apart means a tuned or disabled policy can
never make a money-moving request replay-unsafe.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import Enum

from proxy_api.errors import ProxyApiError, TransportError, UpstreamError


class Replay(Enum):
    """How safely the same request can reach the server twice."""

    SAFE = "safe"
    """Reads, and POSTs the spec calls idempotent (quotes, deposit addresses)."""

    KEYED = "keyed"
    """POST /orders: replay is safe only because every attempt carries one Idempotency-Key."""

    NEVER = "never"
    """Debits money with no idempotency key (extend); a replay could charge twice."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Numbers for the one retry loop in ``ProxyApiClient``.

    ``max_retries`` bounds retries after transport errors and 5xx answers
    (exponential backoff); the ``rate_limit_*`` fields bound retries after 429,
    which wait exactly what ``Retry-After`` says.
    """

    max_retries: int = 2
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    jitter: float = 0.25
    retry_statuses: frozenset[int] = frozenset({500, 502, 503, 504})
    rate_limit_retries: int = 3
    rate_limit_max_wait: float = 30.0
    rate_limit_default_wait: float = 1.0

    @classmethod
    def disabled(cls) -> RetryPolicy:
        return cls(max_retries=0, rate_limit_retries=0)

    def should_retry(self, replay: Replay, error: ProxyApiError, retries_so_far: int) -> bool:
        """Whether a non-429 failure is worth another attempt."""
        if replay is Replay.NEVER or retries_so_far >= self.max_retries:
            return False
        if isinstance(error, TransportError):
            return True
        if error.status not in self.retry_statuses:
            return False
        # A 502 UPSTREAM_ERROR on an order is the provider's verdict (and the
        # debit has been refunded); replaying it would at best repeat the verdict.
        return not (replay is Replay.KEYED and isinstance(error, UpstreamError))

    def rate_limit_delay(
        self, replay: Replay, retry_after: float | None, retries_so_far: int, waited: float
    ) -> float | None:
        """Seconds to wait before retrying a 429, or None to give up now."""
        if replay is Replay.NEVER or retries_so_far >= self.rate_limit_retries:
            return None
        delay = self.rate_limit_default_wait if retry_after is None else retry_after
        if waited + delay > self.rate_limit_max_wait:
            return None
        return delay

    def backoff(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Delay before retry ``retry_number`` (1-based) after a transport error or 5xx."""
        base = min(self.backoff_max, self.backoff_initial * 2 ** (retry_number - 1))
        # Jitter spreads out the retries of many chats that failed at the same moment.
        return base * (1.0 - self.jitter * rand())


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
