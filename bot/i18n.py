"""gettext catalogs: English is the source language; `.po` files are compiled at start.

A compiled catalog (`.mo`, ignored by git) is kept beside its `.po` and compiled again only
when the `.po` is newer, so a start does not parse the catalogs each time (babel's `.po`
reader is imported only then); where that folder is read-only they are compiled into a
scratch directory at every start instead.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware

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

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).parent / "locales"
_REMEMBERED_MAX = 10_000
DOMAIN = "messages"


def compile_catalogs(source: Path, target: Path, *, stale_only: bool = False) -> None:
    """Compile every `.po` under ``source`` into ``target`` (only the stale ones if asked)."""
    # Parsing .po files is the slow part of it: babel's reader loads only when one is needed.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in source.glob(f"*/LC_MESSAGES/{DOMAIN}.po"):
        locale = po_path.parent.parent.name
        out = target / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if stale_only and _is_fresh(out, po_path):
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=locale, domain=DOMAIN)
        out.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: another process starting now reads the old or the new.
        partial = out.with_name(f".{DOMAIN}.{os.getpid()}.mo")
        try:
            with partial.open("wb") as fh:
                write_mo(fh, catalog)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)


def _is_fresh(mo_path: Path, po_path: Path) -> bool:
    try:
        return mo_path.stat().st_mtime_ns >= po_path.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def _all_fresh(source: Path) -> bool:
    return all(
        _is_fresh(po.with_suffix(".mo"), po) for po in source.glob(f"*/LC_MESSAGES/{DOMAIN}.po")
    )


def build_i18n(source: Path = LOCALES_DIR) -> I18n:
    """I18n over catalogs compiled beside their `.po` (or in a scratch directory)."""
    if not _all_fresh(source):
        try:
            compile_catalogs(source, source, stale_only=True)
        except OSError as exc:
            log.info("locales folder not writable (%s): compiling into a scratch directory", exc)
            # I18n reads the catalogs into memory at once: the directory may go after.
            with tempfile.TemporaryDirectory(prefix="bot-i18n-") as scratch:
                compile_catalogs(source, Path(scratch))
                return I18n(path=scratch, default_locale=DEFAULT_LOCALE, domain=DOMAIN)
    return I18n(path=source, default_locale=DEFAULT_LOCALE, domain=DOMAIN)



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
