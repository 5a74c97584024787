"""/buy: the purchase wizard (type → … → quote → confirm) and the Confirm button.

In a group the wizard runs with the group's key, one per person (the FSM is per user in
chat) and its screens answer only their opener (handlers/policies.py). Confirm spends
the group's money, so only its admins may (checked live on the tap); a member who is not
an admin sees "Request approval" instead (handlers/requests.py). With privacy mode on the
bot reads only replies to its messages (and mentions of it), so a step that takes typing
also sends a ForceReply prompt to its owner, and typed input in a group counts only as
such a reply or mention: ordinary group chatter is never answered.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers import flow_screens
from handlers.group_admins import GroupAdmins
from handlers.states import Buy
from keyboards.buy import placing_keyboard, screen_keyboard, typing_reply_markup
from keyboards.callbacks import BuyCb, ConfirmCb, MenuCb
from proxy_api import AuthError, InsufficientFunds, ProxyApiError
from services.account import contains_api_key
from services.errors import AdminCheckFailed, AlreadyProcessing, StaleAction
from services.paid import PaidActionBlocked, Ticket
from services.purchase import (
    COUNTRY,
    COUPON,
    QUANTITY,
    QUOTE,
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
from views.buy import already_processing_text, placing_text, screen_text, typing_prompt
from views.errors import error_text
from views.outcomes import blocked_screen, purchase_outcome_screen
from views.requests import mention
from views.ui import chat_id_of, show, show_on, working

_DATA_KEY = "buy"
# The group's ForceReply prompt of the current step: {"id": message id, "step": step}.
_PROMPT_KEY = "buy_prompt"
_GROUPS = ("group", "supergroup")
# Text the user typed in the wizard: commands go on to their own handlers, and text with a
# pasted API key belongs to the link router (it deletes it), never to a search or coupon.
_NOT_OURS = F.text.startswith("/") | F.text.func(contains_api_key)
_TYPED = F.text & ~_NOT_OURS

Target = Message | CallbackQuery


def _user_id(target: Target) -> int | None:
    return target.from_user.id if target.from_user else None


def _in_group(target: Target) -> bool:
    if isinstance(target, Message):
        return target.chat.type in _GROUPS
    message = target.message
    return message is not None and message.chat.type in _GROUPS


class Addressed(Filter):
    """Typed input meant for the bot; passes it on as ``typed`` (without the bot's mention).

    In a private chat, anything. In a group only a reply to one of the bot's messages (the
    typing prompt, a wizard screen) or a message mentioning the bot — with privacy mode
    on, the only messages Telegram delivers; without it, everything else is chatter
    between people that the bot must not answer.
    """

    async def __call__(self, message: Message, bot: Bot) -> bool | dict[str, Any]:
        text = message.text or ""
        if message.chat.type not in _GROUPS:
            return {"typed": text}
        reply = message.reply_to_message
        if reply is not None and reply.from_user is not None and reply.from_user.id == bot.id:
            return {"typed": text}
        me = await bot.me()
        if not me.username:
            return False
        handle = re.compile(rf"(?<![\w@])@{re.escape(me.username)}\b", re.IGNORECASE)
        if not handle.search(text):
            return False
        return {"typed": " ".join(handle.sub(" ", text).split())}


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


async def _requester(target: Target, admins: GroupAdmins | None) -> bool:
    """A group member who is not an admin: their quote offers "Request approval".

    What is shown may use the cached answer; the tap on Confirm asks Telegram again.
    """
    user = target.from_user
    if admins is None or user is None or not _in_group(target):
        return False
    try:
        return not await admins.is_admin(chat_id_of(target), user.id)
    except AdminCheckFailed:
        return False  # Confirm, then: its own live check at the tap decides


async def _present(
    target: Target,
    state: FSMContext,
    screen: WizardStep,
    admins: GroupAdmins | None = None,
    prefix: str = "",
    in_place: bool = False,
) -> None:
    """``in_place``: typed input whose answer replaces the current screen (a coupon edits
    its quote) instead of following as a new message."""
    await _keep(state, screen)
    requester = screen.wizard.step == QUOTE and await _requester(target, admins)
    text = screen_text(screen, requester)
    if prefix:
        text = f"{prefix}\n\n{text}"
    markup = screen_keyboard(screen, requester)
    if in_place and isinstance(target, Message):
        shown = await show_on(target, await flow_screens.current_screen(state), text, markup)
    else:
        shown = await show(target, text, markup)
    # The wizard's screen is this message now; an earlier one loses its buttons.
    await flow_screens.remember(state, shown)
    await _typing_prompt(target, state, screen.wizard.step)


async def present(
    target: Target, state: FSMContext, screen: WizardStep, admins: GroupAdmins | None = None
) -> None:
    """Show a wizard screen and make it the chat's wizard: for features that lead back to a
    quote (handlers/topup.py: back from a top-up; handlers/requests.py: a re-priced quote)."""
    await _present(target, state, screen, admins)


# -- typing in a group: ForceReply prompts ----------------------------------------------------


async def _typing_prompt(target: Target, state: FSMContext, step: str) -> None:
    """In a group, keep one ForceReply prompt for a step that takes typing: sent when such
    a step opens (and again after each typed answer, whose reply box is used up), deleted
    when the wizard moves on. All of it best effort: the buttons work without it."""
    if not _in_group(target) or target.from_user is None:
        return
    chat_id = chat_id_of(target)
    old = (await state.get_data()).get(_PROMPT_KEY)
    if isinstance(old, dict):
        if old.get("step") == step and not isinstance(target, Message):
            return  # still there, still unanswered (a page turned, a notice shown)
        await _drop_prompt(target.bot, chat_id, old)
        await state.update_data({_PROMPT_KEY: None})
    user = target.from_user
    text = typing_prompt(step, mention(user.id, user.full_name))
    if text is None or target.bot is None:
        return
    sent = await best_effort(
        target.bot.send_message(chat_id, text, reply_markup=typing_reply_markup(step)),
        "send a typing prompt",
    )
    if sent is not None:
        await state.update_data({_PROMPT_KEY: {"id": sent.message_id, "step": step}})


async def _drop_prompt(bot: Bot | None, chat_id: int, prompt: object) -> None:
    if bot is None or not isinstance(prompt, dict) or not isinstance(prompt.get("id"), int):
        return
    await best_effort(bot.delete_message(chat_id, prompt["id"]), "delete a typing prompt")


async def wizard_op(state: FSMContext) -> str | None:
    """The quote (operation id) the person's wizard is at, if any."""
    data = (await state.get_data()).get(_DATA_KEY)
    op = data.get("op") if isinstance(data, dict) else None
    return op if isinstance(op, str) else None


async def end_wizard(target: Target, state: FSMContext) -> None:
    """The wizard is over: forget it, and take its typing prompt away (in a group)."""
    prompt = (await state.get_data()).get(_PROMPT_KEY)
    await flow_screens.leave(state, target)
    await state.clear()
    await _drop_prompt(target.bot, chat_id_of(target), prompt)


async def _unresolved(target: Target, exc: OrderUnresolved) -> None:
    """An earlier order may be placed: offer to settle it instead of anything new."""
    await show(target, *purchase_outcome_screen(OrderPending(exc.op_id, exc.quote, exc.cause)))


async def _step(
    target: Target,
    state: FSMContext,
    purchases: PurchaseService,
    admins: GroupAdmins,
    action: Callable[[Wizard], Awaitable[WizardStep]],
    slow: bool | Callable[[Wizard], bool] = False,
    in_place: bool = False,
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
        await end_wizard(target, state)
        await _unresolved(target, exc)
        return
    await _present(target, state, screen, admins, prefix=prefix, in_place=in_place)


# -- starting ---------------------------------------------------------------------------


async def _start(
    target: Target, state: FSMContext, purchases: PurchaseService, admins: GroupAdmins
) -> None:
    # In a group: this person's own wizard, with the group's key.
    try:
        screen = await purchases.start(chat_id_of(target))
    except OrderUnresolved as exc:
        await end_wizard(target, state)
        await _unresolved(target, exc)
        return
    await end_wizard(target, state)
    await _present(target, state, screen, admins)


async def buy_command(
    message: Message, state: FSMContext, purchases: PurchaseService, group_admins: GroupAdmins
) -> None:
    await _start(message, state, purchases, group_admins)


async def buy_button(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService, group_admins: GroupAdmins
) -> None:
    await _start(query, state, purchases, group_admins)


# -- taps inside the wizard ---------------------------------------------------------------


async def pick(
    query: CallbackQuery,
    callback_data: BuyCb,
    state: FSMContext,
    purchases: PurchaseService,
    group_admins: GroupAdmins,
) -> None:
    await _step(query, state, purchases, group_admins, lambda wizard: purchases.choose(
        chat_id_of(query), _user_id(query), wizard, callback_data.step, callback_data.val,
    ), slow=lambda wizard: wizard.leads_to_quote(callback_data.step))


async def turn_page(
    query: CallbackQuery,
    callback_data: BuyCb,
    state: FSMContext,
    purchases: PurchaseService,
    group_admins: GroupAdmins,
) -> None:
    await _step(query, state, purchases, group_admins, lambda wizard: purchases.turn_page(
        chat_id_of(query), wizard, callback_data.val
    ))


async def back(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService, group_admins: GroupAdmins
) -> None:
    await _step(query, state, purchases, group_admins,
                lambda wizard: purchases.back(chat_id_of(query), wizard))


async def redraw(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService, group_admins: GroupAdmins
) -> None:
    await _step(query, state, purchases, group_admins,
                lambda wizard: purchases.show(chat_id_of(query), wizard))


async def clear_search(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService, group_admins: GroupAdmins
) -> None:
    await _step(query, state, purchases, group_admins, lambda wizard: purchases.clear_search(
        chat_id_of(query), wizard
    ))


async def ask_coupon(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService, group_admins: GroupAdmins
) -> None:
    await _step(query, state, purchases, group_admins, lambda wizard: purchases.ask_coupon(
        chat_id_of(query), wizard
    ))


async def remove_coupon(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService, group_admins: GroupAdmins
) -> None:
    await _step(query, state, purchases, group_admins, lambda wizard: purchases.remove_coupon(
        chat_id_of(query), _user_id(query), wizard
    ), slow=True)


async def requote(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService, group_admins: GroupAdmins
) -> None:
    await _step(query, state, purchases, group_admins, lambda wizard: purchases.requote(
        chat_id_of(query), _user_id(query), wizard
    ), slow=True)


async def unknown_action(
    query: CallbackQuery, state: FSMContext, purchases: PurchaseService, group_admins: GroupAdmins
) -> None:
    await _step(query, state, purchases, group_admins, lambda wizard: purchases.show(
        chat_id_of(query), wizard, Notice.STALE
    ))


# -- typing inside the wizard -------------------------------------------------------------
# ``typed``: the text, without the bot's mention (`Addressed`).


async def typed_quantity(
    message: Message,
    typed: str,
    state: FSMContext,
    purchases: PurchaseService,
    group_admins: GroupAdmins,
) -> None:
    await _step(message, state, purchases, group_admins, lambda wizard: purchases.choose(
        message.chat.id, _user_id(message), wizard, QUANTITY, typed,
    ), slow=True)


async def typed_search(
    message: Message,
    typed: str,
    state: FSMContext,
    purchases: PurchaseService,
    group_admins: GroupAdmins,
) -> None:
    await _step(message, state, purchases, group_admins, lambda wizard: purchases.search(
        message.chat.id, wizard, typed
    ))


async def typed_coupon(
    message: Message,
    typed: str,
    state: FSMContext,
    purchases: PurchaseService,
    group_admins: GroupAdmins,
) -> None:
    # Every try changes the one quote above: the chat never holds a stale quote's buttons.
    await _step(message, state, purchases, group_admins, lambda wizard: purchases.apply_coupon(
        message.chat.id, _user_id(message), wizard, typed,
    ), slow=True, in_place=True)


async def stray_input(
    message: Message, state: FSMContext, purchases: PurchaseService, group_admins: GroupAdmins
) -> None:
    """Text where a button is expected, stickers, photos…: say so and show the step again.

    In a group only for what was addressed to the bot (a reply to it): people talk there.
    """
    await _step(message, state, purchases, group_admins, lambda wizard: purchases.show(
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
    group_admins: GroupAdmins,
) -> None:
    # In a group only a current admin gets here (checked live: "who": "admins").
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
        await _present(query, state, started, group_admins)
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
    await _show_outcome(query, state, purchases, group_admins, op_id, outcome)


async def _show_outcome(
    query: CallbackQuery,
    state: FSMContext,
    purchases: PurchaseService,
    admins: GroupAdmins,
    op_id: str,
    outcome: PurchaseOutcome,
) -> None:
    chat_id = chat_id_of(query)
    current = await wizard_op(state)
    if isinstance(outcome, Receipt | OrderPending):
        # Bought, or only "Check status" may follow: the wizard of this quote is over.
        if current in (op_id, getattr(outcome, "op_id", None)):
            await end_wizard(query, state)
    elif isinstance(outcome, OrderRefused):
        if isinstance(outcome.error, AuthError):
            raise outcome.error  # the key itself: the error handler says what to do
        if not isinstance(outcome.error, InsufficientFunds):
            # Refused before anything was bought: the same quote (and key) stays to retry.
            await _present(query, state, await purchases.saved_quote(chat_id, op_id), admins,
                           prefix=error_text(outcome.error))
            return
        await _keep(state, await purchases.saved_quote(chat_id, op_id))
    else:
        await _keep(state, await purchases.saved_quote(chat_id, op_id))
    await show(query, *purchase_outcome_screen(outcome))


def setup() -> Router:
    router = Router(name=__name__)
    # The wizard runs in private chats and in groups (with the group's key; each person
    # their own wizard, whose screens answer only them: the "menu" policy's default).
    router.message.register(buy_command, Command("buy"))
    router.callback_query.register(buy_button, MenuCb.filter(F.action == "buy"))
    # Taps inside the wizard; the last one catches actions this version does not know.
    # Only on the wizard's current screen ("screen": "current", handlers/policies.py).
    current = {"screen": "current"}
    for handler, act in (
        (pick, "set"),
        (turn_page, "page"),
        (back, "back"),
        (redraw, "show"),
        (clear_search, "clear"),
        (ask_coupon, "coupon"),
        (remove_coupon, "nocoupon"),
        (requote, "requote"),
    ):
        # A dict of its own per handler: aiogram adds to a handler's flags.
        router.callback_query.register(handler, BuyCb.filter(F.act == act), flags={**current})
    router.callback_query.register(unknown_action, BuyCb.filter(), flags={**current})
    # Typing inside the wizard (in a group: replies to the bot only); the last one catches
    # whatever else arrives mid-wizard.
    router.message.register(typed_quantity, AtStep(QUANTITY), _TYPED, Addressed())
    router.message.register(typed_search, AtStep(COUNTRY), _TYPED, Addressed())
    router.message.register(typed_coupon, AtStep(COUPON), _TYPED, Addressed())
    router.message.register(stray_input, AtStep(*STEPS), ~_NOT_OURS, Addressed())
    # Spends the chat's money: in a group, its current admins only (asked on this tap).
    router.callback_query.register(
        confirm, ConfirmCb.filter(),
        flags={"callback_answer": {"pre": False}, "who": "admins"},
    )
    return router
