"""Every CallbackData factory of the bot, in one place.

Telegram limits callback_data to 64 bytes, so prefixes are short, values are ids
(never names) and tests/test_keyboards.py checks the worst case of each factory.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class MenuCb(CallbackData, prefix="m"):
    """Main-menu navigation: buy, orders, balance, tx, deposit, settings, help, home."""

    action: str


class TxPageCb(CallbackData, prefix="tx"):
    page: int
    kind: str = ""  # "" = all, else deposit/purchase/refund/adjustment


class SettingsCb(CallbackData, prefix="st"):
    action: str  # lang, setlang, logout, logout_yes
    value: str = ""


class CancelCb(CallbackData, prefix="x"):
    """Leaves whatever wizard is running."""

    where: str = ""


class OrderCb(CallbackData, prefix="o"):
    """An action on one order: view, creds, dl (download menu), ext (extend menu).

    Shared by the purchase receipt and the orders screens.
    """

    action: str
    order_id: str


class DepositCb(CallbackData, prefix="dp"):
    """Show the deposit address of a currency, by its index in DEPOSIT_CURRENCIES."""

    currency: int


class DepositMenuCb(CallbackData, prefix="dm"):
    """The top-up screens: top (stablecoins), coins (other coins), net (the networks of
    the asset at index ``asset`` of services.deposits.ASSETS), how (how deposits work)."""

    screen: str
    asset: int = -1


# -- orders screens -------------------------------------------------------------------

# Longest order id the order factories below are checked for (the API's ids are 25).
ORDER_ID_MAX = 48


class OrdersCb(CallbackData, prefix="ol"):
    """The orders list: a page with filters ("" = any); pick="t" opens the type picker."""

    page: int = 1
    status: str = ""  # active, expired, canceled, pending
    type: str = ""  # a proxy type
    pick: str = ""


class CredsCb(CallbackData, prefix="oc"):
    """Credentials of one order in chat, for one protocol: h = HTTP(S) port, s = SOCKS5.

    ``lines``: a big order's summary with its list of lines shown below it (1) or not (0).
    """

    order_id: str
    proto: str = "h"
    lines: int = 0


class DownloadCb(CallbackData, prefix="od"):
    """A proxy-list file of one order; fmt is a code of services.exports.FORMATS."""

    order_id: str
    fmt: str


class ExtendCb(CallbackData, prefix="oe"):
    """An extend period chosen for one order (period id from the type's reference)."""

    order_id: str
    period_id: int


class ExtendConfirmCb(CallbackData, prefix="oy"):
    """Confirm (or check) one recorded extend operation; the op id says which."""

    op_id: str


# -- purchase wizard (issue 4) ----------------------------------------------------------


class BuyCb(CallbackData, prefix="b"):
    """A tap inside the purchase wizard.

    act: set (pick ``val`` on ``step``), page (country list page ``val``), back, show
    (redraw the current step), clear (drop the country search), coupon / nocoupon,
    requote (price the same selection again). ``val`` is an id, a number or an enum code.
    """

    act: str
    step: str = ""
    val: str = ""


class ConfirmCb(CallbackData, prefix="bc"):
    """Confirm one quoted purchase; ``op_id`` names the stored operation and is its
    idempotency key, so the button works (and never buys twice) whatever the FSM state."""

    op_id: str


class ReminderCb(CallbackData, prefix="rm"):
    """A reminder's buttons: x = extend by ``period_id`` with one tap, m = mute its order,
    u = unmute. The reminder row says which order and which expiry it was about."""

    action: str
    reminder_id: int
    period_id: int = 0


class ReminderSettingsCb(CallbackData, prefix="rs"):
    """/settings → reminders: show, t = toggle offset ``value`` (seconds), off, on,
    muted (list), unmute order ``value``."""

    action: str
    value: str = ""


# -- top up and back (deposit arrivals) -----------------------------------------------------


class TopUpCb(CallbackData, prefix="tu"):
    """Top up for one operation refused for lack of funds, and back to it afterwards.

    action: t = top up (remember the way back, open the deposit screens), b = back to the
    operation (the quote, or the extend confirmation). kind: o = an order's quote, e = an
    extend. ``op_id`` names the recorded operation (its Confirm button's id)."""

    action: str
    kind: str
    op_id: str


# -- groups: linking a key (handlers/group_link.py) ------------------------------------------


class GroupLinkCb(CallbackData, prefix="gl"):
    """In an admin's private chat: link the group of the invitation ``token`` (the deep
    link's token, never the group's id) with this private chat's key (action "own")."""

    action: str
    token: str


class GroupUnlinkCb(CallbackData, prefix="gu"):
    """/unlink's confirmation in a group: "yes" unlinks the key, "no" keeps it."""

    action: str


# -- groups: member requests (handlers/requests.py) ------------------------------------------


class AskApprovalCb(CallbackData, prefix="rq"):
    """A member's "Request approval" on their own quote in a group; ``op_id`` names the
    quote's recorded operation (as ConfirmCb does)."""

    op_id: str


class GroupRequestCb(CallbackData, prefix="gq"):
    """An admin's answer on a request posted in a group: a = approve (also "Check status"
    and "Try again": the same request, the same key), d = decline."""

    action: str
    request_id: str
