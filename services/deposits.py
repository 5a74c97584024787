"""Crypto top-ups: which currencies on which networks, and a deposit address with a QR code.

The API names 26 currencies (docs/1001proxy-api.md, "Supported Currencies"); a person thinks
"I have USDT on TRON", so the top-up screens ask in that order: the coin, then its network.
Stablecoins come first (most top-ups), every other coin sits behind "Other coins".
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from proxy_api import DEPOSIT_CURRENCIES, DepositAddress
from proxy_api.errors import BadResponse
from services.account import AccountService
from services.errors import StaleAction


@dataclass(frozen=True, slots=True)
class DepositOption:
    """One API currency code as a person sees it: an asset sent on a network."""

    index: int  # position in DEPOSIT_CURRENCIES: the id the buttons carry
    code: str  # the API's currency code, e.g. "USDT_TRC20"
    asset: str  # what is sent: "USDT", "BTC"
    network: str  # a key of views.deposit.NETWORKS, e.g. "TRC20"


# Every API code → (asset, network). tests/test_deposit_options.py checks it covers
# DEPOSIT_CURRENCIES exactly and that every network has a name on screen.
_OPTIONS: dict[str, tuple[str, str]] = {
    "USDT_TRC20": ("USDT", "TRC20"),
    "USDT_ERC20": ("USDT", "ERC20"),
    "USDT_BEP20": ("USDT", "BEP20"),
    "USDT_SOL": ("USDT", "SOLANA"),
    "USDT_POLYGON": ("USDT", "POLYGON"),
    "USDT_TON": ("USDT", "TON"),
    "USDC_ERC20": ("USDC", "ERC20"),
    "USDC_BEP20": ("USDC", "BEP20"),
    "USDC_SOL": ("USDC", "SOLANA"),
    "USDC_BASE": ("USDC", "BASE"),
    "DAI_ERC20": ("DAI", "ERC20"),
    "DAI_POLYGON": ("DAI", "POLYGON"),
    "BTC": ("BTC", "BITCOIN"),
    "ETH": ("ETH", "ERC20"),
    "ETH_BASE": ("ETH", "BASE"),
    "LTC": ("LTC", "LITECOIN"),
    "DOGE": ("DOGE", "DOGECOIN"),
    "BCH": ("BCH", "BITCOIN_CASH"),
    "XMR": ("XMR", "MONERO"),
    "XRP": ("XRP", "XRPL"),
    "TRX": ("TRX", "TRON"),
    "BNB": ("BNB", "BEP20"),
    "SOL": ("SOL", "SOLANA"),
    "POL": ("POL", "POLYGON"),
    "TON": ("TON", "TON"),
    "SHIB_ERC20": ("SHIB", "ERC20"),
}

OPTIONS: tuple[DepositOption, ...] = tuple(
    DepositOption(index, code, *_OPTIONS[code]) for index, code in enumerate(DEPOSIT_CURRENCIES)
)

# The first screen's coins; every other asset is behind "Other coins", in the API's order.
STABLECOINS: tuple[str, ...] = ("USDT", "USDC", "DAI")
ASSETS: tuple[str, ...] = tuple(dict.fromkeys(option.asset for option in OPTIONS))
OTHER_COINS: tuple[str, ...] = tuple(a for a in ASSETS if a not in STABLECOINS)


def option(index: int) -> DepositOption:
    """The option a button names; a forged or outdated index is a stale button."""
    if not 0 <= index < len(OPTIONS):
        raise StaleAction
    return OPTIONS[index]


def asset_at(index: int) -> str:
    if not 0 <= index < len(ASSETS):
        raise StaleAction
    return ASSETS[index]


def networks_of(asset: str) -> tuple[DepositOption, ...]:
    return tuple(o for o in OPTIONS if o.asset == asset)


@dataclass(frozen=True, slots=True)
class DepositTarget:
    option: DepositOption
    address: str
    qr_png: bytes
    created: bool  # True: generated just now (POST); False: the account already had it


class DepositService:
    def __init__(self, accounts: AccountService) -> None:
        self._accounts = accounts

    async def address(self, chat_id: int, currency_index: int) -> DepositTarget:
        """The account's address for a currency: read with GET, generated (POST) only when
        the currency has none yet — the spec lists "address: null" for those."""
        chosen = option(currency_index)
        api = await self._accounts.api_for(chat_id)
        known = _address_in(await api.list_deposit_addresses(), chosen.code)
        created = known is None
        if known is None:
            known = (await api.create_deposit_address(chosen.code)).address
        if not known:
            raise BadResponse(f"no deposit address for {chosen.code}")
        return DepositTarget(chosen, known, qr_png(known), created)


def _address_in(addresses: list[DepositAddress], code: str) -> str | None:
    return next((a.address for a in addresses if a.currency == code and a.address), None)


def qr_png(data: str) -> bytes:
    """A QR code (never a Micro QR, which phone cameras do not read) of ``data``, as PNG."""
    # Imported on the first deposit screen, not at start-up (only this function draws).
    import segno

    buffer = io.BytesIO()
    segno.make_qr(data, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()
