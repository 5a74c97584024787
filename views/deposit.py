from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from proxy_api import DepositAddress
from views.format import h


def choose_currency_text() -> str:
    return _(
        "➕ <b>Top up your balance</b>\n\nChoose the cryptocurrency you will send. "
        "The balance is credited automatically once the payment is confirmed on-chain."
    )


def address_text(address: DepositAddress) -> str:
    return _(
        "➕ Send <b>{currency}</b> on the <b>{network}</b> network to:\n\n"
        "<code>{address}</code>\n\n"
        "Tap the address to copy it. Send only {currency} on {network} — other coins or "
        "networks are lost. Your balance is credited once the payment is confirmed on-chain."
    ).format(
        currency=h(address.currency.replace("_", " ")),
        network=h(address.network),
        address=h(address.address or "—"),
    )
