"""Durations as people write them in settings: a number and a unit (``30s``, ``10m``, ``3d``).

In core so that settings (bot/) and the domain (services/, reminder offsets) read them the
same way.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
EXAMPLES = "30s, 10m, 1h or 3d"


def parse_duration(value: str) -> timedelta:
    """``30s``, ``10m``, ``1.5h``, ``250ms``, ``2d``: a unit is required, so ``60`` is never
    silently read as seconds when minutes were meant."""
    match = _DURATION_RE.match(value.strip().lower())
    if match is None:
        raise ValueError("expected a duration like 30s, 10m or 1h")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("expected a duration longer than zero")
    return timedelta(seconds=seconds)


def parse_durations(value: str) -> tuple[timedelta, ...]:
    """``3d,1d,3h`` → three durations, in the order written.

    The error names the part that is wrong, so an operator sees which one of a list to fix.
    """
    parts = [part.strip() for part in value.split(",")]
    if not any(parts):
        raise ValueError(f"expected durations like {EXAMPLES}, separated by commas")
    found = []
    for part in parts:
        try:
            found.append(parse_duration(part))
        except ValueError:
            raise ValueError(
                f'"{part}" is not a duration (expected a number and a unit: {EXAMPLES})'
            ) from None
    return tuple(found)


def format_duration(value: timedelta) -> str:
    """The shortest exact form in the units above (``3d``, ``90m``), for logs and messages."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"
