"""Keyboards of the orders screens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import (
    CredsCb,
    DownloadCb,
    ExtendCb,
    ExtendConfirmCb,
    MenuCb,
    OrderCb,
    OrdersCb,
)
from keyboards.common import BUTTON_LIMIT, fit, home_button, priced
from keyboards.topup import top_up_button
from proxy_api import InsufficientFunds, Period, Protocol
from services.exports import FORMATS
from services.orders import (
    EXTEND_KIND,
    PAGE_SIZE,
    STATUS_FILTERS,
    TYPE_FILTERS,
    ExtendFailed,
    ExtendQuote,
    OrderInfo,
    OrderRow,
    OrdersPage,
)
from views.catalogue import type_label
from views.names import country_flag, period_label
from views.orders import (
    left_short,
    status_filter_label,
    status_icon,
    status_label,
)


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _order_home_row(order_id: str) -> list[InlineKeyboardButton]:
    return [_button(_("⬅️ Order"), OrderCb(action="view", order_id=order_id)), home_button()]


def _order_row(index: int, row: OrderRow, now: datetime) -> str:
    """"3. 🟢 IPv4 🇩🇪 · 12 d left": the number of its line in the list above, the status
    icon, type and flag; the time left (or the status) only when it still fits a phone."""
    order = row.order
    label = f"{index}. {status_icon(order.status)} {type_label(order.type)}"
    if row.country is not None:
        mark = country_flag(row.country.name, row.country.code)
        label += f" {mark}" if mark else ""
    left = left_short(order.expires_at, now) if order.status == "active" else ""
    more = f"{label} · {left or status_label(order.status)}"
    return more if len(more) <= BUTTON_LIMIT else label


def orders_list_keyboard(page: OrdersPage, now: datetime) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    first = (page.page - 1) * PAGE_SIZE
    for index, row in enumerate(page.rows, start=first + 1):
        view = OrderCb(action="view", order_id=row.order.id)
        builder.row(_button(_order_row(index, row, now), view))

    statuses = [
        _button(
            ("• " if status == page.status else "") + status_filter_label(status),
            OrdersCb(page=1, status=status, type=page.type),
        )
        for status in ("", *STATUS_FILTERS)
    ]
    type_text = _("Type: {type} ▾").format(
        type=type_label(page.type) if page.type else _("all")
    )
    builder.row(*statuses[:3])
    builder.row(
        *statuses[3:], _button(type_text, OrdersCb(status=page.status, type=page.type, pick="t"))
    )

    nav = []
    if page.page > 1:
        nav.append(_button("◀️", OrdersCb(page=page.page - 1, status=page.status, type=page.type)))
    if page.total_pages > 1:
        nav.append(
            _button(
                f"{page.page}/{page.total_pages}",
                OrdersCb(page=page.page, status=page.status, type=page.type),
            )
        )
    if page.page < page.total_pages:
        nav.append(_button("▶️", OrdersCb(page=page.page + 1, status=page.status, type=page.type)))
    if nav:
        builder.row(*nav)
    builder.row(
        _button(_("🔄 Refresh"), OrdersCb(page=page.page, status=page.status, type=page.type)),
        home_button(),
    )
    return builder.as_markup()


def type_picker_keyboard(status: str, current: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for proxy_type in ("", *TYPE_FILTERS):
        label = type_label(proxy_type) if proxy_type else _("All types")
        mark = "• " if proxy_type == current else ""
        builder.button(text=mark + label, callback_data=OrdersCb(status=status, type=proxy_type))
    builder.adjust(2)
    builder.row(_button(_("⬅️ Back"), OrdersCb(status=status, type=current)), home_button())
    return builder.as_markup()


def order_details_keyboard(info: OrderInfo, back: OrdersCb) -> InlineKeyboardMarkup:
    order_id = info.order.id
    builder = InlineKeyboardBuilder()
    if info.order.status != "pending":
        builder.row(
            _button(_("🔑 Credentials"), CredsCb(order_id=order_id, proto="h")),
            _button(_("⬇️ Download"), OrderCb(action="dl", order_id=order_id)),
        )
    if info.extendable:
        builder.row(_button(_("⏳ Extend"), OrderCb(action="ext", order_id=order_id)))
    builder.row(_button(_("🔄 Refresh"), OrderCb(action="view", order_id=order_id)))
    builder.row(_button(_("⬅️ Orders"), back), home_button())
    return builder.as_markup()


def credentials_keyboard(order_id: str, protocol: Protocol) -> InlineKeyboardMarkup:
    other = "h" if protocol == Protocol.SOCKS5 else "s"
    switch = _("Show HTTP") if other == "h" else _("Show SOCKS5")
    builder = InlineKeyboardBuilder()
    builder.row(
        _button("🔁 " + switch, CredsCb(order_id=order_id, proto=other)),
        _button(_("⬇️ Download"), OrderCb(action="dl", order_id=order_id)),
    )
    builder.row(*_order_home_row(order_id))
    return builder.as_markup()


def big_credentials_keyboard(
    order_id: str, protocol: Protocol, listed: bool
) -> InlineKeyboardMarkup:
    """A big order's summary: the file of this protocol's lines first, the other formats,
    the list on demand (shown or hidden), the other protocol (keeps the list as it is)."""
    this = "s" if protocol == Protocol.SOCKS5 else "h"
    other = "h" if this == "s" else "s"
    switch = _("Show HTTP") if other == "h" else _("Show SOCKS5")
    url_file = next(f for f in FORMATS if f.code == "r" + this)
    builder = InlineKeyboardBuilder()
    builder.row(_button(url_file.label, DownloadCb(order_id=order_id, fmt=url_file.code)))
    builder.row(_button(_("⬇️ Other formats"), OrderCb(action="dl", order_id=order_id)))
    toggle = _("🙈 Hide the list") if listed else _("📋 Show the list")
    builder.row(
        _button(toggle, CredsCb(order_id=order_id, proto=this, lines=0 if listed else 1)),
        _button("🔁 " + switch, CredsCb(order_id=order_id, proto=other, lines=int(listed))),
    )
    builder.row(*_order_home_row(order_id))
    return builder.as_markup()


def download_keyboard(order_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    pairs: list[list[InlineKeyboardButton]] = []
    for fmt in FORMATS:
        button = _button(fmt.label, DownloadCb(order_id=order_id, fmt=fmt.code))
        if pairs and len(pairs[-1]) == 1 and fmt.protocol == Protocol.SOCKS5:
            pairs[-1].append(button)
        else:
            pairs.append([button])
    for pair in pairs:
        builder.row(*pair)
    builder.row(*_order_home_row(order_id))
    return builder.as_markup()


def extend_periods_keyboard(
    order_id: str, periods: Sequence[Period], prices: Mapping[int, Decimal] | None = None
) -> InlineKeyboardMarkup:
    """One button per period, with what extending for it costs where the API told it."""
    builder = InlineKeyboardBuilder()
    for period in periods:
        label = priced(period_label(period.days, period.name), (prices or {}).get(period.id))
        builder.button(
            text=fit(label, period.name),
            callback_data=ExtendCb(order_id=order_id, period_id=period.id),
        )
    builder.adjust(2)
    builder.row(
        _button(_("⬅️ Back"), OrderCb(action="view", order_id=order_id)),
        _cancel_to_order(order_id),
    )
    return builder.as_markup()


def _cancel_to_order(order_id: str) -> InlineKeyboardButton:
    # Leaving an extend goes back to the order it was about, not to the main menu.
    return _button(_("✖️ Cancel"), OrderCb(action="view", order_id=order_id))


def extend_confirm_keyboard(quote: ExtendQuote) -> InlineKeyboardMarkup:
    order_id = quote.info.order.id
    builder = InlineKeyboardBuilder()
    builder.row(_button(_("✅ Confirm and pay"), ExtendConfirmCb(op_id=quote.op_id)))
    builder.row(
        _button(_("⬅️ Back"), OrderCb(action="ext", order_id=order_id)),
        _cancel_to_order(order_id),
    )
    return builder.as_markup()


def extend_done_keyboard(order_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(
        _button(_("📦 Order"), OrderCb(action="view", order_id=order_id)),
        _button(_("📋 All orders"), MenuCb(action="orders")),
    )
    builder.row(home_button())
    return builder.as_markup()


def extend_unclear_keyboard(op_id: str, order_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(_button(_("🔄 Check"), ExtendConfirmCb(op_id=op_id)))
    builder.row(*_order_home_row(order_id))
    return builder.as_markup()


def extend_failed_keyboard(failure: ExtendFailed) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if isinstance(failure.cause, InsufficientFunds):
        # The deposit's announcement leads back to this extend's confirmation.
        builder.row(top_up_button(failure.op_id, EXTEND_KIND))
    builder.row(_button(_("🔁 Try again"), ExtendConfirmCb(op_id=failure.op_id)))
    builder.row(*_order_home_row(failure.order_id))
    return builder.as_markup()


def back_to_order_keyboard(order_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[_order_home_row(order_id)])
