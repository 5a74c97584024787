"""Which message is a flow's current screen, so that old keyboards cannot act on it.

A flow (the purchase wizard) shows its steps by editing one message; typed input makes the
next step a new message. Each flow screen is remembered here (`remember`): the chat's
current screen and the screens it has left behind. When a flow moves on to a new message,
the previous one loses its buttons (best effort), and a tap that still reaches one of them
(the removal failed, a message from before) is refused by the ``"screen"`` policy
(handlers/policies.py) with a short "out of date" alert: nothing changes.

The record lives beside the chat's FSM state under its own destiny, so `state.clear()` at
the end of a flow keeps the list of past screens (a Cancel from an earlier wizard far up
the chat stays refused). Screens without a flow (the orders list, an order, the deposit
screens) are not recorded: their buttons read fresh data on every tap, so an old one is
harmless and stays live.
"""

from __future__ import annotations

import dataclasses

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InaccessibleMessage, Message

from views.best_effort import best_effort
from views.ui import chat_id_of

_DESTINY = "screens"
# Past screens remembered per person and chat; older ones lost their buttons long ago.
_PAST_KEPT = 30


def _registry(state: FSMContext) -> FSMContext:
    return FSMContext(storage=state.storage, key=dataclasses.replace(state.key, destiny=_DESTINY))


async def _load(state: FSMContext) -> tuple[int | None, list[int]]:
    data = await _registry(state).get_data()
    current = data.get("current")
    past = [p for p in data.get("past") or [] if isinstance(p, int)]
    return (current if isinstance(current, int) else None), past


async def _save(state: FSMContext, current: int | None, past: list[int]) -> None:
    await _registry(state).set_data({"current": current, "past": past[:_PAST_KEPT]})


async def _strip(message_of: Message | CallbackQuery, message_id: int) -> None:
    bot = message_of.bot
    if bot is None:
        return
    await best_effort(
        bot.edit_message_reply_markup(
            chat_id=chat_id_of(message_of), message_id=message_id, reply_markup=None
        ),
        "take the buttons off a past screen",
    )


def tapped_id(target: Message | CallbackQuery) -> int | None:
    """The message a button was tapped on (None for typed input)."""
    if isinstance(target, Message):
        return None
    message = target.message
    return None if message is None or isinstance(message, InaccessibleMessage) else (
        message.message_id
    )


async def remember(state: FSMContext, shown: Message | None) -> None:
    """``shown`` is now the flow's screen; the previous one, if another message, is past."""
    if shown is None:
        return
    current, past = await _load(state)
    if current == shown.message_id:
        return
    if current is not None:
        past.insert(0, current)
    # Recorded before the old screen's buttons go (an API call): a tap on either meanwhile
    # is judged by the new record.
    await _save(state, shown.message_id, [p for p in past if p != shown.message_id])
    if current is not None:
        await _strip(shown, current)


async def current_screen(state: FSMContext) -> int | None:
    return (await _load(state))[0]


async def leave(state: FSMContext, target: Message | CallbackQuery) -> None:
    """The flow ends. Its screen becomes past and loses its buttons — unless it is the
    message just tapped, which the handler is turning into another screen right now."""
    current, past = await _load(state)
    if current is None:
        return
    stripped = current != tapped_id(target)
    if stripped:
        past.insert(0, current)
    await _save(state, None, past)
    if stripped:
        await _strip(target, current)


async def out_of_date(state: FSMContext, message_id: int, strict: bool) -> bool:
    """A tap on ``message_id`` is out of date: the message is a screen the flow left, or
    (``strict``: buttons only the current screen has) older than the flow's current screen.

    A newer one is the screen just shown, its record still on the way (`remember` runs
    after the message is sent, and a quick tap can be handled meanwhile): message ids only
    grow in a chat, and only a flow's screens carry its buttons.
    """
    current, past = await _load(state)
    if message_id in past:
        return True
    return strict and current is not None and message_id < current
