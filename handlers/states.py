"""FSM states of every conversation, stored in SQLite so they survive restarts."""

from aiogram.fsm.state import State, StatesGroup


class LinkKey(StatesGroup):
    waiting_key = State()


class Buy(StatesGroup):
    """The purchase wizard. Which step it is at is the wizard's own data (``Wizard.step``),
    kept in one place; this state only says a wizard is running."""

    wizard = State()
