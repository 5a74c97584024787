"""FSM states of every conversation, stored in SQLite so they survive restarts."""

from aiogram.fsm.state import State, StatesGroup


class LinkKey(StatesGroup):
    waiting_key = State()


class Buy(StatesGroup):
    """The purchase wizard; one state per step (see services/purchase.py FLOWS)."""

    type = State()
    country = State()
    service = State()
    operator = State()
    rotation = State()
    period = State()
    quantity = State()
    protocol = State()
    tarif = State()
    quote = State()
    coupon = State()
