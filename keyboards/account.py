from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from core.languages import LANGUAGES
from keyboards.callbacks import MenuCb, ReminderSettingsCb, SettingsCb, TxPageCb
from keyboards.common import cancel_button, home_button

TX_KINDS = ("", "deposit", "purchase", "refund", "adjustment")


def tx_kind_label(kind: str) -> str:
    labels = {
        "": _("All"),
        "deposit": _("Deposits"),
        "purchase": _("Purchases"),
        "refund": _("Refunds"),
        "adjustment": _("Adjustments"),
    }
    return labels[kind]


def link_help_keyboard() -> InlineKeyboardMarkup:
    """While a key is awaited: help, or stop waiting."""
    help_button = InlineKeyboardButton(
        text=_("❓ Help"), callback_data=MenuCb(action="help").pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[help_button, cancel_button()]])


def balance_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("➕ Top up"), callback_data=MenuCb(action="deposit"))
    builder.button(text=_("📜 Transactions"), callback_data=MenuCb(action="tx"))
    builder.button(text=_("🔄 Refresh"), callback_data=MenuCb(action="balance"))
    builder.adjust(2, 1)
    builder.row(home_button())
    return builder.as_markup()


def transactions_keyboard(page: int, total_pages: int, kind: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    filters = [
        InlineKeyboardButton(
            text=("• " if k == kind else "") + tx_kind_label(k),
            callback_data=TxPageCb(page=1, kind=k).pack(),
        )
        for k in TX_KINDS
    ]
    builder.row(*filters[:3])
    builder.row(*filters[3:])
    nav = []
    if page > 1:
        nav.append(
            InlineKeyboardButton(
                text="◀️", callback_data=TxPageCb(page=page - 1, kind=kind).pack()
            )
        )
    if total_pages > 1:
        nav.append(
            InlineKeyboardButton(
                text=f"{page}/{total_pages}",
                callback_data=TxPageCb(page=page, kind=kind).pack(),
            )
        )
    if page < total_pages:
        nav.append(
            InlineKeyboardButton(
                text="▶️", callback_data=TxPageCb(page=page + 1, kind=kind).pack()
            )
        )
    if nav:
        builder.row(*nav)
    builder.row(
        InlineKeyboardButton(text=_("💰 Balance"), callback_data=MenuCb(action="balance").pack()),
        home_button(),
    )
    return builder.as_markup()


def settings_keyboard(
    linked: bool, *, credentials_for_everyone: bool | None = None
) -> InlineKeyboardMarkup:
    """``credentials_for_everyone``: None in a private chat; in a group, its setting."""
    in_group = credentials_for_everyone is not None
    builder = InlineKeyboardBuilder()
    builder.button(text=_("🌐 Language"), callback_data=SettingsCb(action="lang"))
    if linked:
        builder.button(
            text=_("⏰ Expiry reminders"), callback_data=ReminderSettingsCb(action="show")
        )
        if in_group:
            # The button says what a tap switches to.
            builder.button(
                text=_("🔐 Credentials: admins") if credentials_for_everyone
                else _("👥 Credentials: everyone"),
                callback_data=SettingsCb(
                    action="creds", value="admins" if credentials_for_everyone else "all"
                ),
            )
        builder.button(text=_("🚪 Log out (forget key)"), callback_data=SettingsCb(action="logout"))
    elif not in_group:  # a group links with /link (the key is sent privately)
        builder.button(text=_("🔑 Link API key"), callback_data=MenuCb(action="link"))
    builder.adjust(1)
    builder.row(home_button())
    return builder.as_markup()


def language_keyboard(current: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code, name in LANGUAGES.items():
        mark = "✅ " if code == current else ""
        builder.button(text=mark + name, callback_data=SettingsCb(action="setlang", value=code))
    builder.adjust(2)
    builder.row(
        InlineKeyboardButton(
            text=_("⬅️ Back"), callback_data=MenuCb(action="settings").pack()
        )
    )
    return builder.as_markup()


def logout_confirm_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Yes, forget the key"), callback_data=SettingsCb(action="logout_yes"))
    builder.button(text=_("⬅️ Back"), callback_data=MenuCb(action="settings"))
    builder.adjust(1)
    return builder.as_markup()
