"""Texts of the orders screens: list, details, credentials, downloads and extending."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from proxy_api import Country, Order, Protocol
from services.exports import Layout, proxy_line
from services.orders import (
    PAGE_SIZE,
    Credentials,
    ExportFile,
    ExtendDone,
    ExtendFailed,
    ExtendMenu,
    ExtendQuote,
    OrderInfo,
    OrdersPage,
)
from views.catalogue import type_label
from views.errors import error_text
from views.format import h, stamp, usd
from views.names import country_label, period_label, protocol_label, service_label

# Telegram allows 4096 characters per message; the HTML source is always at least as
# long as the text Telegram counts, so measuring the source keeps every chunk safe.
MESSAGE_LIMIT = 4000

_STATUS_ICONS = {"active": "🟢", "expired": "⚪️", "canceled": "⛔️", "pending": "🟡"}


def status_label(status: str) -> str:
    labels = {
        "active": _("active"),
        "expired": _("expired"),
        "canceled": _("canceled"),
        "pending": _("pending"),
    }
    return labels.get(status, h(status))


def status_filter_label(status: str) -> str:
    labels = {
        "": _("All"),
        "active": _("Active"),
        "expired": _("Expired"),
        "canceled": _("Canceled"),
        "pending": _("Pending"),
    }
    return labels.get(status, h(status))


def status_icon(status: str) -> str:
    return _STATUS_ICONS.get(status, "❔")


def status_explained(status: str) -> str:
    texts = {
        "active": _("the proxies work until the expiry date"),
        "expired": _("the period ended; extend the order to use the proxies again"),
        "canceled": _("the order was canceled and cannot be extended"),
        "pending": _(
            "not yet provisioned: the provider is still setting it up; credentials "
            "appear here as soon as it is ready"
        ),
    }
    return texts.get(status, "")


def country_of(country: Country | None, country_id: int | None) -> str:
    """An order's country as the lists show it ("🇩🇪 Германия"), plain text; "#7" when the
    reference data no longer has it."""
    if country is None:
        return f"#{country_id}" if country_id is not None else ""
    return country_label(country.name, country.code)


def amount_label(order: Order) -> str:
    # Residential orders are traffic packages: their quantity is in GB.
    if order.type == "resident":
        return _("{count} GB").format(count=order.quantity)
    return ngettext("{count} IP", "{count} IPs", order.quantity).format(count=order.quantity)


def left_short(expires_at: datetime | None, now: datetime) -> str:
    """Time left as a row shows it: "12 d left", "5 h left", "expired"."""
    if expires_at is None:
        return ""
    delta = expires_at - now
    if delta <= timedelta():
        return _("expired")
    if delta < timedelta(days=1):
        return _("{hours} h left").format(hours=_hours(delta))
    return _("{days} d left").format(days=_days(delta))


def relative(expires_at: datetime, now: datetime) -> str:
    """ "in 12 days", "in 5 hours", "3 days ago"."""
    delta = expires_at - now
    if delta >= timedelta(days=1):
        days = _days(delta)
        return ngettext("in {days} day", "in {days} days", days).format(days=days)
    if delta > timedelta():
        hours = _hours(delta)
        return ngettext("in {hours} hour", "in {hours} hours", hours).format(hours=hours)
    ago = -delta
    if ago >= timedelta(days=1):
        days = _days(ago)
        return ngettext("{days} day ago", "{days} days ago", days).format(days=days)
    hours = _hours(ago)
    return ngettext("{hours} hour ago", "{hours} hours ago", hours).format(hours=hours)


def _days(delta: timedelta) -> int:
    # Rounded, so an order bought a moment ago for 30 days shows 30, not 29.
    return max(round(delta / timedelta(days=1)), 1)


def _hours(delta: timedelta) -> int:
    return max(round(delta / timedelta(hours=1)), 1)


def expiry_line(expires_at: datetime | None, now: datetime) -> str:
    if expires_at is None:
        return _("no expiry date")
    return f"{stamp(expires_at)} ({relative(expires_at, now)})"


def filter_label(status: str, proxy_type: str) -> str:
    parts = [status_label(status) if status else _("all statuses")]
    parts.append(type_label(proxy_type) if proxy_type else _("all types"))
    return " · ".join(parts)


# -- list & details -------------------------------------------------------------------


def orders_list_text(page: OrdersPage, now: datetime) -> str:
    header = _("📦 <b>Your orders</b> · {filters}").format(
        filters=filter_label(page.status, page.type)
    )
    if not page.rows:
        if page.status or page.type:
            return header + "\n\n" + _("No orders match this filter.")
        return header + "\n\n" + _("No orders yet. Tap 🛒 Buy proxies in the menu to get some.")
    first = (page.page - 1) * PAGE_SIZE
    lines = []
    for index, row in enumerate(page.rows, start=first + 1):
        order = row.order
        parts = [f"<b>{type_label(order.type)}</b>"]
        country = country_of(row.country, order.country_id)
        if country:
            parts.append(h(country))
        parts.append(amount_label(order))
        parts.append(f"{status_icon(order.status)} {status_label(order.status)}")
        left = left_short(order.expires_at, now) if order.status == "active" else ""
        if left:
            parts.append(left)
        lines.append(f"{index}. " + " · ".join(parts))
    footer = _("Page {page} of {pages} · {total} in all").format(
        page=page.page, pages=page.total_pages, total=page.total
    )
    return header + "\n\n" + "\n".join(lines) + "\n\n" + footer + "\n" + _(
        "Tap an order to open it."
    )


def order_details_text(info: OrderInfo, now: datetime) -> str:
    order = info.order
    lines = [recovered_note(info.recovered, now), ""] if info.recovered else []
    lines += [
        _("📦 <b>Order</b> <code>{order_id}</code>").format(order_id=h(order.id)),
        "",
        _("Type: <b>{type}</b>").format(type=type_label(order.type)),
    ]
    if order.country_id is not None:
        country = country_of(info.country, order.country_id)
        lines.append(_("Country: {country}").format(country=h(country)))
    if order.type == "resident":
        lines.append(_("Traffic: {amount}").format(amount=amount_label(order)))
    else:
        lines.append(
            _("Quantity: {quantity} · provisioned: {count}").format(
                quantity=order.quantity, count=order.proxy_count
            )
        )
    if order.protocol:
        lines.append(_("Protocol: {value}").format(value=h(protocol_label(order.protocol))))
    if order.mobile_service_type:
        service = service_label(order.mobile_service_type)
        lines.append(_("Service: {value}").format(value=h(service)))
    if info.period is not None:
        period = period_label(info.period.days, info.period.name)
        lines.append(_("Period: {period}").format(period=h(period)))
    elif order.period_id is not None:
        lines.append(_("Period: #{period}").format(period=order.period_id))
    lines.append(
        _("Status: {icon} <b>{status}</b> — {explained}").format(
            icon=status_icon(order.status),
            status=status_label(order.status),
            explained=status_explained(order.status),
        )
    )
    if order.status != "pending":
        lines.append(_("Expires: {expiry}").format(expiry=expiry_line(order.expires_at, now)))
    if order.currency.upper() == "USD":
        charged = usd(order.charged_amount)
    else:
        charged = f"{order.charged_amount} {h(order.currency)}"
    lines.append(_("Charged: {amount}").format(amount=charged))
    lines.append(_("Created: {date}").format(date=stamp(order.created_at)))
    if order.updated_at is not None:
        lines.append(_("Updated: {date}").format(date=stamp(order.updated_at)))
    return "\n".join(lines)


# -- credentials --------------------------------------------------------------------


def sent_privately_text() -> str:
    """The toast after a group's secret went to the admin's private chat (plain text)."""
    return _("📬 Sent to you in a private chat.")


def protocol_of(code: str) -> Protocol:
    return Protocol.SOCKS5 if code == "s" else Protocol.HTTPS


def protocol_name(protocol: Protocol) -> str:
    return "SOCKS5" if protocol == Protocol.SOCKS5 else "HTTP"


def _credentials_title(creds: Credentials, protocol: Protocol) -> str:
    kind = f" · {type_label(creds.proxy_type)}" if creds.proxy_type else ""
    return _("🔑 <b>Credentials</b> · <code>{order_id}</code>{kind} · {protocol}").format(
        order_id=h(creds.order_id), kind=kind, protocol=protocol_name(protocol)
    )


def _shared_login(creds: Credentials) -> list[str]:
    """The login line when every proxy shares one (said once instead of on each line)."""
    logins = {(p.login, p.password) for p in creds.proxies if p.ip}
    if len(logins) != 1:
        return []
    login, password = next(iter(logins))
    if not (login or password):
        return []
    return [_("Login: <code>{login}</code> · Password: <code>{password}</code>").format(
        login=h(login or ""), password=h(password or "")
    )]


def credentials_chunks(creds: Credentials, protocol: Protocol) -> list[str]:
    """Messages of at most MESSAGE_LIMIT characters; each proxy a one-tap-copy line."""
    lines = []
    for proxy in creds.proxies:
        line = proxy_line(proxy, Layout.URL, protocol)
        if line is not None:
            lines.append(f"<code>{h(line)}</code>")
    header = [_credentials_title(creds, protocol)]
    if not lines:
        header.append(_("No proxies with a {protocol} port in this order yet.").format(
            protocol=protocol_name(protocol)
        ))
        return ["\n".join(header)]
    header += _shared_login(creds)
    header.append(
        ngettext(
            "{count} proxy. Tap a line to copy it:",
            "{count} proxies. Tap a line to copy it:",
            len(lines),
        ).format(count=len(lines))
    )
    return _chunk("\n".join(header), lines, len(lines))


# Above this many proxies the credentials screen is a summary with files first; the lines
# come on demand (a 100-proxy list is two long messages nobody reads on a phone).
BIG_ORDER = 15


def is_big(creds: Credentials) -> bool:
    return len(creds.proxies) > BIG_ORDER


def credentials_summary(creds: Credentials, protocol: Protocol, listed: bool) -> str:
    """A big order's credentials screen: what it is, the shared login, and the way on."""
    lines = [_credentials_title(creds, protocol)]
    lines += _shared_login(creds)
    lines.append(ngettext(
        "{count} proxy: take them as a file for your tool.",
        "{count} proxies: take them as a file for your tool.",
        len(creds.proxies),
    ).format(count=len(creds.proxies)))
    lines.append(
        _("The list is below, one line per proxy: tap a line to copy it.") if listed
        else _("Or show the list here, one line per proxy.")
    )
    return "\n".join(lines)


def list_replaced_text() -> str:
    """What is left of an old list part Telegram would not delete."""
    return _("(replaced by the list below)")


def _chunk(header: str, lines: list[str], total: int) -> list[str]:
    chunks: list[str] = []
    body: list[str] = []
    size = len(header) + 2
    first_index = 1
    current_header = header
    for index, line in enumerate(lines, start=1):
        if body and size + len(line) + 1 > MESSAGE_LIMIT:
            chunks.append(current_header + "\n\n" + "\n".join(body))
            first_index = index
            current_header = _("… continued ({first}–{total} of {total})").format(
                first=first_index, total=total
            )
            body, size = [], len(current_header) + 2
        body.append(line)
        size += len(line) + 1
    chunks.append(current_header + "\n\n" + "\n".join(body))
    return chunks


def download_menu_text(order_id: str) -> str:
    return _(
        "⬇️ <b>Download</b> · <code>{order_id}</code>\n\n"
        "Pick the format your tool imports; I send the list as a file.\n"
        "HTTP and SOCKS5 use different ports. CSV has every field."
    ).format(order_id=h(order_id))


def download_caption(file: ExportFile) -> str:
    return ngettext(
        "📄 {count} proxy · {format}", "📄 {count} proxies · {format}", file.lines
    ).format(count=file.lines, format=h(file.fmt.label))


def download_empty_text() -> str:
    return _("This order has no proxies to download yet.")


# -- extend -------------------------------------------------------------------------


def extend_menu_text(menu: ExtendMenu, now: datetime) -> str:
    order = menu.info.order
    lines = []
    if menu.recovered is not None:
        lines += [recovered_note(menu.recovered, now), ""]
    lines += [
        _("⏳ <b>Extend</b> · <code>{order_id}</code>").format(order_id=h(order.id)),
        _("{type} · {amount}").format(type=type_label(order.type), amount=amount_label(order)),
        _("Expires: {expiry}").format(expiry=expiry_line(order.expires_at, now)),
        "",
        _("Choose how long to extend it for:"),
    ]
    return "\n".join(lines)


def extend_quote_text(quote: ExtendQuote, now: datetime) -> str:
    order = quote.info.order
    lines = []
    if quote.note == "retry":
        lines += [
            _("ℹ️ The last attempt did not go through: the order was not extended and "
              "nothing was charged."),
            "",
        ]
    elif quote.note == "changed":
        lines += [
            _("ℹ️ This order changed since that confirmation (it may have been extended "
              "already). Here are the current details."),
            "",
        ]
    lines += [
        _("⏳ <b>Extend order</b> <code>{order_id}</code> by <b>{period}</b>?").format(
            order_id=h(order.id), period=h(period_label(quote.period.days, quote.period.name))
        ),
        _("{type} · {amount}").format(type=type_label(order.type), amount=amount_label(order)),
        _("Expires now: {expiry}").format(expiry=expiry_line(order.expires_at, now)),
    ]
    if quote.estimate is not None:
        # 1001Proxy's own price for these proxies over this period (POST /orders/calc).
        lines.append(_("Price: <b>{price}</b>").format(price=usd(quote.estimate)))
    elif order.type == "mobile":
        lines.append(_(
            "💬 1001Proxy cannot price a mobile extension in advance (the order does not "
            "name its operator and rotation): it charges it when you confirm, and I show "
            "the amount then."
        ))
    else:
        lines.append(_(
            "💬 1001Proxy did not tell the price just now: it charges it when you confirm, "
            "and I show the amount then."
        ))
    lines += ["", _("The amount is taken from your balance.")]
    return "\n".join(lines)


def extend_done_text(done: ExtendDone, now: datetime) -> str:
    if done.recovered:
        return recovered_note(done, now)
    lines = [
        _("✅ <b>Extended</b> by {period}.").format(
            period=h(period_label(done.period_days, done.period_name))
        ),
        _("Charged: <b>{amount}</b>").format(amount=usd(done.charged))
        if done.charged is not None
        else _("Charged: see /transactions"),
    ]
    if done.expires_at is not None:
        lines.append(_("New expiry: {expiry}").format(expiry=expiry_line(done.expires_at, now)))
    return "\n".join(lines)


def recovered_note(done: ExtendDone, now: datetime) -> str:
    text = _(
        "✅ Your interrupted extension of <code>{order_id}</code> did go through."
    ).format(order_id=h(done.order_id))
    if done.expires_at is not None:
        text += "\n" + _("New expiry: {expiry}").format(expiry=expiry_line(done.expires_at, now))
    if done.charged is not None:
        return text + "\n" + _("Charged: <b>{amount}</b>").format(amount=usd(done.charged))
    return text + "\n" + _("The exact charge is in /transactions.")


def extend_unclear_text() -> str:
    return _(
        "⚠️ I could not confirm whether the extension went through — 1001Proxy did not "
        "answer in time. I am still checking and will not send it again by myself.\n"
        "I will tell you here as soon as the order or your transactions show what "
        "happened; tap <b>Check</b> to look now."
    )


def extend_failed_text(failure: ExtendFailed) -> str:
    return error_text(failure.cause) + "\n" + _("The order was not extended.")


def not_extendable_text(reason: str) -> str:
    texts = {
        "resident": _(
            "Residential traffic packages cannot be extended. Buy a new package instead."
        ),
        "canceled": _("This order is canceled and cannot be extended."),
        "no_periods": _("1001Proxy offers no extension periods for this type right now."),
    }
    return texts.get(reason, _("This order cannot be extended."))
