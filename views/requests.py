"""Texts of member requests in a group: the request, its outcome, the alerts around it.

Names come from Telegram (people choose them) and order details from the API: every one
is escaped. Alerts (answers to a tap) are plain text, not HTML, and short (Telegram shows
at most 200 characters).
"""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from proxy_api import InsufficientFunds
from services.group_requests import APPROVED, DECLINED, GroupRequest
from services.purchase import QUOTE_TTL, QuoteView, Receipt
from services.purchase.checkout import (
    OrderFailed,
    OrderNotPlaced,
    OrderPending,
    OrderRefused,
    PurchaseOutcome,
)
from views.buy import order_summary, purchase_failed_text
from views.errors import error_text
from views.format import day, h, stamp, usd

# Names in alerts (plain text, 200 characters at most in all).
_ALERT_NAME = 40


def mention(user_id: int, name: str) -> str:
    """A mention of a person by their id (works without a username), escaped."""
    return f'<a href="tg://user?id={int(user_id)}">{h(name or "?")}</a>'


def _summary(quote: QuoteView | None) -> list[str]:
    if quote is None:
        return []
    lines = order_summary(quote)
    if quote.coupon:
        lines.append(_("Coupon: <code>{code}</code>").format(code=h(quote.coupon)))
    lines.append(_("<b>Total: {value}</b>").format(value=usd(quote.total)))
    return lines


# -- the request in the group ------------------------------------------------------------


def request_text(request: GroupRequest, quote: QuoteView | None, notice: str = "") -> str:
    """An open request: who asks, for what, at what price, until when."""
    lines = [notice, ""] if notice else []
    lines += [
        _("📨 <b>Purchase request</b>"),
        _("{who} asks the admins to buy:").format(
            who=mention(request.requester_id, request.requester_name)
        ),
        "",
        *_summary(quote),
        "",
        _("An admin can approve it (paid from the group's balance) or decline it. "
          "It expires on {when}.").format(when=stamp(request.expires_at)),
    ]
    return "\n".join(lines)


def placing_text(request: GroupRequest, quote: QuoteView | None, by_name: str) -> str:
    lines = [
        _("⏳ <b>Placing the order</b> {admin} approved for {who}…").format(
            admin=h(by_name), who=mention(request.requester_id, request.requester_name)
        ),
        "",
        *_summary(quote),
    ]
    return "\n".join(lines)


def approved_text(request: GroupRequest, receipt: Receipt) -> str:
    """The request closed with its order: a receipt without credentials."""
    head = _("✅ <b>Request approved</b> by {admin}").format(
        admin=h(request.decided_name) if request.decided_name else _("an admin")
    )
    lines = [
        head,
        _("{who}, your order is placed.").format(
            who=mention(request.requester_id, request.requester_name)
        ),
        "",
        _("Order: <code>{order_id}</code>").format(order_id=h(receipt.order_id)),
        *order_summary(receipt),
        _("Charged: <b>{value}</b>").format(value=usd(receipt.charged)),
    ]
    if receipt.expires_at is not None:
        lines.append(_("Active until: {date}").format(date=day(receipt.expires_at)))
    lines += ["", _("Everyone can open it with /orders.")]
    return "\n".join(lines)


def declined_text(request: GroupRequest, quote: QuoteView | None) -> str:
    lines = [
        _("❌ <b>Request declined</b> by {admin}").format(
            admin=h(request.decided_name) if request.decided_name else _("an admin")
        ),
        _("{who} asked for:").format(who=mention(request.requester_id, request.requester_name)),
        "",
        *_summary(quote),
        "",
        _("Nothing was bought."),
    ]
    return "\n".join(lines)


def expired_text(request: GroupRequest, quote: QuoteView | None) -> str:
    lines = [
        _("⌛ <b>Request expired</b>"),
        _("Nobody answered {who}'s request in time, so nothing was bought. "
          "Send /buy to ask again.").format(
            who=mention(request.requester_id, request.requester_name)
        ),
        "",
        *_summary(quote),
    ]
    return "\n".join(lines)


def decided_notice(request: GroupRequest, receipt: Receipt | None) -> str:
    """The reply that mentions the requester, so Telegram notifies them (edits do not)."""
    who = mention(request.requester_id, request.requester_name)
    admin = h(request.decided_name) if request.decided_name else _("an admin")
    if request.status == APPROVED and receipt is not None:
        return _("🔔 {who}, {admin} approved your request: order <code>{order_id}</code> "
                 "is placed.").format(who=who, admin=admin, order_id=h(receipt.order_id))
    return _("🔔 {who}, {admin} declined your request.").format(who=who, admin=admin)


# -- notices on an open request ----------------------------------------------------------


def repriced_notice() -> str:
    minutes = int(QUOTE_TTL.total_seconds() // 60)
    return _("⌛ The quote was more than {minutes} minutes old, so I priced it again. "
             "Check the new total; an admin approves again to buy it.").format(minutes=minutes)


def outcome_notice(outcome: PurchaseOutcome) -> str:
    """Why an approved request is still open (anything but a receipt)."""
    if isinstance(outcome, OrderRefused):
        error = outcome.error
        if isinstance(error, InsufficientFunds):
            lines = [_("💸 <b>Not enough balance.</b>")]
            if error.required is not None and error.available is not None:
                lines.append(_("This order costs {cost}; the account has {available}.").format(
                    cost=usd(error.required), available=usd(error.available)
                ))
            lines.append(_("Top up with /deposit, then approve again. Nothing was charged."))
            return "\n".join(lines)
        return error_text(error) + "\n" + _("Nothing was bought; an admin can approve again.")
    if isinstance(outcome, OrderPending):
        text = _("⚠️ <b>The order may already be placed.</b> I sent it to 1001Proxy but got "
                 "no answer. Tap “Check status” to settle it: it is never charged twice.")
        return f"{error_text(outcome.cause)}\n{text}" if outcome.cause is not None else text
    if isinstance(outcome, OrderFailed):
        return purchase_failed_text(outcome.refunded) + "\n" + _(
            "Approving again prices it anew first."
        )
    if isinstance(outcome, OrderNotPlaced):
        return _("ℹ️ The order was not placed and nothing was charged. "
                 "An admin can approve again.")
    return ""


# -- alerts (plain text) -------------------------------------------------------------------


def closed_alert(request: GroupRequest) -> str:
    by = (request.decided_name or "")[:_ALERT_NAME]
    if request.status == APPROVED:
        return (_("✅ This request was already approved by {admin}.").format(admin=by) if by
                else _("✅ This request was already approved."))
    if request.status == DECLINED:
        return (_("❌ This request was already declined by {admin}.").format(admin=by) if by
                else _("❌ This request was already declined."))
    return _("⌛ This request has expired. The member can ask again with /buy.")


def already_placing_alert() -> str:
    return _("⏳ This order is already being placed, one moment…")


def repriced_alert() -> str:
    return _("⌛ The price was out of date and has been updated. Check it and approve again.")


def busy_alert() -> str:
    return _("⏳ Another purchase or extend of this group is still being settled. "
             "Try again in a moment.")


def request_approved_alert() -> str:
    return _("✅ Approved: the order is placed.")


def request_declined_alert() -> str:
    return _("❌ Declined.")


# -- the member's own screen ------------------------------------------------------------


def request_sent_text() -> str:
    return _("📨 <b>Request sent.</b> The group's admins see it in this chat; you will be "
             "mentioned when one of them approves or declines it.")


def request_exists_text() -> str:
    return _("📨 This order is already waiting for an admin's approval in this chat.")
