"""Member requests in a group: "Request approval" on a member's quote, Approve / Decline.

A member who is not an admin asks at the quote; the request is posted in the group as a
screen of the whole group (`shared_screen`), and only the group's current admins may
answer it (``"who": "admins"``, asked of Telegram on the tap). Services decide
(services/group_requests.py); this module shows. The request message is everyone's, so
whatever goes wrong on a tap is said in that tap's alert, never by overwriting it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, ReplyParameters
from aiogram.utils.callback_answer import CallbackAnswer

from handlers.buy import end_wizard, present, wizard_op
from handlers.group_admins import GroupAdmins
from keyboards.callbacks import AskApprovalCb, GroupRequestCb
from keyboards.requests import request_keyboard, request_pending_keyboard
from proxy_api import ProxyApiError
from services.errors import AlreadyProcessing, BotError
from services.group_requests import (
    EXPIRED,
    GroupRequest,
    GroupRequests,
    RequestBusy,
    RequestClaimed,
    RequestClosed,
    RequestDeclined,
    RequestExists,
    RequestRepriced,
    RequestSettled,
)
from services.purchase import Receipt, WizardStep
from services.purchase.checkout import OrderPending
from views.best_effort import TELEGRAM_FAILURES, best_effort
from views.errors import error_text
from views.requests import (
    already_placing_alert,
    approved_text,
    busy_alert,
    closed_alert,
    decided_notice,
    declined_text,
    expired_text,
    outcome_notice,
    placing_text,
    repriced_alert,
    repriced_notice,
    request_approved_alert,
    request_declined_alert,
    request_exists_text,
    request_sent_text,
    request_text,
)
from views.screens import shared_screen
from views.ui import chat_id_of, show

_GROUPS = ("group", "supergroup")
# Telegram shows at most 200 characters of an answer.
_ALERT_LIMIT = 200


def _alert(answer: CallbackAnswer, text: str) -> None:
    """The tap's answer as an alert (taps in a group are answered after the handler)."""
    answer.text = text[:_ALERT_LIMIT]
    answer.show_alert = True


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Show on the request message; a message sent instead (when the edit fails) belongs
    to the whole group too, never to the admin who tapped."""
    with shared_screen():
        await show(query, text, markup)


# -- a member asks ------------------------------------------------------------------------


async def ask_approval(
    query: CallbackQuery,
    callback_data: AskApprovalCb,
    state: FSMContext,
    group_requests: GroupRequests,
    group_admins: GroupAdmins,
) -> None:
    # The tapper is the quote's owner: the screen answers nobody else ("menu": "owner").
    user = query.from_user
    chat_id = chat_id_of(query)
    result = await group_requests.ask(chat_id, user.id, user.full_name, callback_data.op_id)
    if isinstance(result, WizardStep):
        # Too old: priced again. The member sees the new price and asks again.
        await present(query, state, result, group_admins)
        return
    if isinstance(result, RequestExists):
        await show(query, request_exists_text(), None)
    else:
        request = result.request
        with shared_screen():
            try:
                sent = await query.bot.send_message(
                    chat_id,
                    request_text(request, result.quote),
                    reply_markup=request_keyboard(request.request_id),
                )
            except TELEGRAM_FAILURES:
                # No message: nobody could answer it.
                await group_requests.abandon(request.request_id)
                raise
        await group_requests.posted(request.request_id, sent.message_id)
        await show(query, request_sent_text(), None)
    if await wizard_op(state) == callback_data.op_id:
        await end_wizard(query, state)


# -- an admin answers ----------------------------------------------------------------------

T = TypeVar("T")


async def _answered(callback_answer: CallbackAnswer, decision: Awaitable[T]) -> T | None:
    """An admin's decision, or None when it was refused: the request message belongs to
    the whole group, so the refusal is the tapper's alert and the message stays."""
    try:
        return await decision
    except AlreadyProcessing:
        _alert(callback_answer, already_placing_alert())
    except (BotError, ProxyApiError) as exc:
        _alert(callback_answer, error_text(exc))
    return None


async def approve(
    query: CallbackQuery,
    callback_data: GroupRequestCb,
    group_requests: GroupRequests,
    callback_answer: CallbackAnswer,
) -> None:
    chat_id = chat_id_of(query)
    by = query.from_user
    result = await _answered(callback_answer, group_requests.approve(
        chat_id, callback_data.request_id, by.id, by.full_name
    ))
    if result is None:
        return
    if isinstance(result, RequestClaimed):
        # This tap won the claim: stop its spinner and show the wait (both cosmetic).
        callback_answer.disabled = True
        await best_effort(query.answer(), "callback answer")
        await best_effort(
            _edit(query, placing_text(result.request, result.quote, by.full_name), None),
            "placing screen",
        )
        try:
            result = await group_requests.place(result)
        except (BotError, ProxyApiError) as exc:
            # Refused before it left (the claim is released): the request stays open.
            await _edit(query, request_text(result.request, result.quote, error_text(exc)),
                        request_keyboard(result.request.request_id))
            return
    await _show_result(query, result, callback_answer)


async def _show_result(
    query: CallbackQuery,
    result: RequestClosed | RequestRepriced | RequestSettled | RequestBusy,
    answer: CallbackAnswer,
) -> None:
    if isinstance(result, RequestClosed):
        await _closed(query, result, answer)
    elif isinstance(result, RequestBusy):
        _alert(answer, busy_alert())
    elif isinstance(result, RequestRepriced):
        await _edit(query, request_text(result.request, result.quote, repriced_notice()),
                    request_keyboard(result.request.request_id))
        _alert(answer, repriced_alert())
    else:
        await _settled(query, result, answer)


async def _settled(query: CallbackQuery, result: RequestSettled, answer: CallbackAnswer) -> None:
    request, outcome = result.request, result.outcome
    if isinstance(outcome, Receipt):
        # No buttons: a tap would turn this message, which the whole group reads, into
        # the tapper's own orders screen. /orders opens the order for anyone.
        await _edit(query, approved_text(request, outcome), None)
        if result.first:
            await _tell_requester(query, request, outcome)
        answer.text = request_approved_alert()
        return
    notice = outcome_notice(outcome)
    if isinstance(outcome, OrderPending):
        markup = request_pending_keyboard(request.request_id)
    else:
        markup = request_keyboard(request.request_id)
    await _edit(query, request_text(request, result.quote, notice), markup)


async def _closed(query: CallbackQuery, result: RequestClosed, answer: CallbackAnswer) -> None:
    if result.request.status == EXPIRED:
        # Normally the expiry job has said so already; this tap's edit is a second chance.
        await best_effort(_edit(query, expired_text(result.request, result.quote), None),
                          "show an expired request")
    _alert(answer, closed_alert(result.request))


async def _tell_requester(
    query: CallbackQuery, request: GroupRequest, receipt: Receipt | None
) -> None:
    """A reply mentioning the requester: Telegram notifies them of a new message, not of
    an edit. Cosmetic: the request message already shows the outcome."""
    reply = (ReplyParameters(message_id=request.message_id, allow_sending_without_reply=True)
             if request.message_id is not None else None)
    await best_effort(
        query.bot.send_message(
            request.chat_id, decided_notice(request, receipt), reply_parameters=reply
        ),
        "tell the requester",
    )


async def decline(
    query: CallbackQuery,
    callback_data: GroupRequestCb,
    group_requests: GroupRequests,
    callback_answer: CallbackAnswer,
) -> None:
    chat_id = chat_id_of(query)
    by = query.from_user
    result = await _answered(callback_answer, group_requests.decline(
        chat_id, callback_data.request_id, by.id, by.full_name
    ))
    if result is None:
        return
    if isinstance(result, RequestDeclined):
        await _edit(query, declined_text(result.request, result.quote), None)
        await _tell_requester(query, result.request, None)
        callback_answer.text = request_declined_alert()
        return
    await _show_result(query, result, callback_answer)


def setup() -> Router:
    router = Router(name=__name__)
    in_group = F.message.chat.type.in_(_GROUPS)
    # On the member's own quote ("menu": "owner", the default): only they may ask.
    router.callback_query.register(ask_approval, AskApprovalCb.filter(), in_group)
    # On the request, a screen of the whole group; answering spends (or refuses to spend)
    # the group's money: its current admins only, asked of Telegram on this tap.
    router.callback_query.register(
        approve, GroupRequestCb.filter(F.action == "a"), in_group,
        flags={"who": "admins", "menu": "shared"},
    )
    router.callback_query.register(
        decline, GroupRequestCb.filter(F.action == "d"), in_group,
        flags={"who": "admins", "menu": "shared"},
    )
    return router
