"""How often one person may have a pasted API key checked (each check is a GET /account)."""

from __future__ import annotations

from collections import deque

from core.clock import Clock

# Past this many people tracked, those with no check in the window are forgotten.
_PRUNE_THRESHOLD = 10_000


class KeyCheckLimiter:
    """At most ``limit`` key checks per person in any ``window`` seconds (a sliding window)."""

    def __init__(self, clock: Clock, *, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a key-check limit needs limit >= 1 and a positive window")
        self._clock = clock
        self._limit = limit
        self._window = window
        self._checks: dict[int, deque[float]] = {}

    def try_check(self, user_id: int) -> float | None:
        """Count a check and return None if it may go ahead; otherwise count nothing and
        return the seconds until the next one may."""
        now = self._clock.monotonic()
        checks = self._checks.get(user_id)
        if checks is None:
            if len(self._checks) >= _PRUNE_THRESHOLD:
                self._prune(now)
            checks = self._checks[user_id] = deque()
        while checks and checks[0] <= now - self._window:
            checks.popleft()
        if len(checks) >= self._limit:
            return max(0.0, checks[0] + self._window - now)
        checks.append(now)
        return None

    def _prune(self, now: float) -> None:
        self._checks = {
            user: checks
            for user, checks in self._checks.items()
            if checks and checks[-1] > now - self._window
        }
