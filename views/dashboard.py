"""The main menu: a short dashboard (balance, orders expiring soonest) and the first welcome."""

from __future__ import annotations

from datetime import datetime

from aiogram.utils.i18n import gettext as _

from services.dashboard import Dashboard, LocalOrder
from views.account import link_prompt_text
from views.catalogue import type_label
from views.format import h, usd
from views.names import country_label
from views.orders import amount_label, left_short

# Where people get a 1001Proxy API key (docs/1001proxy-api.md, "Authentication").
API_KEYS_URL = "https://1001proxy.io/dashboard/api-keys"


def first_welcome_text(first_name: str | None) -> str:
    """The first /start of a chat without a key: who the bot is, then the key prompt."""
    name = h(first_name or _("there"))
    return "\n\n".join([
        _("👋 Hi, {name}! I sell 1001Proxy proxies right here in Telegram.").format(name=name),
        link_prompt_text(),
    ])


def _order_line(order: LocalOrder, now: datetime) -> str:
    parts = [f"<b>{type_label(order.type)}</b>"]
    if order.country_name:
        parts.append(h(country_label(order.country_name)))
    parts.append(amount_label(order))  # type: ignore[arg-type]  # type and quantity suffice
    parts.append(left_short(order.expires_at, now))
    return "• " + " · ".join(parts)


def dashboard_text(dashboard: Dashboard) -> str:
    """A linked chat's menu (in a group too: the group's balance, nothing secret)."""
    if dashboard.balance is None:
        balance = _("💰 Balance: not available right now")
    else:
        balance = _("💰 Balance: <b>{balance}</b>").format(balance=usd(dashboard.balance))
    lines = [_("🏠 <b>Menu</b>"), "", balance, ""]
    if dashboard.expiring:
        lines.append(_("⏳ Expiring soonest:"))
        lines += [_order_line(order, dashboard.now) for order in dashboard.expiring]
    else:
        lines.append(_("No active orders yet."))
    return "\n".join(lines)


def unlinked_menu_text(chat_type: str) -> str:
    """The menu of a chat without a key."""
    if chat_type != "private":
        return _("🏠 <b>Menu</b>") + "\n\n" + _(
            "🔒 This group has no 1001Proxy account linked yet. An admin sends /link here "
            "and gives me the key in a private chat — never paste a key in the group."
        )
    return _("🏠 <b>Menu</b>") + "\n\n" + _(
        "🔑 No API key is linked yet: tap Link API key and send it to me."
    )
