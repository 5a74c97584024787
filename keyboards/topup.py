"""Top up and back: the Top up button of a screen refused for lack of funds, and the
button of a deposit's announcement that leads back to that screen."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from keyboards.callbacks import TopUpCb
from services.orders import EXTEND_KIND
from services.purchase import OPERATION_KIND

# Operation kinds as the buttons carry them (callback data is short).
KIND_CODES = {OPERATION_KIND: "o", EXTEND_KIND: "e"}
KINDS = {code: kind for kind, code in KIND_CODES.items()}


def top_up_button(op_id: str, kind: str) -> InlineKeyboardButton:
    """"➕ Top up" for the quote or extend ``op_id``: the deposit screens, and the deposit's
    announcement leads back here."""
    return InlineKeyboardButton(
        text=_("➕ Top up"),
        callback_data=TopUpCb(action="t", kind=KIND_CODES[kind], op_id=op_id).pack(),
    )


def back_button(op_id: str, kind: str) -> InlineKeyboardButton:
    label = _("↩️ Back to your order") if kind == OPERATION_KIND else _("↩️ Back to the extension")
    return InlineKeyboardButton(
        text=label, callback_data=TopUpCb(action="b", kind=KIND_CODES[kind], op_id=op_id).pack()
    )


def arrival_keyboard(back: tuple[str, str] | None) -> InlineKeyboardMarkup | None:
    """The announcement's buttons: back to the quote or extend (op id, kind), if one waits."""
    if back is None:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[back_button(*back)]])
