"""Buttons of a reminder (one-tap extend, open, mute) and of the reminder settings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import ORDER_ID_MAX, MenuCb, OrderCb, ReminderCb, ReminderSettingsCb
from keyboards.common import fit, home_button
from proxy_api import Period
from views.format import usd
from views.names import period_label
from views.reminders import offset_label, short_id

# What the settings screen offers to add or remove.
OFFSET_PRESETS: tuple[timedelta, ...] = (
    timedelta(days=7), timedelta(days=3), timedelta(days=1),
    timedelta(hours=12), timedelta(hours=3), timedelta(hours=1),
)


def reminder_keyboard(
    reminder_id: int,
    order_id: str,
    periods: Sequence[tuple[Period, Decimal | None]],
    more_periods: bool = False,
) -> InlineKeyboardMarkup:
    """One-tap Extend per period in ``periods``; ``more_periods``: the order has others,
    offered through its extend menu (which prices them before anything is charged)."""
    builder = InlineKeyboardBuilder()
    for period, price in periods:
        label = period_label(period.days, period.name)
        # "+1 month · $7.20": the message says a tap extends; the button says by how much.
        text = (
            _("+{period} · {price}").format(period=label, price=usd(price))
            if price is not None
            else _("⏳ Extend {period}").format(period=label)
        )
        tap = ReminderCb(action="x", reminder_id=reminder_id, period_id=period.id)
        builder.row(InlineKeyboardButton(text=fit(text, label), callback_data=tap.pack()))
    if more_periods and len(order_id) <= ORDER_ID_MAX:
        others = OrderCb(action="ext", order_id=order_id)
        builder.row(InlineKeyboardButton(text=_("⏳ Other periods"), callback_data=others.pack()))
    row = []
    if len(order_id) <= ORDER_ID_MAX:
        row.append(InlineKeyboardButton(
            text=_("📦 Open order"), callback_data=OrderCb(action="view", order_id=order_id).pack()
        ))
    row.append(InlineKeyboardButton(
        text=_("🔕 Mute this order"),
        callback_data=ReminderCb(action="m", reminder_id=reminder_id).pack(),
    ))
    builder.row(*row)
    return builder.as_markup()


def muted_keyboard(reminder_id: int, order_id: str, muted: bool = True) -> InlineKeyboardMarkup:
    """After muting: undo it; after unmuting: mute again."""
    builder = InlineKeyboardBuilder()
    if muted:
        builder.button(
            text=_("🔔 Unmute"), callback_data=ReminderCb(action="u", reminder_id=reminder_id)
        )
    else:
        builder.button(
            text=_("🔕 Mute this order"),
            callback_data=ReminderCb(action="m", reminder_id=reminder_id),
        )
    if len(order_id) <= ORDER_ID_MAX:
        builder.button(
            text=_("📦 Open order"), callback_data=OrderCb(action="view", order_id=order_id)
        )
    builder.adjust(2)
    builder.row(home_button())
    return builder.as_markup()


def reminder_settings_keyboard(
    offsets: Sequence[timedelta], muted_orders: int
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    chosen = set(offsets)
    presets = sorted(set(OFFSET_PRESETS) | chosen, reverse=True)
    for offset in presets:
        mark = "✅ " if offset in chosen else ""
        builder.button(
            text=mark + offset_label(offset),
            callback_data=ReminderSettingsCb(action="t", value=str(int(offset.total_seconds()))),
        )
    builder.adjust(3)
    if offsets:
        builder.row(InlineKeyboardButton(
            text=_("🔕 Turn reminders off"),
            callback_data=ReminderSettingsCb(action="off").pack(),
        ))
    else:
        builder.row(InlineKeyboardButton(
            text=_("🔔 Turn on (defaults)"),
            callback_data=ReminderSettingsCb(action="on").pack(),
        ))
    if muted_orders:
        builder.row(InlineKeyboardButton(
            text=_("🔕 Muted orders ({n})").format(n=muted_orders),
            callback_data=ReminderSettingsCb(action="muted").pack(),
        ))
    builder.row(
        InlineKeyboardButton(text=_("⬅️ Back"), callback_data=MenuCb(action="settings").pack()),
        home_button(),
    )
    return builder.as_markup()


def muted_orders_keyboard(order_ids: Sequence[str]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for order_id in order_ids:
        if len(order_id) > ORDER_ID_MAX:
            continue  # cannot fit a button; unmuting it stays possible from its reminder
        builder.row(InlineKeyboardButton(
            text="🔔 " + short_id(order_id),
            callback_data=ReminderSettingsCb(action="unmute", value=order_id).pack(),
        ))
    builder.row(InlineKeyboardButton(
        text=_("⬅️ Back"), callback_data=ReminderSettingsCb(action="show").pack()
    ))
    return builder.as_markup()
