"""/buy: the purchase wizard (type → … → quote → confirm) and the Confirm button."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from aiogram import F, Router
from aiogram.filters import Command, Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers.states import Buy
from keyboards.buy import placing_keyboard, screen_keyboard
from keyboards.callbacks import BuyCb, ConfirmCb, MenuCb
from proxy_api import AuthError, InsufficientFunds, ProxyApiError
from services.account import contains_api_key
from services.errors import AlreadyProcessing, StaleAction
from services.paid import PaidActionBlocked, Ticket
from services.purchase import (
    COUNTRY,
    COUPON,
    QUANTITY,
    STEPS,
    Notice,
    OrderUnresolved,
    PurchaseService,
    Receipt,
    Wizard,
    WizardStep,
)
from services.purchase.checkout import CheckoutService, OrderPending, OrderRefused, PurchaseOutcome
from views.best_effort import best_effort
from views.buy import already_processing_text, placing_text, screen_text
from views.errors import error_text
from views.outcomes import blocked_screen, purchase_outcome_screen
from views.ui import chat_id_of, show, working

_DATA_KEY = "buy"
# Text the user typed in the wizard: commands go on to their own handlers, and text with a
# pasted API key belongs to the link router (it deletes it), never to a search or coupon.
_NOT_OURS = F.text.startswith("/") | F.text.func(contains_api_key)
_TYPED = F.text & ~_NOT_OURS

Target = Message | CallbackQuery


def _user_id(target: Target) -> int | None:
    return target.from_user.id if target.from_user else None


def _in_wizard(current: str | None) -> bool:
    # "Buy:<step>" is how older versions stored it: a wizard running across the upgrade.
    return current is not None and current.startswith(f"{Buy.__full_group_name__}:")


async def _wizard(state: FSMContext) -> Wizard:
    """The wizard of this chat, or StaleAction when none is running (old buttons)."""
    if not _in_wizard(await state.get_state()):
        raise StaleAction
    return Wizard.from_dict((await state.get_data()).get(_DATA_KEY))


class AtStep(Filter):
    """The chat's wizard is at one of ``steps`` (the step lives in the wizard's data only)."""

    def __init__(self, *steps: str) -> None:
        self._steps = steps

    async def __call__(self, message: Message, state: FSMContext) -> bool:
        if not _in_wizard(await state.get_state()):
            return False
        return Wizard.from_dict((await state.get_data()).get(_DATA_KEY)).step in self._steps


async def _keep(state: FSMContext, screen: WizardStep) -> None:
    await state.set_state(Buy.wizard)
    await state.update_data({_DATA_KEY: screen.wizard.to_dict()})


async def _present(target: Target, state: FSMContext, screen: WizardStep, prefix: str = "") -> None:
    await _keep(state, screen)
    text = screen_text(screen)
    await show(target, f"{prefix}\n\n{text}" if prefix else text, screen_keyboard(screen))


async def present(target: Target, state: FSMContext, screen: WizardStep) -> None:
    """Show a wizard screen and make it the chat's wizard: for features that lead back to a
    quote (handlers/topup.py: back from a top-up)."""
    await _present(target, state, screen)


async def _unresolved(target: Target, exc: OrderUnresolved) -> None:
    """An earlier order may be placed: offer to settle it instead of anything new."""
    await show(target, *purchase_outcome_screen(OrderPending(exc.op_id, exc.quote, exc.cause)))


async def _step(
    target: Target,
    state: FSMContext,
    purchases: PurchaseService,
    action: Callable[[Wizard], Awaitable[WizardStep]],
    slow: bool | Callable[[Wizard], bool] = False,
) -> None:
    """Run one wizard action; an API hiccup shows the reason and keeps the current step.

    ``slow``: the action may price a quote (several API calls), so the user sees a
    working state first.
    """
    wizard = await _wizard(state)
    prefix = ""
    if callable(slow):
        slow = slow(wizard)
    busy = working(target) if slow else contextlib.nullcontext()
    try:
        try:
            async with busy:
                screen = await action(wizard)
        except AuthError:
            raise
        except ProxyApiError as exc:
            prefix = error_text(exc)
            screen = await purchases.show(chat_id_of(target), wizard)
    except OrderUnresolved as exc:
        # No step of this wizard may go on before that order is settled.
        await state.clear()
        await _unresolved(target, exc)
        return
    await _present(target, state, screen, prefix=prefix)


# -- starting ---------------------------------------------------------------------------


async def _start(target: Target, state: FSMContext, purchases: PurchaseService) -> None:
    # Runs in private chats only: its handlers declare it (setup(), handlers/policies.py).
    try:
        screen = await purchases.start(chat_id_of(target))
    except OrderUnresolved as exc:
        await state.clear()
        await _unresolved(target, exc)
        return
    await state.clear()
    await _present(target, state, screen)


async def buy_command(message: Message, state: FSMContext, purchases: PurchaseService) -> None:
    await _start(message, state, purchases)


async def buy_button(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _start(query, state, purchases)


# -- taps inside the wizard ---------------------------------------------------------------


async def pick(
    query: CallbackQuery, callback_data: BuyCb, state: FSMContext, purchases: PurchaseService
) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.choose(
        chat_id_of(query), _user_id(query), wizard, callback_data.step, callback_data.val,
    ), slow=lambda wizard: wizard.leads_to_quote(callback_data.step))


async def turn_page(
    query: CallbackQuery, callback_data: BuyCb, state: FSMContext, purchases: PurchaseService
) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.turn_page(
        chat_id_of(query), wizard, callback_data.val
    ))


async def back(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.back(chat_id_of(query), wizard))


async def redraw(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.show(chat_id_of(query), wizard))


async def clear_search(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.clear_search(
        chat_id_of(query), wizard
    ))


async def ask_coupon(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.ask_coupon(
        chat_id_of(query), wizard
    ))


async def remove_coupon(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService
) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.remove_coupon(
        chat_id_of(query), _user_id(query), wizard
    ), slow=True)


async def requote(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.requote(
        chat_id_of(query), _user_id(query), wizard
    ), slow=True)


async def unknown_action(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService
) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.show(
        chat_id_of(query), wizard, Notice.STALE
    ))


# -- typing inside the wizard -------------------------------------------------------------


async def typed_quantity(message: Message, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(message, state, purchases, lambda wizard: purchases.choose(
        message.chat.id, _user_id(message), wizard, QUANTITY, message.text or "",
    ), slow=True)


async def typed_search(message: Message, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(message, state, purchases, lambda wizard: purchases.search(
        message.chat.id, wizard, message.text or ""
    ))


async def typed_coupon(message: Message, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(message, state, purchases, lambda wizard: purchases.apply_coupon(
        message.chat.id, _user_id(message), wizard, message.text or "",
    ), slow=True)


async def stray_input(message: Message, state: FSMContext, purchases: PurchaseService) -> None:
    """Text where a button is expected, stickers, photos…: say so and show the step again."""
    await _step(message, state, purchases, lambda wizard: purchases.show(
        message.chat.id, wizard, Notice.USE_BUTTONS
    ))


# -- confirming ---------------------------------------------------------------------------


async def confirm(
    query: CallbackQuery,
    callback_data: ConfirmCb,
    state: FSMContext,
    purchases: PurchaseService,
    checkout: CheckoutService,
    callback_answer: CallbackAnswer,
) -> None:
    op_id = callback_data.op_id
    chat_id = chat_id_of(query)
    message_id = query.message.message_id if query.message else None
    try:
        started = await checkout.begin(chat_id, _user_id(query), op_id, message_id)
    except AlreadyProcessing:
        # The message already says "placing…" for the tap that is in flight.
        callback_answer.text = already_processing_text()
        return
    except PaidActionBlocked as blocked:
        await show(query, *blocked_screen(blocked.other))
        return
    if isinstance(started, WizardStep):  # the quote was too old: priced again
        await _present(query, state, started)
        return
    if isinstance(started, Ticket):
        # Only the tap that won the claim gets here: stop its spinner, show the wait.
        # Both are cosmetic: whatever Telegram answers, the order goes out (or not) the
        # same, and its state never depends on this message.
        callback_answer.disabled = True
        await best_effort(query.answer(), "callback answer")
        await best_effort(show(query, placing_text(), placing_keyboard(op_id)), "placing screen")
        outcome = await checkout.place(started)
    else:
        outcome = started
    await _show_outcome(query, state, purchases, op_id, outcome)


async def _show_outcome(
    query: CallbackQuery,
    state: FSMContext,
    purchases: PurchaseService,
    op_id: str,
    outcome: PurchaseOutcome,
) -> None:
    chat_id = chat_id_of(query)
    wizard_op = (await state.get_data()).get(_DATA_KEY, {}).get("op")
    if isinstance(outcome, Receipt | OrderPending):
        # Bought, or only "Check status" may follow: the wizard of this quote is over.
        if wizard_op in (op_id, getattr(outcome, "op_id", None)):
            await state.clear()
    elif isinstance(outcome, OrderRefused):
        if isinstance(outcome.error, AuthError):
            raise outcome.error  # the key itself: the error handler says what to do
        if not isinstance(outcome.error, InsufficientFunds):
            # Refused before anything was bought: the same quote (and key) stays to retry.
            await _present(query, state, await purchases.saved_quote(chat_id, op_id),
                           prefix=error_text(outcome.error))
            return
        await _keep(state, await purchases.saved_quote(chat_id, op_id))
    else:
        await _keep(state, await purchases.saved_quote(chat_id, op_id))
    await show(query, *purchase_outcome_screen(outcome))


def setup() -> Router:
    router = Router(name=__name__)
    # A purchase only starts in a private chat (handlers/policies.py): money is spent and
    # credentials shown, and a wizard never runs anywhere else.
    router.message.register(buy_command, Command("buy"), flags={"chat": "private"})
    router.callback_query.register(
        buy_button, MenuCb.filter(F.action == "buy"), flags={"chat": "private"}
    )
    # Taps inside the wizard; the last one catches actions this version does not know.
    router.callback_query.register(pick, BuyCb.filter(F.act == "set"))
    router.callback_query.register(turn_page, BuyCb.filter(F.act == "page"))
    router.callback_query.register(back, BuyCb.filter(F.act == "back"))
    router.callback_query.register(redraw, BuyCb.filter(F.act == "show"))
    router.callback_query.register(clear_search, BuyCb.filter(F.act == "clear"))
    router.callback_query.register(ask_coupon, BuyCb.filter(F.act == "coupon"))
    router.callback_query.register(remove_coupon, BuyCb.filter(F.act == "nocoupon"))
    router.callback_query.register(requote, BuyCb.filter(F.act == "requote"))
    router.callback_query.register(unknown_action, BuyCb.filter())
    # Typing inside the wizard; the last one catches whatever else arrives mid-wizard.
    router.message.register(typed_quantity, AtStep(QUANTITY), _TYPED)
    router.message.register(typed_search, AtStep(COUNTRY), _TYPED)
    router.message.register(typed_coupon, AtStep(COUPON), _TYPED)
    router.message.register(stray_input, AtStep(*STEPS), ~_NOT_OURS)
    router.callback_query.register(
        confirm, ConfirmCb.filter(), flags={"callback_answer": {"pre": False}}
    )
    return router
