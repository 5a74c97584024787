"""Linking an API key: accepted only in a private chat, deleted from the chat at once."""

from __future__ import annotations

import logging
import math

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from handlers.states import LinkKey
from keyboards.account import link_help_keyboard
from keyboards.common import main_menu, only_cancel
from proxy_api import AuthError, ProxyApiError
from services.account import (
    AccountService,
    contains_api_key,
    could_be_api_key,
    extract_api_key,
)
from services.key_checks import KeyCheckLimiter
from views.account import link_error_text, linked_text, not_a_key_text
from views.errors import error_text
from views.ui import working

log = logging.getLogger(__name__)


async def _delete_quietly(message: Message) -> bool:
    # Whatever stops the deletion (too old, no rights, Telegram down), the caller goes on
    # and tells the person to delete the message themselves.
    try:
        return bool(await message.delete())
    except TelegramAPIError as exc:
        log.warning("could not delete a message carrying a key in chat %s: %s",
                    message.chat.id, type(exc).__name__)
        return False


async def key_in_group(message: Message) -> None:
    deleted = await _delete_quietly(message)
    text = _("🔒 Never paste an API key into a group. Send it to me in a private chat.")
    if not deleted:
        text += "\n" + _(
            "I could not delete it (I need the right to delete messages): delete it yourself "
            "and rotate the key in your 1001Proxy dashboard."
        )
    await message.answer(text)


async def key_received(
    message: Message, state: FSMContext, accounts: AccountService, key_checks: KeyCheckLimiter
) -> None:
    await _process_key(message, state, accounts, key_checks, asked=True)


async def not_a_key(message: Message) -> None:
    """Text sent while a key is awaited that clearly is not one (a question, a greeting):
    it stays in the chat, and the answer says how to find the key."""
    await message.answer(not_a_key_text(), reply_markup=link_help_keyboard())


async def key_out_of_the_blue(
    message: Message, state: FSMContext, accounts: AccountService, key_checks: KeyCheckLimiter
) -> None:
    await _process_key(message, state, accounts, key_checks, asked=False)


async def key_edited_in(
    message: Message, state: FSMContext, accounts: AccountService, key_checks: KeyCheckLimiter
) -> None:
    asked = await state.get_state() == LinkKey.waiting_key.state
    await _process_key(message, state, accounts, key_checks, asked=asked)


async def _process_key(
    message: Message,
    state: FSMContext,
    accounts: AccountService,
    key_checks: KeyCheckLimiter,
    *,
    asked: bool,
) -> None:
    key = extract_api_key(message.text, asked=asked)
    # The key must not stay in the chat history, whatever happens next.
    deleted = await _delete_quietly(message)
    # Added to every answer below: the key is still readable in the chat.
    still_there = "" if deleted else "\n\n" + _(
        "⚠️ I could not delete your message with the key. Delete it yourself, so the key "
        "does not stay in this chat."
    )

    async def answer(text: str, markup: InlineKeyboardMarkup) -> None:
        await message.answer(text + still_there, reply_markup=markup)

    if key is None:
        await answer(
            _("That does not look like an API key. Paste the key exactly as the dashboard "
              "shows it, or tap Cancel."),
            only_cancel(),
        )
        return
    user_id = message.from_user.id if message.from_user else message.chat.id
    wait = key_checks.try_check(user_id)
    if wait is not None:
        log.info("chat %s: key check refused, too many in a short time", message.chat.id)
        await answer(
            _("⏳ Too many keys tried in a short time. Wait {seconds} s, then send the key "
              "again.").format(seconds=max(1, math.ceil(wait))),
            only_cancel(),
        )
        return
    async with working(message):
        try:
            account = await accounts.link(message.chat.id, user_id, key)
        except AuthError as exc:
            await answer(link_error_text(exc), only_cancel())
            return
        except ProxyApiError as exc:
            log.warning("linking failed: %s", exc.code)
            await answer(
                error_text(exc) + "\n" + _("Nothing was saved. Send the key again later."),
                only_cancel(),
            )
            return
    if asked:
        await state.clear()
    await answer(linked_text(account), main_menu(linked=True))


def setup() -> Router:
    router = Router(name=__name__)
    has_key = F.text.func(contains_api_key)
    # A key outside a private chat is deleted and never linked, pasted or edited in (an
    # edited old message is as exposed as a new one). The chat type is a filter here because
    # groups are what these handle, not a guard; registered first, so the private-only
    # handlers below never see a group's key.
    in_group = F.chat.type != "private"
    router.message.register(key_in_group, in_group, has_key)
    router.edited_message.register(key_in_group, in_group, has_key)
    # Keys are only ever taken in a private chat (handlers/policies.py).
    # Only what could be a key is deleted and tried; a question is kept and answered.
    router.message.register(
        key_received,
        StateFilter(LinkKey.waiting_key), F.text, ~F.text.startswith("/"),
        F.text.func(could_be_api_key),
        flags={"chat": "private"},
    )
    router.message.register(
        not_a_key,
        StateFilter(LinkKey.waiting_key), F.text, ~F.text.startswith("/"),
        flags={"chat": "private"},
    )
    # In any other state too (a wizard waiting for typed text): a pasted key must not stay in
    # the chat, and a wizard must never echo it back as a search or coupon.
    router.message.register(
        key_out_of_the_blue, StateFilter("*"), has_key, flags={"chat": "private"}
    )
    router.edited_message.register(key_edited_in, has_key, flags={"chat": "private"})
    return router
