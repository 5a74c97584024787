"""gettext catalogs: English is the source language, `.po` files are compiled at start."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core.languages import DEFAULT_LOCALE, LANGUAGES, pick_language
from storage import Repositories
from storage.users import UserRepository

__all__ = [
    "DEFAULT_LOCALE",
    "DOMAIN",
    "LANGUAGES",
    "LOCALES_DIR",
    "build_i18n",
    "chat_language",
    "pick_language",
    "user_language",
]

LOCALES_DIR = Path(__file__).parent / "locales"
_REMEMBERED_MAX = 10_000
DOMAIN = "messages"


def compile_catalogs(source: Path, target: Path) -> None:
    for po_path in source.glob(f"*/LC_MESSAGES/{DOMAIN}.po"):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=locale, domain=DOMAIN)
        out = target / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as fh:
            write_mo(fh, catalog)


def build_i18n(source: Path = LOCALES_DIR) -> I18n:
    """Compile into a scratch directory; I18n reads the catalogs into memory at once."""
    with tempfile.TemporaryDirectory(prefix="bot-i18n-") as scratch:
        compile_catalogs(source, Path(scratch))
        return I18n(path=scratch, default_locale=DEFAULT_LOCALE, domain=DOMAIN)



class UserLanguageMiddleware(I18nMiddleware):
    """The language chosen in /settings wins; otherwise the user's Telegram language."""

    def __init__(self, i18n: I18n, users: UserRepository) -> None:
        super().__init__(i18n=i18n)
        self._users = users
        # What was last stored per user, so the database is written only when it changes.
        self._remembered: dict[int, str] = {}

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        if user is None:
            return DEFAULT_LOCALE
        telegram = pick_language(user.language_code)
        if self._remembered.get(user.id) != telegram:
            if len(self._remembered) >= _REMEMBERED_MAX:
                self._remembered.clear()  # a cache only: the worst case is one more write
            await self._users.remember_telegram_language(user.id, telegram)
            self._remembered[user.id] = telegram
        chosen = await self._users.language(user.id)
        return chosen if chosen in LANGUAGES else telegram


async def user_language(repos: Repositories, user_id: int | None) -> str:
    """A user's language outside an update: chosen in /settings, else their Telegram one."""
    if user_id is not None:
        for language in (
            await repos.users.language(user_id),
            await repos.users.telegram_language(user_id),
        ):
            if language in LANGUAGES:
                return language
    return DEFAULT_LOCALE


async def chat_language(repos: Repositories, chat_id: int) -> str:
    """The language for a message nobody asked for right now (a reminder, a deposit): that
    of whoever linked the chat's key."""
    link = await repos.chats.get(chat_id)
    return await user_language(repos, link.linked_by if link is not None else None)
