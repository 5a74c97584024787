"""The scenario of the golden transcripts: a new user's full purchase, in one language.

/start → the key → the menu's Buy → IPv4 → United States → 1 month → 10 → the quote →
Confirm → the receipt → Credentials → Download → a file. Buttons are found by their
callback data, so the same script runs in every language.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from tests.conftest import BotHarness
from tests.golden.transcript import Normalizer, Transcript

LANGUAGES = ("en", "ru")
GOLDEN_DIR = Path(__file__).resolve().parent
# Timing must not show: no "⏳ Working…" for a call that happened to be slow.
SETTINGS = {"WORKING_DELAY": "1h"}


def golden_path(language: str) -> Path:
    return GOLDEN_DIR / f"purchase_{language}.txt"


def _has(prefix: str):
    return lambda m: any((b.callback_data or "").startswith(prefix) for b in m.flat_buttons)


def _shows_document(message) -> bool:
    return message.document is not None


async def purchase_transcript(harness: BotHarness, language: str) -> str:
    """Runs the purchase in a fresh chat of ``harness`` and returns its normalized transcript."""
    account = harness.new_account(Decimal("100.00"))
    chat = await harness.private_chat(language_code=language)
    script = Transcript(harness.tg, chat)

    await script.send("/start", _has("x:"))
    menu = await script.send(account.api_key, _has("m:buy"), shown="<the API key>")
    kinds = await script.tap(menu, "m:buy", _has("b:set:type:"))
    countries = await script.tap(kinds, "b:set:type:ipv4", _has("b:set:country:"))
    periods = await script.tap(countries, "b:set:country:1", _has("b:set:period:"))
    period_data = [
        b.callback_data for b in periods.flat_buttons
        if (b.callback_data or "").startswith("b:set:period:")
    ]
    await script.tap(periods, _month(harness, period_data), _has("b:set:quantity:"))
    quote = await script.send("10", _has("bc:"))
    receipt = await script.tap(quote, lambda d: d.startswith("bc:"), _has("o:creds:"))
    creds = await script.tap(receipt, lambda d: d.startswith("o:creds:"), _has("o:dl:"))
    formats = await script.tap(creds, lambda d: d.startswith("o:dl:"), _has("od:"))
    await script.tap(formats, lambda d: d.startswith("od:"), _shows_document)

    normalize = Normalizer()
    normalize.known(account.api_key, "<API key>")
    normalize.known(account.email, "<email>")
    for number, order in enumerate(harness.sandbox.state.orders_of(account.id), start=1):
        normalize.known(order.id, f"<order {number}>")
        normalize.known(order.upstream_order_id, f"<upstream order {number}>")
        for proxy in order.proxies:
            normalize.known(proxy.ip, "<ip>")
            normalize.known(proxy.login, "<login>")
            normalize.known(proxy.password, "<password>")
            normalize.number(proxy.port_https, "<port>")
            normalize.number(proxy.port_socks5, "<socks5 port>")
    return normalize(script.render())


def _month(harness: BotHarness, period_data: list[str]) -> str:
    """The button of the 30-day period (ids are the sandbox's reference data)."""
    periods = {p.id: p for p in harness.sandbox.state.reference("ipv4").periods}
    for data in period_data:
        period = periods.get(int(data.rsplit(":", 1)[1]))
        if period is not None and period.days == 30:
            return data
    return period_data[0]


async def run(language: str) -> str:
    """The transcript in ``language`` from a fresh fake Telegram, sandbox and bot."""
    from sandbox.server import SandboxServer
    from tests.fake_telegram import FakeTelegram
    from tests.fake_telegram.fixtures import TEST_TOKEN

    tg = FakeTelegram(token=TEST_TOKEN)
    sandbox = SandboxServer()
    await tg.start()
    await sandbox.start()
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            harness = BotHarness(tg, sandbox, Path(data_dir), **SETTINGS)
            await harness.start()
            try:
                return await purchase_transcript(harness, language)
            finally:
                await harness.stop()
    finally:
        await sandbox.stop()
        await tg.stop()
