"""Texts of expiry reminders and of the reminder settings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from views.catalogue import type_label
from views.format import h
from views.names import country_label
from views.orders import expiry_line


def short_id(order_id: str) -> str:
    """The end of an order id: enough to tell orders apart on a phone."""
    return order_id if len(order_id) <= 10 else "…" + order_id[-8:]


def order_line(
    proxy_type: str, country: str | None, quantity: int | None, order_id: str
) -> str:
    parts = [f"<b>{type_label(proxy_type)}</b>"]
    if country:
        parts.append(h(country_label(country)))
    if quantity:
        parts.append(ngettext("{n} proxy", "{n} proxies", quantity).format(n=quantity))
    parts.append(f"<code>{h(short_id(order_id))}</code>")
    return " · ".join(parts)


def reminder_text(
    order: str, expires_at: datetime, now: datetime, expired: bool, unpriced: bool = False
) -> str:
    """``order`` is the line from ``order_line``; ``unpriced``: some Extend button carries no
    price (the API could not quote it), so the message says so instead of letting a tap
    spend an amount nobody was shown."""
    when = expiry_line(expires_at, now)
    if expired:
        title, expiry = _("⌛ <b>These proxies have expired.</b>"), _("Expired: {when}")
        action = _("Extend them to get them back, or open the order.")
    else:
        title, expiry = _("⏰ <b>Your proxies expire soon.</b>"), _("Expires: {when}")
        action = _("Extend with one tap: the amount is taken from your balance.")
    lines = [title, order, expiry.format(when=when), "", action]
    if unpriced:
        lines.append(_(
            "💬 1001Proxy cannot price this extension in advance: it charges it when you "
            "tap, and I show the amount then."
        ))
    return "\n".join(lines)


def muted_text(order: str) -> str:
    return _("🔕 No more reminders for this order.") + "\n" + order


def unmuted_text(order: str) -> str:
    return _("🔔 Reminders for this order are on again.") + "\n" + order


def offset_label(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return ngettext("{n} day", "{n} days", days).format(n=days)
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("{n} hour", "{n} hours", hours).format(n=hours)
    minutes = max(seconds // 60, 1)
    return ngettext("{n} minute", "{n} minutes", minutes).format(n=minutes)


def reminder_settings_text(offsets: Sequence[timedelta], muted_orders: int) -> str:
    lines = [_("⏰ <b>Expiry reminders</b>"), ""]
    if offsets:
        when = ", ".join(offset_label(o) for o in offsets)
        lines.append(_("I remind this chat {when} before an order expires.").format(when=when))
    else:
        lines.append(_("Reminders are off for this chat."))
    if muted_orders:
        lines.append(
            ngettext("{n} order is muted.", "{n} orders are muted.", muted_orders).format(
                n=muted_orders
            )
        )
    lines += ["", _("Tap a time to add or remove it.")]
    return "\n".join(lines)


def muted_orders_text(count: int) -> str:
    if not count:
        return _("🔕 No muted orders: every order gets its reminders.")
    return _("🔕 <b>Muted orders</b>\nTap one to turn its reminders back on.")


def key_revoked_text() -> str:
    return _(
        "🔑 1001Proxy no longer accepts this chat's API key — it may have been rotated or "
        "revoked. Expiry reminders and order updates are paused until you link the new one "
        "with /start."
    )
