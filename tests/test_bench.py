"""`make bench` keeps working: its round trips run (a few of each), and every reply arrives.

Timings are never asserted here; the benchmark itself prints them.
"""

from __future__ import annotations

from bench.__main__ import bot_round_trips


async def test_bench_round_trips_run() -> None:
    results = await bot_round_trips(10)  # faster than any flood limit lets one person go
    assert results and all(len(samples) == 10 for samples in results.values()), results
