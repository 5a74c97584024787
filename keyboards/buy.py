"""Keyboards of the purchase wizard: one per step, the quote, the receipt and failures."""

from __future__ import annotations

from aiogram.types import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import ORDER_ID_MAX, AskApprovalCb, BuyCb, ConfirmCb, MenuCb, OrderCb
from keyboards.common import cancel_button, fit, home_button, priced
from keyboards.topup import top_up_button
from services.purchase import (
    COUNTRY,
    COUPON,
    OPERATION_KIND,
    OPERATOR,
    PERIOD,
    PROTOCOL,
    PROTOCOLS,
    PROXY_TYPES,
    QUANTITY,
    QUANTITY_PRESETS,
    QUOTE,
    ROTATION,
    SERVICE,
    SERVICE_TYPES,
    TARIF,
    TYPE,
    QuoteView,
    WizardStep,
)
from views.buy import country_page, typing_placeholder
from views.catalogue import type_title
from views.format import usd
from views.names import (
    country_label,
    period_label,
    protocol_label,
    rotation_label,
    service_label,
)

CHOSEN = "✅ "


def _mark(chosen: bool, label: str) -> str:
    return CHOSEN + label if chosen else label


def _pick(
    step: str, value: object, label: str, chosen: bool, name: str = ""
) -> InlineKeyboardButton:
    """A choice; ``name`` is the part of ``label`` that is API data (shortened to fit)."""
    return InlineKeyboardButton(
        text=fit(_mark(chosen, label), name),
        callback_data=BuyCb(act="set", step=step, val=str(value)).pack(),
    )


def _back_cancel(first_step: bool = False) -> list[InlineKeyboardButton]:
    # The first step's Back leaves to the main menu, like Cancel but without "Cancelled".
    back = MenuCb(action="home") if first_step else BuyCb(act="back")
    return [InlineKeyboardButton(text=_("⬅️ Back"), callback_data=back.pack()), cancel_button()]


def _rows(buttons: list[InlineKeyboardButton], per_row: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


def screen_keyboard(screen: WizardStep, requester: bool = False) -> InlineKeyboardMarkup:
    """The buttons of one wizard step; the earlier choice carries a ✅.

    ``requester``: a group member who is not an admin (the quote asks for approval).
    """
    step = screen.wizard.step
    sel = screen.wizard.sel
    if step in (QUOTE, COUPON) and screen.quote is not None:
        if step == COUPON:
            return coupon_prompt_keyboard()
        return quote_keyboard(screen.quote, requester)
    rows: list[list[InlineKeyboardButton]] = []
    reference = screen.reference
    if step == TYPE or reference is None:
        buttons = [_pick(TYPE, t, type_title(t), t == sel.type) for t in PROXY_TYPES]
        rows += _rows(buttons, 2)
        rows.append(_back_cancel(first_step=True))
        return InlineKeyboardMarkup(inline_keyboard=rows)
    if step == COUNTRY:
        shown = country_page(screen)
        buttons = []
        for c in shown.countries:
            label = country_label(c.name, c.code)
            buttons.append(_pick(COUNTRY, c.id, label, c.id == sel.country_id, name=label))
        rows += _rows(buttons, 2)
        rows += _pager(shown.page, shown.pages)
        if screen.wizard.search:
            rows.append([
                InlineKeyboardButton(
                    text=_("✖️ Clear search"), callback_data=BuyCb(act="clear").pack()
                )
            ])
    elif step == SERVICE:
        buttons = [_pick(SERVICE, s, service_label(s), s == sel.service) for s in SERVICE_TYPES]
        rows += _rows(buttons, 2)
    elif step == OPERATOR:
        buttons = [
            _pick(OPERATOR, o.id, o.name, o.id == sel.operator_id, name=o.name)
            for o in reference.operators
        ]
        rows += _rows(buttons, 2)
    elif step == ROTATION:
        buttons = [
            _pick(ROTATION, r.id, rotation_label(r.name), r.id == sel.rotation_id, name=r.name)
            for r in reference.rotations
        ]
        rows += _rows(buttons, 2)
    elif step == PERIOD:
        buttons = [
            _pick(
                PERIOD, p.id, priced(period_label(p.days, p.name), screen.prices.get(str(p.id))),
                p.id == sel.period_id, name=p.name,
            )
            for p in reference.periods
        ]
        rows += _rows(buttons, 2)
    elif step == QUANTITY:
        buttons = [
            _pick(QUANTITY, n, priced(str(n), screen.prices.get(str(n))), n == sel.quantity)
            for n in QUANTITY_PRESETS
        ]
        if sel.quantity is not None and sel.quantity not in QUANTITY_PRESETS:
            total = screen.prices.get(str(sel.quantity))
            buttons.append(_pick(QUANTITY, sel.quantity, priced(str(sel.quantity), total), True))
        # Two a row: "25 · $31.25" fits a phone's half width, three do not.
        rows += _rows(buttons, 2 if screen.prices else 3)
    elif step == PROTOCOL:
        buttons = [_pick(PROTOCOL, p, protocol_label(p), p == sel.protocol) for p in PROTOCOLS]
        rows += _rows(buttons, 2)
    elif step == TARIF:
        for tarif in reference.tarifs:
            chosen = tarif.id == sel.tarif_id
            # The package's total: its price per GB is in the text (views/buy.py).
            label = priced(tarif.name, screen.prices.get(str(tarif.id)))
            rows.append([_pick(TARIF, tarif.id, label, chosen, name=tarif.name)])
    rows.append(_back_cancel())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _pager(page: int, pages: int) -> list[list[InlineKeyboardButton]]:
    if pages <= 1:
        return []

    def to(number: int, label: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=label, callback_data=BuyCb(act="page", val=str(number)).pack()
        )

    nav = [to(page - 1, "◀️")] if page > 0 else []
    nav.append(to(page, f"{page + 1}/{pages}"))
    if page < pages - 1:
        nav.append(to(page + 1, "▶️"))
    return [nav]


def quote_keyboard(quote: QuoteView, requester: bool = False) -> InlineKeyboardMarkup:
    """Confirm, or for a group member who is not an admin, Request approval (an admin's
    Approve in the group then places it)."""
    builder = InlineKeyboardBuilder()
    if requester:
        builder.button(
            # No price: the quote's text shows it, and the label stays short on a phone.
            text=_("📨 Request approval"),
            callback_data=AskApprovalCb(op_id=quote.op_id),
        )
    else:
        builder.button(
            text=_("✅ Confirm · {total}").format(total=usd(quote.total)),
            callback_data=ConfirmCb(op_id=quote.op_id),
        )
    if quote.coupon:
        builder.button(text=_("🎟 Remove coupon"), callback_data=BuyCb(act="nocoupon"))
    else:
        builder.button(text=_("🎟 Add coupon"), callback_data=BuyCb(act="coupon"))
    if not quote.affordable:
        builder.add(top_up_button(quote.op_id, OPERATION_KIND))
    builder.adjust(1)
    builder.row(*_back_cancel())
    return builder.as_markup()


def typing_reply_markup(step: str) -> ForceReply:
    """The reply box of a group's typing prompt; selective: only the mentioned owner of
    the wizard gets it, not the whole group."""
    return ForceReply(force_reply=True, selective=True,
                      input_field_placeholder=typing_placeholder(step))


def coupon_prompt_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[_back_cancel()])


def _check_status(op_id: str) -> InlineKeyboardButton:
    # The same callback as Confirm: it resends the same key, so it can never buy twice.
    return InlineKeyboardButton(
        text=_("🔄 Check status"), callback_data=ConfirmCb(op_id=op_id).pack()
    )


def placing_keyboard(op_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[_check_status(op_id)], [home_button()]])


def unresolved_keyboard(op_id: str) -> InlineKeyboardMarkup:
    """An order that may be placed: settle it, look it up, or leave; never a new quote."""
    orders = InlineKeyboardButton(
        text=_("📦 My orders"), callback_data=MenuCb(action="orders").pack()
    )
    return InlineKeyboardMarkup(
        inline_keyboard=[[_check_status(op_id)], [orders, home_button()]]
    )


def receipt_keyboard(order_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    # An id too long for callback data would break the receipt; /orders still lists it.
    if len(order_id) <= ORDER_ID_MAX:
        for text, action in (
            (_("🔑 Show credentials"), "creds"),
            (_("📥 Download list"), "dl"),
            (_("📦 Open order"), "view"),
        ):
            builder.button(text=text, callback_data=OrderCb(action=action, order_id=order_id))
    builder.button(text=_("🛒 Buy more"), callback_data=MenuCb(action="buy"))
    # The receipt shows what was charged, not a balance: the balance is one tap away.
    builder.button(text=_("💰 Balance"), callback_data=MenuCb(action="balance"))
    builder.adjust(1, 2, 2)
    builder.row(home_button())
    return builder.as_markup()


def insufficient_keyboard(op_id: str) -> InlineKeyboardMarkup:
    """Top up (the deposit's announcement leads back to this quote), then retry the very
    same quote (nothing was bought, so its key is reused)."""
    builder = InlineKeyboardBuilder()
    builder.add(top_up_button(op_id, OPERATION_KIND))
    builder.button(text=_("🔁 Try again"), callback_data=ConfirmCb(op_id=op_id))
    builder.adjust(2)
    builder.row(
        InlineKeyboardButton(text=_("⬅️ Back"), callback_data=BuyCb(act="show").pack()),
        cancel_button(),
    )
    return builder.as_markup()


def not_placed_keyboard(op_id: str) -> InlineKeyboardMarkup:
    """The same quote again (re-priced by Confirm when it is too old), or leave."""
    retry = InlineKeyboardButton(
        text=_("🔁 Try again"), callback_data=ConfirmCb(op_id=op_id).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[retry], [cancel_button()]])


def purchase_failed_keyboard() -> InlineKeyboardMarkup:
    """A retry after a provider failure is a new quote with a new idempotency key."""
    retry = InlineKeyboardButton(text=_("🔁 Try again"), callback_data=BuyCb(act="requote").pack())
    return InlineKeyboardMarkup(inline_keyboard=[[retry], _back_cancel()])
