"""Expiry reminders: the one-tap extend, muting an order, and the reminder settings."""

from __future__ import annotations

from datetime import timedelta

from aiogram import F, Router
from aiogram.types import CallbackQuery

from core.clock import Clock
from handlers.orders import run_extend
from keyboards.callbacks import ReminderCb, ReminderSettingsCb
from keyboards.reminders import (
    muted_keyboard,
    muted_orders_keyboard,
    reminder_settings_keyboard,
)
from services.errors import StaleAction
from services.orders import OrdersService
from services.reminders import ReminderService
from views.reminders import (
    muted_orders_text,
    muted_text,
    order_line,
    reminder_settings_text,
    unmuted_text,
)
from views.ui import chat_id_of, show


def one_tap_op_id(reminder_id: int) -> str:
    """One operation per reminder: every tap on its buttons is the same extend."""
    return f"rm{reminder_id}"


async def extend_from_reminder(
    query: CallbackQuery,
    callback_data: ReminderCb,
    orders: OrdersService,
    reminders: ReminderService,
    clock: Clock,
) -> None:
    chat_id = chat_id_of(query)
    reminder = await reminders.reminder(chat_id, callback_data.reminder_id)
    if reminder is None:
        raise StaleAction
    message_id = query.message.message_id if query.message else None
    await run_extend(query, orders, clock, lambda: orders.begin_one_tap(
        chat_id,
        query.from_user.id,
        one_tap_op_id(reminder.reminder_id),
        reminder.order_id,
        callback_data.period_id,
        reminder.expires_at,
        message_id,
    ))


async def _order_line(orders: OrdersService, chat_id: int, order_id: str) -> str:
    local = await orders.local(chat_id, order_id)
    if local is None:
        return order_line("", None, None, order_id)
    return order_line(local.type, local.country_name, local.quantity, order_id)


async def mute_from_reminder(
    query: CallbackQuery,
    callback_data: ReminderCb,
    orders: OrdersService,
    reminders: ReminderService,
) -> None:
    chat_id = chat_id_of(query)
    reminder = await reminders.reminder(chat_id, callback_data.reminder_id)
    if reminder is None:
        raise StaleAction
    line = await _order_line(orders, chat_id, reminder.order_id)
    if callback_data.action == "m":
        await reminders.mute_order(chat_id, reminder.order_id)
        await show(query, muted_text(line), muted_keyboard(reminder.reminder_id, reminder.order_id))
        return
    await reminders.unmute_order(chat_id, reminder.order_id)
    await show(
        query, unmuted_text(line),
        muted_keyboard(reminder.reminder_id, reminder.order_id, muted=False),
    )


# -- /settings → reminders -----------------------------------------------------------


async def _settings_screen(query: CallbackQuery, reminders: ReminderService) -> None:
    chat_id = chat_id_of(query)
    offsets = await reminders.offsets_for(chat_id)
    muted = len(await reminders.muted_orders(chat_id))
    await show(query, reminder_settings_text(offsets, muted),
               reminder_settings_keyboard(offsets, muted))


async def reminder_settings(
    query: CallbackQuery, callback_data: ReminderSettingsCb, reminders: ReminderService
) -> None:
    chat_id = chat_id_of(query)
    action, value = callback_data.action, callback_data.value
    if action == "t" and value.isdigit():
        offsets = list(await reminders.offsets_for(chat_id))
        offset = timedelta(seconds=int(value))
        if offset in offsets:
            offsets.remove(offset)
        else:
            offsets.append(offset)
        if offsets:
            await reminders.set_offsets(chat_id, offsets)
        else:
            await reminders.turn_off(chat_id)
    elif action == "off":
        await reminders.turn_off(chat_id)
    elif action == "on":
        await reminders.set_offsets(chat_id, None)
    elif action == "muted":
        muted = await reminders.muted_orders(chat_id)
        await show(query, muted_orders_text(len(muted)), muted_orders_keyboard(muted))
        return
    elif action == "unmute":
        await reminders.unmute_order(chat_id, value)
        muted = await reminders.muted_orders(chat_id)
        await show(query, muted_orders_text(len(muted)), muted_orders_keyboard(muted))
        return
    await _settings_screen(query, reminders)


def setup() -> Router:
    router = Router(name=__name__)
    # A reminder belongs to the whole chat (in a group, the team): anyone may tap, but
    # extending spends money and muting silences it for everyone, so in a group only a
    # current admin's tap does anything (handlers/policies.py).
    router.callback_query.register(
        extend_from_reminder,
        ReminderCb.filter(F.action == "x"),
        flags={"who": "admins", "menu": "shared"},
    )
    router.callback_query.register(
        mute_from_reminder,
        ReminderCb.filter(F.action.in_({"m", "u"})),
        flags={"who": "managers", "menu": "shared"},
    )
    router.callback_query.register(
        reminder_settings, ReminderSettingsCb.filter(), flags={"who": "managers"}
    )
    return router
