"""Linking an API key: accepted only in a private chat, deleted from the chat at once."""

from __future__ import annotations

import contextlib
import logging

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.proxy_api import AuthError, ProxyApiError
from bot.services.account import AccountService, contains_api_key, extract_api_key
from bot.states import LinkKey
from bot.ui import working
from bot.views.account import link_error_text, linked_text
from bot.views.errors import error_text
from keyboards.common import main_menu, only_cancel

log = logging.getLogger(__name__)

router = Router(name=__name__)


async def _delete_quietly(message: Message) -> bool:
    with contextlib.suppress(TelegramBadRequest, TelegramForbiddenError):
        return bool(await message.delete())
    return False


@router.message(F.chat.type != "private", F.text.func(contains_api_key))
async def key_in_group(message: Message) -> None:
    deleted = await _delete_quietly(message)
    text = _("🔒 Never paste an API key into a group. Send it to me in a private chat.")
    if not deleted:
        text += "\n" + _(
            "I could not delete it (I need the right to delete messages): delete it yourself "
            "and rotate the key in your 1001Proxy dashboard."
        )
    await message.answer(text)


@router.message(
    StateFilter(LinkKey.waiting_key), F.chat.type == "private", F.text, ~F.text.startswith("/")
)
async def key_received(message: Message, state: FSMContext, accounts: AccountService) -> None:
    await _process_key(message, state, accounts, asked=True)


# In any other state too (a wizard waiting for typed text): a pasted key must not stay in
# the chat, and a wizard must never echo it back as a search or coupon.
@router.message(StateFilter("*"), F.chat.type == "private", F.text.func(contains_api_key))
async def key_out_of_the_blue(
    message: Message, state: FSMContext, accounts: AccountService
) -> None:
    await _process_key(message, state, accounts, asked=False)


async def _process_key(
    message: Message, state: FSMContext, accounts: AccountService, *, asked: bool
) -> None:
    key = extract_api_key(message.text, asked=asked)
    # The key must not stay in the chat history, whatever happens next.
    await _delete_quietly(message)
    if key is None:
        await message.answer(
            _("That does not look like an API key. Paste the key exactly as the dashboard "
              "shows it, or tap Cancel."),
            reply_markup=only_cancel(),
        )
        return
    async with working(message):
        try:
            account = await accounts.link(message.chat.id, message.from_user.id, key)
        except AuthError as exc:
            await message.answer(link_error_text(exc), reply_markup=only_cancel())
            return
        except ProxyApiError as exc:
            log.warning("linking failed: %s", exc.code)
            await message.answer(
                error_text(exc) + "\n" + _("Nothing was saved. Send the key again later."),
                reply_markup=only_cancel(),
            )
            return
    if asked:
        await state.clear()
    await message.answer(linked_text(account), reply_markup=main_menu(linked=True))
