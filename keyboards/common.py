"""Keyboards shared by every feature: the main menu and navigation rows."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import CancelCb, MenuCb


def home_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("🏠 Menu"), callback_data=MenuCb(action="home").pack())


def cancel_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=CancelCb().pack())


def main_menu(linked: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if linked:
        builder.button(text=_("🛒 Buy proxies"), callback_data=MenuCb(action="buy"))
        builder.button(text=_("📦 My orders"), callback_data=MenuCb(action="orders"))
        builder.button(text=_("💰 Balance"), callback_data=MenuCb(action="balance"))
        builder.button(text=_("➕ Top up"), callback_data=MenuCb(action="deposit"))
        builder.button(text=_("📜 Transactions"), callback_data=MenuCb(action="tx"))
        builder.button(text=_("⚙️ Settings"), callback_data=MenuCb(action="settings"))
        builder.button(text=_("❓ Help"), callback_data=MenuCb(action="help"))
        builder.adjust(2, 2, 2, 1)
    else:
        builder.button(text=_("🔑 Link API key"), callback_data=MenuCb(action="link"))
        builder.button(text=_("⚙️ Settings"), callback_data=MenuCb(action="settings"))
        builder.button(text=_("❓ Help"), callback_data=MenuCb(action="help"))
        builder.adjust(1, 2)
    return builder.as_markup()


def only_home() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[home_button()]])


def only_cancel() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[cancel_button()]])
