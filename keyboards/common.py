"""Keyboards shared by every feature: the main menu and navigation rows."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import CancelCb, MenuCb
from views.commands import main_menu_buttons

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


def home_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("🏠 Menu"), callback_data=MenuCb(action="home").pack())


def cancel_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=CancelCb().pack())


def main_menu(linked: bool) -> InlineKeyboardMarkup:
    """The buttons of the command table (views/commands.py) that fit a chat with(out) a key."""
    builder = InlineKeyboardBuilder()
    for button in main_menu_buttons(linked):
        builder.button(text=str(button.label), callback_data=MenuCb(action=button.action))
    if linked:
        builder.adjust(2)  # pairs; an odd one out (Help) alone at the bottom
    else:
        builder.adjust(1, 2)  # linking a key, the one thing to do, alone on top
    return builder.as_markup()


def only_home() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[home_button()]])


def only_cancel() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[cancel_button()]])
