"""One table from the figures of a run, printed and written to bench/RESULTS.md."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.scenarios import Load, Pairs

RESULTS = Path(__file__).with_name("RESULTS.md")


@dataclass
class Row:
    figure: str
    floor: str
    bot: str
    ratio: str = ""


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: str, floor: str, bot: str, ratio: str = "") -> None:
        self.rows.append(Row(figure, floor, bot, ratio))

    def markdown(self) -> str:
        lines = ["| figure | echo floor | this bot | bot vs floor |", "|---|---|---|---|"]
        lines += [f"| {r.figure} | {r.floor} | {r.bot} | {r.ratio} |" for r in self.rows]
        return "\n".join(lines)

    def text(self) -> str:
        header = ("figure", "echo floor", "this bot", "bot vs floor")
        cells = [header, *[(r.figure, r.floor, r.bot, r.ratio) for r in self.rows]]
        widths = [max(len(c[i]) for c in cells) for i in range(4)]
        out = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
        out.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*out, "", *self.notes])


def num(value: float, digits: int = 0) -> str:
    return "—" if math.isnan(value) else f"{value:,.{digits}f}"


def spread(values: Sequence[float], digits: int = 2, unit: str = "×") -> str:
    """Median and range of per-pair ratios: one pair proves nothing on a noisy machine."""
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}{unit}"
    return f"{med:.{digits}f}{unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def load_rows(table: Table, name: str, pairs: Pairs, *, detail: bool) -> None:
    def both(fig: Callable[[Load], float], digits: int = 0) -> tuple[str, str]:
        return num(pairs.median("floor", fig), digits), num(pairs.median("bot", fig), digits)

    floor, bot = both(lambda x: x.throughput)
    table.add(f"{name}: updates/s", floor, bot, spread(pairs.ratios(lambda x: x.throughput)))
    percentiles = [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)] if detail else [("p99", 0.99)]
    for label, q in percentiles:
        floor, bot = both(lambda x, q=q: x.pct(q), 1)
        table.add(f"{name}: {label} latency (ms)", floor, bot,
                  spread(pairs.ratios(lambda x, q=q: x.pct(q))))
    floor, bot = both(lambda x: x.cpu_per_update_ms, 2)
    table.add(f"{name}: process CPU per update (ms)", floor, bot,
              spread(pairs.ratios(lambda x: x.cpu_per_update_ms)))
    floor, bot = both(lambda x: x.polls_per_update, 3)
    table.add(f"{name}: getUpdates calls per update", floor, bot)
    failures = sum(x.failures for x in pairs.bot) + sum(x.failures for x in pairs.floor)
    if failures:
        table.notes.append(f"{name}: {failures} user(s) stopped early (an answer never came)")


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def write(
    table: Table, command: str, started: datetime, seconds: float, path: Path = RESULTS
) -> str:
    body = "\n".join([
        "# Benchmark results",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC (took {seconds / 60:.1f} min)",
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}",
        f"- command: `{command}`",
        "",
        "Written by `make bench` (bench/report.py); every figure below was measured in that "
        "run. Ratios are medians over the A B A B pairs, with the range in brackets.",
        "",
        table.markdown(),
        "",
        *[f"- {note}" for note in table.notes],
        "",
    ])
    path.write_text(body, encoding="utf-8")
    return body


def now() -> datetime:
    return datetime.now(UTC)
