"""Formatting shared by every screen; everything from users or the API is escaped here."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from html import escape

CENT = Decimal("0.01")


def h(value: object) -> str:
    """Escape anything that came from a user or the API before it goes into HTML."""
    return escape("" if value is None else str(value), quote=False)


def usd(amount: Decimal) -> str:
    value = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def signed_usd(amount: Decimal) -> str:
    value = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return f"+{usd(value)}" if value > 0 else usd(value)


def day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "—"


def stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mask_email(email: str) -> str:
    """``ann.smith@example.com`` → ``a***@example.com``: enough for a team to recognise
    its account, not enough to write to it. Not escaped: pass the result through `h`."""
    local, at, domain = email.partition("@")
    if not at:
        return email[:1] + "***"
    return f"{local[:1]}***@{domain}"
