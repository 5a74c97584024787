"""Keyboards of the top-up screens: stablecoins → network, other coins → (network), address.

Every level has Back (to the level above) and Cancel; the first level only Cancel, as its
"back" would be the main menu, which is where Cancel goes.
"""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import DepositCb, DepositMenuCb
from keyboards.common import cancel_button, home_button
from services.deposits import (
    ASSETS,
    OTHER_COINS,
    STABLECOINS,
    DepositOption,
    networks_of,
)
from views.deposit import network_label


def _screen(screen: str, asset: str | None = None) -> str:
    index = ASSETS.index(asset) if asset is not None else -1
    return DepositMenuCb(screen=screen, asset=index).pack()


def _asset_button(asset: str) -> InlineKeyboardButton:
    """An asset with several networks opens their list; with one, its address at once."""
    options = networks_of(asset)
    data = (
        _screen("net", asset) if len(options) > 1 else DepositCb(currency=options[0].index).pack()
    )
    return InlineKeyboardButton(text=asset, callback_data=data)


def _back_and_cancel(back: str) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=_("⬅️ Back"), callback_data=back), cancel_button()]


def _parent_of_asset(asset: str) -> str:
    return _screen("coins") if asset in OTHER_COINS else _screen("top")


def assets_keyboard() -> InlineKeyboardMarkup:
    """The first level: the stablecoins, Other coins, How deposits work, Cancel."""
    builder = InlineKeyboardBuilder()
    builder.row(*(_asset_button(asset) for asset in STABLECOINS))
    builder.row(InlineKeyboardButton(text=_("🪙 Other coins"), callback_data=_screen("coins")))
    builder.row(
        InlineKeyboardButton(text=_("ℹ️ How deposits work"), callback_data=_screen("how"))
    )
    builder.row(cancel_button())
    return builder.as_markup()


def coins_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for asset in OTHER_COINS:
        builder.add(_asset_button(asset))
    builder.adjust(3)
    builder.row(*_back_and_cancel(_screen("top")))
    return builder.as_markup()


def networks_keyboard(asset: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for option in networks_of(asset):
        builder.button(text=network_label(option), callback_data=DepositCb(currency=option.index))
    builder.adjust(2)
    builder.row(*_back_and_cancel(_parent_of_asset(asset)))
    return builder.as_markup()


def how_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[_back_and_cancel(_screen("top"))])


def address_keyboard(option: DepositOption) -> InlineKeyboardMarkup:
    """Back to where this currency was picked; Other currency to the first level."""
    if len(networks_of(option.asset)) > 1:
        back = _screen("net", option.asset)
    else:
        back = _parent_of_asset(option.asset)
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=_("⬅️ Back"), callback_data=back),
                InlineKeyboardButton(text=_("💱 Other currency"), callback_data=_screen("top")),
            ],
            [home_button()],
        ]
    )
