from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import DepositCb, MenuCb
from keyboards.common import home_button
from proxy_api import DEPOSIT_CURRENCIES


def currency_label(code: str) -> str:
    return code.replace("_", " ")


def currencies_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for index, code in enumerate(DEPOSIT_CURRENCIES):
        builder.button(text=currency_label(code), callback_data=DepositCb(currency=index))
    builder.adjust(3)
    builder.row(home_button())
    return builder.as_markup()


def address_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("💰 Check balance"), callback_data=MenuCb(action="balance"))
    builder.button(text=_("⬅️ Other currency"), callback_data=MenuCb(action="deposit"))
    builder.adjust(1)
    builder.row(home_button())
    return builder.as_markup()
