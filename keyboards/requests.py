"""Buttons of a member's request in a group (the "Request approval" button itself sits on
the quote: keyboards/buy.quote_keyboard)."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from keyboards.callbacks import GroupRequestCb


def _approve(request_id: str, label: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=label, callback_data=GroupRequestCb(action="a", request_id=request_id).pack()
    )


def _decline(request_id: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=_("❌ Decline"),
        callback_data=GroupRequestCb(action="d", request_id=request_id).pack(),
    )


def request_keyboard(request_id: str) -> InlineKeyboardMarkup:
    """An open request: Approve (places the order) or Decline, for the group's admins."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [_approve(request_id, _("✅ Approve")), _decline(request_id)],
    ])


def request_pending_keyboard(request_id: str) -> InlineKeyboardMarkup:
    """Its order may be placed: only Check status (the same key) may follow."""
    return InlineKeyboardMarkup(inline_keyboard=[[_approve(request_id, _("🔄 Check status"))]])
