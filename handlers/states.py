"""FSM states of every conversation, stored in SQLite so they survive restarts."""

from aiogram.fsm.state import State, StatesGroup


class LinkKey(StatesGroup):
    waiting_key = State()


class Buy(StatesGroup):
    """The purchase wizard. Which step it is at is the wizard's own data (``Wizard.step``),
    kept in one place; this state only says a wizard is running."""

    wizard = State()


class GroupLink(StatesGroup):
    """An admin's private chat, linking a group's key after the group's /link deep link:
    a key sent now is for the group of the invitation whose token is in the state's data."""

    waiting_key = State()
