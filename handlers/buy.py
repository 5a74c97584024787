"""/buy: the purchase wizard (type → … → quote → confirm) and the Confirm button."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.proxy_api import AuthError, InsufficientFunds, ProxyApiError
from bot.services.account import contains_api_key
from bot.services.errors import AlreadyProcessing, PrivateChatOnly, StaleAction
from bot.services.purchase import (
    COUNTRY,
    COUPON,
    QUANTITY,
    STEPS,
    Notice,
    OrderUnresolved,
    PurchaseFailed,
    PurchaseService,
    Screen,
    Wizard,
)
from bot.states import Buy
from bot.ui import chat_id_of, show, working
from bot.views.buy import (
    already_processing_text,
    insufficient_text,
    placing_text,
    purchase_failed_text,
    receipt_text,
    screen_text,
    unresolved_text,
)
from bot.views.errors import error_text
from keyboards.buy import (
    insufficient_keyboard,
    placing_keyboard,
    purchase_failed_keyboard,
    receipt_keyboard,
    screen_keyboard,
    unresolved_keyboard,
)
from keyboards.callbacks import BuyCb, ConfirmCb, MenuCb

router = Router(name=__name__)

_STATES = {step: getattr(Buy, step) for step in STEPS}
_DATA_KEY = "buy"
# Text the user typed in the wizard: commands go on to their own handlers, and text with a
# pasted API key belongs to the link router (it deletes it), never to a search or coupon.
_NOT_OURS = F.text.startswith("/") | F.text.func(contains_api_key)
_TYPED = F.text & ~_NOT_OURS

Target = Message | CallbackQuery


def _user_id(target: Target) -> int | None:
    return target.from_user.id if target.from_user else None


async def _wizard(state: FSMContext) -> Wizard:
    """The wizard of this chat, or StaleAction when none is running (old buttons)."""
    current = await state.get_state()
    if current not in {s.state for s in _STATES.values()}:
        raise StaleAction
    return Wizard.from_dict((await state.get_data()).get(_DATA_KEY))


async def _keep(state: FSMContext, screen: Screen) -> None:
    await state.set_state(_STATES[screen.wizard.step])
    await state.update_data({_DATA_KEY: screen.wizard.to_dict()})


async def _present(target: Target, state: FSMContext, screen: Screen, prefix: str = "") -> None:
    await _keep(state, screen)
    text = screen_text(screen)
    await show(target, f"{prefix}\n\n{text}" if prefix else text, screen_keyboard(screen))


async def _unresolved(target: Target, exc: OrderUnresolved) -> None:
    """An earlier order may be placed: offer to settle it instead of anything new."""
    text = unresolved_text(exc.quote)
    if exc.cause is not None:
        text = f"{error_text(exc.cause)}\n\n{text}"
    await show(target, text, unresolved_keyboard(exc.op_id))


async def _step(
    target: Target,
    state: FSMContext,
    purchases: PurchaseService,
    action: Callable[[Wizard], Awaitable[Screen]],
) -> None:
    """Run one wizard action; an API hiccup shows the reason and keeps the current step."""
    wizard = await _wizard(state)
    prefix = ""
    try:
        try:
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
    if isinstance(target, Message):
        chat = target.chat
    else:
        chat = target.message.chat if target.message else None
    if chat is None or chat.type != "private":
        raise PrivateChatOnly
    try:
        screen = await purchases.start(chat.id)
    except OrderUnresolved as exc:
        await state.clear()
        await _unresolved(target, exc)
        return
    await state.clear()
    await _present(target, state, screen)


@router.message(Command("buy"))
async def buy_command(message: Message, state: FSMContext, purchases: PurchaseService) -> None:
    await _start(message, state, purchases)


@router.callback_query(MenuCb.filter(F.action == "buy"))
async def buy_button(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _start(query, state, purchases)


# -- taps inside the wizard ---------------------------------------------------------------


@router.callback_query(BuyCb.filter(F.act == "set"))
async def pick(
    query: CallbackQuery, callback_data: BuyCb, state: FSMContext, purchases: PurchaseService
) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.choose(
        chat_id_of(query), _user_id(query), wizard, callback_data.step, callback_data.val,
        busy=lambda: working(query),
    ))


@router.callback_query(BuyCb.filter(F.act == "page"))
async def turn_page(
    query: CallbackQuery, callback_data: BuyCb, state: FSMContext, purchases: PurchaseService
) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.turn_page(
        chat_id_of(query), wizard, callback_data.val
    ))


@router.callback_query(BuyCb.filter(F.act == "back"))
async def back(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.back(chat_id_of(query), wizard))


@router.callback_query(BuyCb.filter(F.act == "show"))
async def redraw(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.show(chat_id_of(query), wizard))


@router.callback_query(BuyCb.filter(F.act == "clear"))
async def clear_search(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.clear_search(
        chat_id_of(query), wizard
    ))


@router.callback_query(BuyCb.filter(F.act == "coupon"))
async def ask_coupon(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.ask_coupon(
        chat_id_of(query), wizard
    ))


@router.callback_query(BuyCb.filter(F.act == "nocoupon"))
async def remove_coupon(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService
) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.remove_coupon(
        chat_id_of(query), _user_id(query), wizard, busy=lambda: working(query)
    ))


@router.callback_query(BuyCb.filter(F.act == "requote"))
async def requote(query: CallbackQuery, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.requote(
        chat_id_of(query), _user_id(query), wizard, busy=lambda: working(query)
    ))


@router.callback_query(BuyCb.filter())
async def unknown_action(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService
) -> None:
    await _step(query, state, purchases, lambda wizard: purchases.show(
        chat_id_of(query), wizard, Notice.STALE
    ))


# -- typing inside the wizard -------------------------------------------------------------


@router.message(StateFilter(_STATES[QUANTITY]), _TYPED)
async def typed_quantity(message: Message, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(message, state, purchases, lambda wizard: purchases.choose(
        message.chat.id, _user_id(message), wizard, QUANTITY, message.text or "",
        busy=lambda: working(message),
    ))


@router.message(StateFilter(_STATES[COUNTRY]), _TYPED)
async def typed_search(message: Message, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(message, state, purchases, lambda wizard: purchases.search(
        message.chat.id, wizard, message.text or ""
    ))


@router.message(StateFilter(_STATES[COUPON]), _TYPED)
async def typed_coupon(message: Message, state: FSMContext, purchases: PurchaseService) -> None:
    await _step(message, state, purchases, lambda wizard: purchases.apply_coupon(
        message.chat.id, _user_id(message), wizard, message.text or "",
        busy=lambda: working(message),
    ))


@router.message(StateFilter(*_STATES.values()), ~_NOT_OURS)
async def stray_input(message: Message, state: FSMContext, purchases: PurchaseService) -> None:
    """Text where a button is expected, stickers, photos…: say so and show the step again."""
    await _step(message, state, purchases, lambda wizard: purchases.show(
        message.chat.id, wizard, Notice.USE_BUTTONS
    ))


# -- confirming ---------------------------------------------------------------------------


@router.callback_query(ConfirmCb.filter(), flags={"callback_answer": {"pre": False}})
async def confirm(
    query: CallbackQuery,
    callback_data: ConfirmCb,
    state: FSMContext,
    purchases: PurchaseService,
    callback_answer: CallbackAnswer,
) -> None:
    op_id = callback_data.op_id
    chat_id = chat_id_of(query)

    @contextlib.asynccontextmanager
    async def placing() -> AsyncIterator[None]:
        # Only the tap that won the claim gets here: stop its spinner, show the wait.
        callback_answer.disabled = True
        with contextlib.suppress(TelegramBadRequest):  # a spinner is not worth a purchase
            await query.answer()
        await show(query, placing_text(), placing_keyboard(op_id))
        yield

    try:
        outcome = await purchases.confirm(chat_id, _user_id(query), op_id, busy=placing)
    except AlreadyProcessing:
        # The message already says "placing…" for the tap that is in flight.
        callback_answer.text = already_processing_text()
        return
    except OrderUnresolved as exc:
        # The answer was lost (or this order waits for an earlier one): only "Check
        # status" is offered, never a way to a new quote and key.
        if (await state.get_data()).get(_DATA_KEY, {}).get("op") in (op_id, exc.op_id):
            await state.clear()
        await _unresolved(query, exc)
        return
    except InsufficientFunds as exc:
        await _keep(state, await purchases.saved_quote(chat_id, op_id))
        await show(query, insufficient_text(exc), insufficient_keyboard(op_id))
        return
    except PurchaseFailed as exc:
        await _keep(state, await purchases.saved_quote(chat_id, op_id))
        await show(query, purchase_failed_text(exc.refunded), purchase_failed_keyboard())
        return
    except AuthError:
        raise
    except ProxyApiError as exc:
        # Refused before anything was bought: the same quote (and key) stays to retry.
        await _present(query, state, await purchases.saved_quote(chat_id, op_id),
                       prefix=error_text(exc))
        return
    if isinstance(outcome, Screen):
        await _present(query, state, outcome)
        return
    if (await state.get_data()).get(_DATA_KEY, {}).get("op") == op_id:
        await state.clear()
    await show(query, receipt_text(outcome), receipt_keyboard(outcome.order_id))
