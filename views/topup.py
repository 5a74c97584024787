"""Top up and back: the message that tells a chat a deposit reached its balance."""

from __future__ import annotations

from decimal import Decimal

from aiogram.utils.i18n import gettext as _

from views.format import h, signed_usd, usd


def currency_label(code: str) -> str:
    """BTC, USDT TRC20: the API's code as people write it."""
    return code.replace("_", " ")


def arrival_text(
    amount: Decimal, currency: str | None, balance: Decimal | None, can_go_back: bool = False
) -> str:
    """"💰 Deposit received: +$50.00 (BTC). Balance: $150.00" — the currency when the API
    names it, the balance when it could be read."""
    if currency:
        head = _("💰 Deposit received: <b>{amount}</b> ({currency}).").format(
            amount=signed_usd(amount), currency=h(currency_label(currency))
        )
    else:
        head = _("💰 Deposit received: <b>{amount}</b>.").format(amount=signed_usd(amount))
    if balance is not None:
        head += " " + _("Balance: <b>{balance}</b>").format(balance=usd(balance))
    lines = [head]
    if can_go_back:
        lines += ["", _("Tap below to go back to what you were paying for.")]
    return "\n".join(lines)
