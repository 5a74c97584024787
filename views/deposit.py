"""Texts of the top-up screens: what to send, on which network, and how deposits work."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from services.deposits import DepositOption, DepositTarget
from views.format import h


class NetworkName:
    """A network in plain words: its name and, for token standards, the standard."""

    def __init__(self, name: str, standard: str = "") -> None:
        self.name = name
        self.standard = standard

    @property
    def label(self) -> str:
        """As on a button: "TRON (TRC-20)", "Solana"."""
        return f"{self.name} ({self.standard})" if self.standard else self.name


# Proper names, the same in every language (so not translated); the sentences around them are.
NETWORKS: dict[str, NetworkName] = {
    "TRC20": NetworkName("TRON", "TRC-20"),
    "ERC20": NetworkName("Ethereum", "ERC-20"),
    "BEP20": NetworkName("BNB Chain", "BEP-20"),
    "SOLANA": NetworkName("Solana"),
    "POLYGON": NetworkName("Polygon"),
    "TON": NetworkName("TON"),
    "BASE": NetworkName("Base"),
    "BITCOIN": NetworkName("Bitcoin"),
    "LITECOIN": NetworkName("Litecoin"),
    "DOGECOIN": NetworkName("Dogecoin"),
    "BITCOIN_CASH": NetworkName("Bitcoin Cash"),
    "MONERO": NetworkName("Monero"),
    "XRPL": NetworkName("XRP Ledger"),
    "TRON": NetworkName("TRON"),
}


def network_label(option: DepositOption) -> str:
    return NETWORKS[option.network].label


def choose_asset_text() -> str:
    return _(
        "➕ <b>Top up your balance</b>\n\n"
        "Which currency will you send? Stablecoins are here; Bitcoin and the rest are under "
        "“Other coins”."
    )


def choose_coin_text() -> str:
    return _("➕ <b>Top up with another coin</b>\n\nWhich coin will you send?")


def choose_network_text(asset: str) -> str:
    return _(
        "➕ <b>Top up with {asset}</b>\n\n"
        "On which network will you send it? Pick the one your wallet or exchange offers "
        "for the withdrawal."
    ).format(asset=h(asset))


def how_deposits_work_text(notify: bool) -> str:
    """From the spec's "How deposits work"; ``notify``: the bot watches for the arrival."""
    steps = _(
        "ℹ️ <b>How deposits work</b>\n\n"
        "1. Choose a currency and its network: you get your own deposit address. "
        "It stays the same, so you can use it again next time.\n"
        "2. Send the crypto to that address from your wallet or exchange.\n"
        "3. Once the payment is confirmed on-chain, your balance is credited automatically."
    )
    if notify:
        last = _("4. I message you when it arrives; you can also check your balance any time "
                 "with /balance.")
    else:
        last = _("4. Check your balance any time with /balance.")
    return f"{steps}\n{last}"


def warning_text(option: DepositOption) -> str:
    network = NETWORKS[option.network]
    if network.standard:
        text = _(
            "⚠️ Send only {asset} on the {network} network ({standard}) to this address — "
            "other coins or networks are lost."
        )
    else:
        text = _(
            "⚠️ Send only {asset} on the {network} network to this address — "
            "other coins or networks are lost."
        )
    return text.format(
        asset=h(option.asset), network=h(network.name), standard=h(network.standard)
    )


def address_text(target: DepositTarget, *, notify: bool, qr_missing: bool = False) -> str:
    """The address screen: the caption of the QR code, or the whole screen as text when the
    photo could not be sent (``qr_missing``). Fits a caption (1024 characters). ``notify``:
    the bot watches for the deposit and says when it arrives."""
    option = target.option
    parts = [
        _("➕ <b>Top up with {asset}</b>\nNetwork: <b>{network}</b>").format(
            asset=h(option.asset), network=h(network_label(option))
        ),
        "<code>{address}</code>\n{hint}".format(
            address=h(target.address), hint=_("Tap the address to copy it.")
        ),
        warning_text(option),
        _(
            "Your balance is credited automatically once the payment is confirmed on-chain; "
            "I will message you when it arrives."
        )
        if notify
        else _("Your balance is credited automatically once the payment is confirmed on-chain."),
    ]
    if qr_missing:
        parts.append(_("(The QR code could not be sent this time — copy the address instead.)"))
    return "\n\n".join(parts)
