"""/deposit: choose a currency, get its address and a QR code."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from keyboards.callbacks import DepositCb, MenuCb
from keyboards.deposit import address_keyboard, currencies_keyboard
from services.account import AccountService
from services.deposits import DepositService
from views.best_effort import best_effort
from views.deposit import address_text, choose_currency_text
from views.format import h
from views.ui import chat_id_of, show, working


async def deposit_command(message: Message, accounts: AccountService) -> None:
    await accounts.api_for(message.chat.id)  # fails early with "link a key first"
    await message.answer(choose_currency_text(), reply_markup=currencies_keyboard())


async def deposit_button(query: CallbackQuery, accounts: AccountService) -> None:
    await accounts.api_for(chat_id_of(query))
    # A new message, not an edit: the screen with the Top up button (a quote that was short
    # of money, an extend) stays usable after the top-up.
    await query.message.answer(choose_currency_text(), reply_markup=currencies_keyboard())


async def currency_chosen(
    query: CallbackQuery, callback_data: DepositCb, deposits: DepositService
) -> None:
    async with working(query):
        target = await deposits.address(chat_id_of(query), callback_data.currency)
    await show(query, address_text(target.address), address_keyboard())
    # The address above is what matters; the QR code only saves typing it. If the photo
    # fails, the error handler must not replace the address with "Something went wrong".
    sent = await best_effort(
        query.message.answer_photo(
            BufferedInputFile(target.qr_png, filename="deposit-address.png"),
            caption=f"<code>{h(target.address.address or '')}</code>",
        ),
        "send the deposit QR code",
    )
    if sent is None:
        await best_effort(
            query.message.answer(_("I could not send the QR code. Copy the address above.")),
            "say the QR code is missing",
        )


def setup() -> Router:
    router = Router(name=__name__)
    router.message.register(deposit_command, Command("deposit"))
    router.callback_query.register(deposit_button, MenuCb.filter(F.action == "deposit"))
    router.callback_query.register(currency_chosen, DepositCb.filter())
    return router
