"""/balance and /transactions."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from keyboards.account import TX_KINDS, balance_keyboard, transactions_keyboard, tx_kind_label
from keyboards.callbacks import MenuCb, TxPageCb
from services.account import AccountService
from views.account import account_text, transactions_text
from views.ui import chat_id_of, show, working


async def _balance(target: Message | CallbackQuery, chat_id: int, accounts: AccountService) -> None:
    async with working(target):
        account = await accounts.account(chat_id)
    await show(target, account_text(account), balance_keyboard())


async def balance_command(message: Message, accounts: AccountService) -> None:
    await _balance(message, message.chat.id, accounts)


async def balance_button(query: CallbackQuery, accounts: AccountService) -> None:
    await _balance(query, chat_id_of(query), accounts)


async def _transactions(
    target: Message | CallbackQuery, chat_id: int, page: int, kind: str, accounts: AccountService
) -> None:
    if kind not in TX_KINDS or page < 1:
        page, kind = 1, ""
    result = await accounts.transactions(chat_id, page, kind or None)
    pages = max(result.meta.total_pages, 1)
    if page > pages:
        # The list shrank since the button was drawn: show the last page instead.
        result = await accounts.transactions(chat_id, pages, kind or None)
        page = pages
    await show(
        target,
        transactions_text(result, tx_kind_label(kind)),
        transactions_keyboard(page, pages, kind),
    )


async def transactions_command(message: Message, accounts: AccountService) -> None:
    await _transactions(message, message.chat.id, 1, "", accounts)


async def transactions_button(query: CallbackQuery, accounts: AccountService) -> None:
    await _transactions(query, chat_id_of(query), 1, "", accounts)


async def transactions_page(
    query: CallbackQuery, callback_data: TxPageCb, accounts: AccountService
) -> None:
    await _transactions(query, chat_id_of(query), callback_data.page, callback_data.kind,
                        accounts)


def setup() -> Router:
    router = Router(name=__name__)
    router.message.register(balance_command, Command("balance"))
    router.callback_query.register(balance_button, MenuCb.filter(F.action == "balance"))
    router.message.register(transactions_command, Command("transactions"))
    router.callback_query.register(transactions_button, MenuCb.filter(F.action == "tx"))
    router.callback_query.register(transactions_page, TxPageCb.filter())
    return router
