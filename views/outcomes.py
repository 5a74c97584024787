"""How a paid action ended, as a screen: text and keyboard side by side.

One place for both ways an outcome reaches a user: the tap that ran it (handlers) and
the start-up recovery or background check that settled it without a tap (bot/paid_notices).
"""

from __future__ import annotations

from datetime import datetime

from aiogram.types import InlineKeyboardMarkup

from keyboards.buy import (
    insufficient_keyboard,
    not_placed_keyboard,
    purchase_failed_keyboard,
    receipt_keyboard,
    unresolved_keyboard,
)
from keyboards.orders import (
    extend_confirm_keyboard,
    extend_done_keyboard,
    extend_failed_keyboard,
    extend_unclear_keyboard,
)
from proxy_api import InsufficientFunds
from services.errors import AlreadyProcessing
from services.orders import (
    ExtendDone,
    ExtendFailed,
    ExtendOutcome,
    ExtendQuote,
    ExtendUnclear,
)
from services.paid import IN_FLIGHT, Operation
from services.purchase import OPERATION_KIND, Receipt, quote_of
from services.purchase.checkout import (
    OrderFailed,
    OrderNotPlaced,
    OrderPending,
    OrderRefused,
    PurchaseOutcome,
)
from views.buy import (
    insufficient_text,
    not_placed_text,
    purchase_failed_text,
    receipt_text,
    unresolved_text,
)
from views.errors import error_text
from views.orders import (
    extend_done_text,
    extend_failed_text,
    extend_quote_text,
    extend_unclear_text,
)

ScreenParts = tuple[str, InlineKeyboardMarkup]


def purchase_outcome_screen(outcome: PurchaseOutcome) -> ScreenParts:
    if isinstance(outcome, Receipt):
        return receipt_text(outcome), receipt_keyboard(outcome.order_id)
    if isinstance(outcome, OrderPending):
        text = unresolved_text(outcome.quote, stale=outcome.stale)
        if outcome.cause is not None:
            text = f"{error_text(outcome.cause)}\n\n{text}"
        return text, unresolved_keyboard(outcome.op_id)
    if isinstance(outcome, OrderFailed):
        return purchase_failed_text(outcome.refunded), purchase_failed_keyboard()
    if isinstance(outcome, OrderRefused):
        if isinstance(outcome.error, InsufficientFunds):
            return insufficient_text(outcome.error), insufficient_keyboard(outcome.op_id)
        return error_text(outcome.error), not_placed_keyboard(outcome.op_id)
    assert isinstance(outcome, OrderNotPlaced)
    return not_placed_text(outcome.quote, outcome.interrupted), not_placed_keyboard(outcome.op_id)


def extend_outcome_screen(outcome: ExtendOutcome, now: datetime) -> ScreenParts:
    if isinstance(outcome, ExtendDone):
        return extend_done_text(outcome, now), extend_done_keyboard(outcome.order_id)
    if isinstance(outcome, ExtendUnclear):
        return extend_unclear_text(), extend_unclear_keyboard(outcome.op_id, outcome.order_id)
    if isinstance(outcome, ExtendFailed):
        return extend_failed_text(outcome), extend_failed_keyboard(outcome)
    assert isinstance(outcome, ExtendQuote)
    return extend_quote_text(outcome, now), extend_confirm_keyboard(outcome)


def blocked_screen(other: Operation) -> ScreenParts:
    """Another paid action of the chat is open: show it (with its check button) instead."""
    if other.status == IN_FLIGHT:
        text = error_text(AlreadyProcessing())
        if other.kind == OPERATION_KIND:
            return text, unresolved_keyboard(other.op_id)
        order_id = str(other.request.get("order_id") or other.order_id or "")
        return text, extend_unclear_keyboard(other.op_id, order_id)
    if other.kind == OPERATION_KIND:
        return purchase_outcome_screen(OrderPending(other.op_id, quote_of(other)))
    order_id = str(other.request.get("order_id") or other.order_id or "")
    return extend_unclear_text(), extend_unclear_keyboard(other.op_id, order_id)
