"""Keyboards of groups: one section per feature."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from keyboards.callbacks import GroupLinkCb, GroupUnlinkCb
from keyboards.common import cancel_button

# -- linking a key (/link, its deep link, /unlink) -------------------------------------------


def invitation_keyboard(url: str) -> InlineKeyboardMarkup:
    """/link in a group: one button opening the private chat (``url`` is the deep link)."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("🔑 Link a key privately"), url=url)]]
    )


def choose_key_keyboard(token: str, has_own_key: bool) -> InlineKeyboardMarkup:
    """The private chat after the deep link: its own key (if any), or Cancel; a key sent
    as a message needs no button."""
    rows = []
    if has_own_key:
        rows.append([InlineKeyboardButton(
            text=_("🔑 Use my linked key"),
            callback_data=GroupLinkCb(action="own", token=token).pack(),
        )])
    rows.append([cancel_button()])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def unlink_confirm_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(
            text=_("🔓 Yes, unlink"), callback_data=GroupUnlinkCb(action="yes").pack()
        )],
        [InlineKeyboardButton(
            text=_("⬅️ Keep it"), callback_data=GroupUnlinkCb(action="no").pack()
        )],
    ])
