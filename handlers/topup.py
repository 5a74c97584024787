"""Top up and back: Top up on a quote or an extend refused for lack of funds remembers where
the chat comes back to and opens the deposit screens; the deposit's announcement
(bot/deposit_job.py) leads back there, to confirm as usual."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InaccessibleMessage, Message

from core.clock import Clock
from handlers.buy import present
from handlers.deposit import open_deposit
from keyboards.callbacks import TopUpCb
from keyboards.orders import back_to_order_keyboard
from keyboards.topup import KINDS
from services.account import AccountService
from services.deposit_watch import DepositWatch
from services.errors import StaleAction
from services.orders import NotExtendable, OrdersService
from services.purchase import OPERATION_KIND, OrderUnresolved, WizardStep
from services.purchase.checkout import CheckoutService, OrderPending
from views.orders import not_extendable_text
from views.outcomes import extend_outcome_screen, purchase_outcome_screen
from views.ui import chat_id_of, show, working


async def top_up(
    query: CallbackQuery,
    callback_data: TopUpCb,
    accounts: AccountService,
    deposit_watch: DepositWatch,
) -> None:
    chat_id = chat_id_of(query)
    await accounts.api_for(chat_id)  # not linked: say so, remember nothing
    kind = KINDS.get(callback_data.kind)
    if kind is not None:
        await deposit_watch.remember_return(chat_id, callback_data.op_id, kind)
    # A new message: the screen with this button stays usable after the top-up.
    await open_deposit(query, accounts)


def _below(query: CallbackQuery) -> Message | CallbackQuery:
    """Where the screen goes: a new message under the announcement, which stays as the
    record of the deposit (the tap itself when that message is out of reach)."""
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        return query
    return message


async def back(
    query: CallbackQuery,
    callback_data: TopUpCb,
    state: FSMContext,
    checkout: CheckoutService,
    orders: OrdersService,
    clock: Clock,
) -> None:
    kind = KINDS.get(callback_data.kind)
    if kind is None:
        raise StaleAction
    chat_id = chat_id_of(query)
    target = _below(query)
    if kind == OPERATION_KIND:
        try:
            async with working(target):
                result = await checkout.back_to_quote(
                    chat_id, query.from_user.id, callback_data.op_id
                )
        except OrderUnresolved as exc:
            await show(target, *purchase_outcome_screen(
                OrderPending(exc.op_id, exc.quote, exc.cause)
            ))
            return
        if isinstance(result, WizardStep):
            await present(target, state, result)
        else:
            await show(target, *purchase_outcome_screen(result))
        return
    try:
        async with working(target):
            outcome = await orders.confirmation(chat_id, callback_data.op_id)
    except NotExtendable as exc:
        await show(target, not_extendable_text(exc.reason), back_to_order_keyboard(exc.order_id))
        return
    await show(target, *extend_outcome_screen(outcome, clock.now()))


def setup() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(top_up, TopUpCb.filter(F.action == "t"))
    # Back to a payment: private chats only, like the quote and the extend themselves.
    router.callback_query.register(
        back, TopUpCb.filter(F.action == "b"), flags={"chat": "private"}
    )
    return router
