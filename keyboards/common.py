"""Keyboards shared by every feature: the main menu and navigation rows."""

from __future__ import annotations

import functools
from decimal import Decimal

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import CancelCb, MenuCb
from views.commands import main_menu_buttons
from views.dashboard import API_KEYS_URL
from views.format import usd

# About what a phone shows of a button in a row of two; longer labels get cut off there.
# tests/test_keyboards.py holds every button of every keyboard to it, in every language.
BUTTON_LIMIT = 24


# Below this the name would be unreadable: then our own words are too long, and the label
# is left as it is for tests/test_keyboards.py to catch.
_MIN_NAME = 8


def fit(label: str, name: str) -> str:
    """``label`` with ``name`` in it — API data, a country or package name of any length —
    shortened with "…" so the label fits ``BUTTON_LIMIT``. Our own words are never cut."""
    if len(label) <= BUTTON_LIMIT or not name or name not in label:
        return label
    room = BUTTON_LIMIT - (len(label) - len(name))
    if room < _MIN_NAME:
        return label
    return label.replace(name, name[: room - 1].rstrip() + "…", 1)


def priced(label: str, price: Decimal | None) -> str:
    """A choice with the API's price for it: "5 · $6.25", "1 week · $1.25"."""
    return label if price is None else f"{label} · {usd(price)}"


def home_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("🏠 Menu"), callback_data=MenuCb(action="home").pack())


def cancel_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=CancelCb().pack())


def main_menu(linked: bool) -> InlineKeyboardMarkup:
    """The buttons of the command table (views/commands.py) that fit a chat with(out) a key."""
    return _main_menu(get_i18n().current_locale, linked)


def dashboard_menu(linked: bool, support_url: str | None = None) -> InlineKeyboardMarkup:
    """The main menu's buttons, then "Get an API key" (the 1001Proxy dashboard) and, when
    SUPPORT_URL is set, a support link."""
    return _dashboard_menu(get_i18n().current_locale, linked, support_url)


# The menus are the most shown keyboards and the same for every chat of a language: built
# once each (aiogram's builder validates and deep-copies every button: ~8% of the bot's
# CPU under menu taps). Shared, so never changed after building; `locale` is what the
# texts inside depend on (gettext reads the current one).
@functools.cache
def _main_menu(locale: str, linked: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for button in main_menu_buttons(linked):
        builder.button(text=str(button.label), callback_data=MenuCb(action=button.action))
    if linked:
        builder.adjust(2)  # pairs; an odd one out (Help) alone at the bottom
    else:
        builder.adjust(1, 2)  # linking a key, the one thing to do, alone on top
    return builder.as_markup()


@functools.cache
def _dashboard_menu(locale: str, linked: bool, support_url: str | None) -> InlineKeyboardMarkup:
    links = [InlineKeyboardButton(text=_("🔑 Get an API key"), url=API_KEYS_URL)]
    if support_url:
        links.append(InlineKeyboardButton(text=_("💬 Support"), url=support_url))
    rows = _main_menu(locale, linked).inline_keyboard
    return InlineKeyboardMarkup(inline_keyboard=[*rows, links])


def key_prompt() -> InlineKeyboardMarkup:
    """Under the first welcome: where to get a key, and Cancel."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=_("🔑 Get an API key"), url=API_KEYS_URL), cancel_button()]
    ])


def only_home() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[home_button()]])


def only_cancel() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[cancel_button()]])
