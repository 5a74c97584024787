"""JSON text writer that keeps money exact.

The bot parses numbers with `Decimal`, and the spec shows money as JSON numbers with two
decimals (`"price": 12.50`). The standard encoder cannot emit `12.50` (a float prints as
`12.5`), so `Decimal` values are written by hand: quantized to cents and emitted as bare
numbers. Everything that is not money must therefore not be a `Decimal`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def money(value: Decimal | int | str) -> Decimal:
    """Round to cents, half-up, the way every price in the sandbox is rounded."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(value: Decimal) -> str:
    """Money as a string with exactly two decimals (`balance`, 402 details)."""
    return format(money(value), "f")


def iso_ms(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, as in every spec example."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


def iso_date(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.isoformat()


def dumps(value: object) -> str:
    """Serialize plain data (dict/list/str/int/bool/None/float/Decimal) to JSON text."""
    parts: list[str] = []
    _write(value, parts.append)
    return "".join(parts)


def _write(value: object, out: Callable[[str], object]) -> None:
    if value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError("non-finite Decimal cannot be serialized")
        out(money_text(value))
    elif isinstance(value, int):
        out(str(int(value)))
    elif isinstance(value, float):
        out(json.dumps(value, allow_nan=False))
    elif isinstance(value, str):
        out(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Mapping):
        out("{")
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            if index:
                out(", ")
            out(json.dumps(key, ensure_ascii=False))
            out(": ")
            _write(item, out)
        out("}")
    elif isinstance(value, list | tuple):
        out("[")
        for index, item in enumerate(value):
            if index:
                out(", ")
            _write(item, out)
        out("]")
    else:
        raise TypeError(f"cannot serialize {type(value).__name__} to JSON")
