"""A controllable clock for tests that need expiry or timestamps to be deterministic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """Stands still at `start` until moved; pass it as `SandboxState(clock=...)`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
        if self.now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by `delta` or by timedelta keyword arguments (days=8, hours=1)."""
        self.now += (delta or timedelta()) + timedelta(**kwargs)
        return self.now


class FakeMonotonic:
    """A monotonic seconds counter for rate-limit tests: `SandboxState(monotonic=...)`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> float:
        self.value += seconds
        return self.value
