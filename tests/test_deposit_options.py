"""The top-up catalogue: every API currency reachable once, networks named as the spec says,
and address screens that fit a photo caption in every language."""

from __future__ import annotations

import pytest

from bot.i18n import LANGUAGES, build_i18n
from keyboards.deposit import (
    address_keyboard,
    assets_keyboard,
    coins_keyboard,
    how_keyboard,
    networks_keyboard,
)
from proxy_api import DEPOSIT_CURRENCIES
from sandbox.seed import CURRENCIES_BY_CODE
from services.deposits import (
    ASSETS,
    OPTIONS,
    OTHER_COINS,
    STABLECOINS,
    DepositTarget,
    networks_of,
)
from views.deposit import NETWORKS, address_text, how_deposits_work_text, warning_text

CAPTION_LIMIT = 1024
# The longest address any currency has (a Monero address: 95 characters).
LONGEST_ADDRESS = "4" + "A" * 94


@pytest.fixture(scope="module")
def i18n():
    return build_i18n()


def test_every_api_currency_is_one_option() -> None:
    assert [o.code for o in OPTIONS] == list(DEPOSIT_CURRENCIES)
    assert [o.index for o in OPTIONS] == list(range(len(DEPOSIT_CURRENCIES)))
    assert len({(o.asset, o.network) for o in OPTIONS}) == len(OPTIONS)


def test_every_asset_is_on_a_screen() -> None:
    assert set(STABLECOINS) | set(OTHER_COINS) == set(ASSETS)
    assert not set(STABLECOINS) & set(OTHER_COINS)
    assert all(networks_of(asset) for asset in ASSETS)


def test_networks_have_names_and_match_the_spec() -> None:
    assert {o.network for o in OPTIONS} == set(NETWORKS)
    for option in OPTIONS:
        network = NETWORKS[option.network]
        spec = CURRENCIES_BY_CODE[option.code]  # the spec's "Supported Currencies" table
        # The spec's network column: a token standard (TRC-20), a chain (Solana, Base), or
        # the coin's own chain (BTC, TRX, XRPL).
        assert spec.network in {network.standard, network.name, option.asset, option.network}, (
            option, spec.network
        )


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_address_screen_fits_a_caption(i18n, language) -> None:
    with i18n.context(), i18n.use_locale(language):
        for option in OPTIONS:
            target = DepositTarget(option, LONGEST_ADDRESS, b"", created=False)
            for notify in (True, False):
                text = address_text(target, notify=notify, qr_missing=True)
                assert len(text) <= CAPTION_LIMIT, (option.code, len(text))
                assert f"<code>{LONGEST_ADDRESS}</code>" in text


def test_the_warning_reads_naturally(i18n) -> None:
    by_code = {o.code: o for o in OPTIONS}
    with i18n.context(), i18n.use_locale("en"):
        assert warning_text(by_code["USDT_TRC20"]) == (
            "⚠️ Send only USDT on the TRON network (TRC-20) to this address — "
            "other coins or networks are lost."
        )
        assert "Send only BTC on the Bitcoin network to this address" in warning_text(
            by_code["BTC"]
        )


def test_only_a_watched_chat_is_promised_a_message(i18n) -> None:
    target = DepositTarget(OPTIONS[0], "TXyz", b"", created=True)
    with i18n.context(), i18n.use_locale("en"):
        assert "I will message you" in address_text(target, notify=True)
        assert "I will message you" not in address_text(target, notify=False)
        assert "I message you" in how_deposits_work_text(True)
        assert "I message you" not in how_deposits_work_text(False)


def test_every_deposit_button_fits_telegrams_limit(i18n) -> None:
    with i18n.context(), i18n.use_locale("en"):
        markups = [assets_keyboard(), coins_keyboard(), how_keyboard()]
        markups += [networks_keyboard(asset) for asset in ASSETS]
        markups += [address_keyboard(option) for option in OPTIONS]
    for markup in markups:
        for row in markup.inline_keyboard:
            assert len(row) <= 3
            for button in row:
                assert 0 < len((button.callback_data or "").encode()) <= 64
