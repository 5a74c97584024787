"""/settings: language, and forgetting the key (/logout)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from core.languages import LANGUAGES
from keyboards.account import language_keyboard, logout_confirm_keyboard, settings_keyboard
from keyboards.callbacks import MenuCb, SettingsCb
from keyboards.common import main_menu
from services.account import AccountService
from services.groups import GroupService
from views.account import settings_text
from views.ui import chat_id_of, show


def _chat_type(target: Message | CallbackQuery) -> str:
    message = target if isinstance(target, Message) else target.message
    return message.chat.type if message is not None else "private"


async def _settings(
    target: Message | CallbackQuery,
    chat_id: int,
    i18n: I18n,
    accounts: AccountService,
    groups: GroupService,
) -> None:
    link = await accounts.linked(chat_id)
    everyone = None
    if _chat_type(target) in ("group", "supergroup"):
        everyone = await groups.credentials_for_everyone(chat_id)
    text = settings_text(
        i18n.current_locale,
        link.api_key_masked if link else None,
        link.account_email if link else None,
        credentials_for_everyone=everyone,
    )
    await show(target, text, settings_keyboard(link is not None, credentials_for_everyone=everyone))


async def settings_command(
    message: Message, i18n: I18n, accounts: AccountService, groups: GroupService
) -> None:
    await _settings(message, message.chat.id, i18n, accounts, groups)


async def settings_button(
    query: CallbackQuery, i18n: I18n, accounts: AccountService, groups: GroupService
) -> None:
    await _settings(query, chat_id_of(query), i18n, accounts, groups)


async def set_credentials_visibility(
    query: CallbackQuery,
    callback_data: SettingsCb,
    i18n: I18n,
    accounts: AccountService,
    groups: GroupService,
) -> None:
    await groups.set_credentials_for_everyone(
        chat_id_of(query), callback_data.value == "all"
    )
    await _settings(query, chat_id_of(query), i18n, accounts, groups)


async def language_menu(query: CallbackQuery, i18n: I18n) -> None:
    await show(query, _("🌐 Choose your language:"), language_keyboard(i18n.current_locale))


async def set_language(
    query: CallbackQuery,
    callback_data: SettingsCb,
    i18n: I18n,
    accounts: AccountService,
    groups: GroupService,
) -> None:
    if callback_data.value not in LANGUAGES:
        await show(query, _("🌐 Choose your language:"), language_keyboard(i18n.current_locale))
        return
    await accounts.set_language(query.from_user.id, callback_data.value)
    with i18n.use_locale(callback_data.value):
        await _settings(query, chat_id_of(query), i18n, accounts, groups)


async def _ask_logout(
    target: Message | CallbackQuery, accounts: AccountService, chat_id: int
) -> None:
    if not await accounts.is_linked(chat_id):
        await show(target, _("No API key is linked to this chat."), main_menu(linked=False))
        return
    await show(
        target,
        _("🚪 Forget the API key and everything cached for this chat? "
          "Your 1001Proxy account and orders stay as they are."),
        logout_confirm_keyboard(),
    )


async def logout_command(message: Message, accounts: AccountService) -> None:
    await _ask_logout(message, accounts, message.chat.id)


async def logout_button(query: CallbackQuery, accounts: AccountService) -> None:
    await _ask_logout(query, accounts, chat_id_of(query))


async def logout_confirmed(
    query: CallbackQuery, state: FSMContext, accounts: AccountService
) -> None:
    await state.clear()
    await accounts.logout(chat_id_of(query))
    await show(
        query,
        _("✅ Done: the key is forgotten. Send /start whenever you want to link one again."),
        main_menu(linked=False),
    )


def setup() -> Router:
    router = Router(name=__name__)
    router.message.register(settings_command, Command("settings"))
    router.callback_query.register(settings_button, MenuCb.filter(F.action == "settings"))
    router.callback_query.register(language_menu, SettingsCb.filter(F.action == "lang"))
    router.callback_query.register(set_language, SettingsCb.filter(F.action == "setlang"))
    # A group's settings and key are its admins' (handlers/policies.py); a private chat's
    # are its owner's. The language is each person's own, anywhere.
    router.callback_query.register(
        set_credentials_visibility,
        SettingsCb.filter(F.action == "creds"),
        flags={"who": "managers"},
    )
    router.message.register(logout_command, Command("logout"), flags={"who": "managers"})
    router.callback_query.register(
        logout_button, SettingsCb.filter(F.action == "logout"), flags={"who": "managers"}
    )
    router.callback_query.register(
        logout_confirmed, SettingsCb.filter(F.action == "logout_yes"), flags={"who": "managers"}
    )
    return router
