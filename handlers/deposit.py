"""/deposit and the top-up screens: the coin, then its network, then one photo with the
QR code and the address to copy.

The screens replace one another in a single message: text screens are edited, the address
turns the tapped message into a photo (editMessageMedia), and leaving the photo for a text
screen sends that screen and deletes the photo (Telegram cannot turn a photo back into
text). See `views.ui.replace` and `views.ui.show_photo`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from keyboards.callbacks import DepositCb, DepositMenuCb, MenuCb
from keyboards.deposit import (
    address_keyboard,
    assets_keyboard,
    coins_keyboard,
    how_keyboard,
    networks_keyboard,
)
from services.account import AccountService
from services.deposits import DepositService, asset_at
from views.deposit import (
    address_text,
    choose_asset_text,
    choose_coin_text,
    choose_network_text,
    how_deposits_work_text,
)
from views.ui import chat_id_of, replace, show, show_photo, working

if TYPE_CHECKING:
    # The arrival push: the app puts one in the workflow data as "deposit_watch"; an app
    # without it still shows the screens, and they promise no message.
    from services.deposit_watch import DepositWatch

QR_FILENAME = "deposit-address.png"


async def open_deposit(
    target: Message | CallbackQuery, accounts: AccountService, *, in_place: bool = False
) -> None:
    """THE entry to the top-up screens: /deposit, the menu's Top up, any feature's Top up.

    A command, or a button on another screen, gets the first screen as a new message, so
    the screen with the button (a quote short of money, a refused extend) stays usable after
    the top-up. ``in_place``: replace the tapped message instead (the screens' own Back).
    """
    chat_id = chat_id_of(target)
    await accounts.api_for(chat_id)  # fails early with "link a key first"
    text, markup = choose_asset_text(), assets_keyboard()
    if isinstance(target, Message):
        await target.answer(text, reply_markup=markup)
    elif in_place:
        await replace(target, text, markup)
    else:
        await target.bot.send_message(chat_id, text, reply_markup=markup)


async def deposit_command(message: Message, accounts: AccountService) -> None:
    await open_deposit(message, accounts)


async def deposit_button(query: CallbackQuery, accounts: AccountService) -> None:
    await open_deposit(query, accounts)


async def top_screen(query: CallbackQuery, accounts: AccountService) -> None:
    await open_deposit(query, accounts, in_place=True)


async def coins_screen(query: CallbackQuery) -> None:
    await replace(query, choose_coin_text(), coins_keyboard())


async def networks_screen(query: CallbackQuery, callback_data: DepositMenuCb) -> None:
    asset = asset_at(callback_data.asset)
    await replace(query, choose_network_text(asset), networks_keyboard(asset))


async def how_screen(query: CallbackQuery, deposit_watch: DepositWatch | None = None) -> None:
    await replace(query, how_deposits_work_text(deposit_watch is not None), how_keyboard())


async def currency_chosen(
    query: CallbackQuery,
    callback_data: DepositCb,
    deposits: DepositService,
    deposit_watch: DepositWatch | None = None,
) -> None:
    chat_id = chat_id_of(query)
    async with working(query):
        target = await deposits.address(chat_id, callback_data.currency)
    notify = deposit_watch is not None
    markup = address_keyboard(target.option)
    caption = address_text(target, notify=notify)
    if await show_photo(query, target.qr_png, QR_FILENAME, caption, markup) is None:
        # The address is what matters; the QR code only saves typing it. Without the photo
        # the same screen comes as text, and a failure of that goes to the error handler.
        await show(query, address_text(target, notify=notify, qr_missing=True), markup)
    if deposit_watch is not None:
        await deposit_watch.watch(chat_id)


def setup() -> Router:
    router = Router(name=__name__)
    router.message.register(deposit_command, Command("deposit"))
    router.callback_query.register(deposit_button, MenuCb.filter(F.action == "deposit"))
    router.callback_query.register(currency_chosen, DepositCb.filter())
    router.callback_query.register(top_screen, DepositMenuCb.filter(F.screen == "top"))
    router.callback_query.register(coins_screen, DepositMenuCb.filter(F.screen == "coins"))
    router.callback_query.register(networks_screen, DepositMenuCb.filter(F.screen == "net"))
    router.callback_query.register(how_screen, DepositMenuCb.filter(F.screen == "how"))
    return router
