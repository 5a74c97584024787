"""/cancel from any state, and the Cancel button of every wizard."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from handlers import flow_screens
from keyboards.callbacks import CancelCb
from keyboards.common import main_menu
from services.account import AccountService
from views.ui import chat_id_of, show


async def _cancel(
    target: Message | CallbackQuery, chat_id: int, state: FSMContext, accounts: AccountService
) -> None:
    had_state = await state.get_state() is not None
    current = await flow_screens.current_screen(state)
    if had_state and current is not None and current != flow_screens.tapped_id(target) and (
        isinstance(target, CallbackQuery)
    ):
        # A Cancel on a screen outside the running flow (a deposit, an extend): it cancels
        # that screen only; the flow's own screen stays as it is. (A Cancel on a screen the
        # flow left behind never gets here: handlers/policies.py, "screen": "flow".)
        had_state = False
    else:
        await flow_screens.leave(state, target)
        await state.clear()
    # A Cancel button always cancels the screen it sits on (extend screens keep no state).
    cancelled = had_state or isinstance(target, CallbackQuery)
    text = _("✖️ Cancelled.") if cancelled else _("Nothing to cancel.")
    await show(target, text + " " + _("What next?"), main_menu(await accounts.is_linked(chat_id)))


async def cancel_command(message: Message, state: FSMContext, accounts: AccountService) -> None:
    await _cancel(message, message.chat.id, state, accounts)


async def cancel_button(query: CallbackQuery, state: FSMContext, accounts: AccountService) -> None:
    await _cancel(query, chat_id_of(query), state, accounts)


def setup() -> Router:
    router = Router(name=__name__)
    router.message.register(cancel_command, Command("cancel"))
    router.callback_query.register(cancel_button, CancelCb.filter(), flags={"screen": "flow"})
    return router
