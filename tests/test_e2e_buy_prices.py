"""Prices where the choice is made: periods, quantity presets, traffic packages, types.

Each screen asks the API at most once (`POST /orders/calc`, through the price book), and
showing it again within the book's five minutes asks nothing. Sandbox prices: IPv4 $1.25
(1 week) and $2.40 (1 month) a proxy; residential packages at a price per GB.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import httpx

from tests.e2e import (
    COUNTRY,
    PERIOD,
    PROTOCOL,
    QUANTITY,
    QUOTE,
    START,
    TARIF,
    buyer,
    say,
    start_buy,
    step,
    tap,
)

CALC = "POST /orders/calc"


def calcs(harness) -> int:
    return harness.sandbox.state.request_counts.get(CALC, 0)


async def test_each_screen_asks_once_and_again_not_at_all(harness):
    chat, _account = await buyer(harness)
    message = await start_buy(chat)
    message = await tap(chat, message, "Datacenter IPv4", expect=COUNTRY)
    assert calcs(harness) == 0, "the type and country screens ask for no price"

    message = await tap(chat, message, "United States", expect=PERIOD)
    assert calcs(harness) == 1
    assert "1 week · $1.25" in message.button_texts
    assert "Prices are per proxy." in message.text
    # Back and forth: the country list (its pages too) and the periods again ask nothing.
    message = await tap(chat, message, "Back", expect=COUNTRY)
    message = await tap(chat, message, "▶️", expect=COUNTRY)
    message = await tap(chat, message, "◀️", expect=COUNTRY)
    message = await tap(chat, message, "United States", expect=PERIOD)
    assert calcs(harness) == 1

    message = await tap(chat, message, "1 month", expect=QUANTITY)
    assert calcs(harness) == 2
    assert "Price per proxy: $2.40" in message.text
    assert message.button_texts[:6] == [
        "1 · $2.40", "5 · $12.00", "10 · $24.00", "25 · $60.00", "50 · $120.00", "100 · $240.00",
    ]
    # The periods now show both prices the book holds; nothing is asked.
    message = await tap(chat, message, "Back", expect=PERIOD)
    assert {"1 week · $1.25", "✅ 1 month · $2.40"} <= set(message.button_texts)
    message = await tap(chat, message, "1 month", expect=QUANTITY)
    assert calcs(harness) == 2

    # The quote itself is always a fresh calc, whatever the book holds.
    message = await step(chat, message, "qty:5", expect=QUOTE)
    assert calcs(harness) == 3
    assert "Total: $12.00" in message.text

    # Five minutes later the book asks again, once per screen.
    harness.clock.advance(timedelta(minutes=5, seconds=1))
    message = await tap(chat, message, "Back", expect=QUANTITY)
    assert calcs(harness) == 4
    message = await tap(chat, message, "Back", expect=PERIOD)
    assert calcs(harness) == 4, "the chosen period's price was asked for a moment ago"


async def test_ipv6_asks_the_protocol_first_so_prices_can_follow(harness):
    chat, _account = await buyer(harness)
    message = await start_buy(chat)
    message = await tap(chat, message, "Datacenter IPv6", expect=COUNTRY)
    message = await tap(chat, message, "Germany", expect=PROTOCOL)
    message = await tap(chat, message, "SOCKS5", expect=PERIOD)
    assert "1 week · $0.35" in message.button_texts
    message = await tap(chat, message, "1 week", expect=QUANTITY)
    assert "10 · $3.50" in message.button_texts
    message = await step(chat, message, "qty:10", expect=QUOTE)
    assert "Protocol: SOCKS5" in message.text and "Total: $3.50" in message.text


async def test_mobile_prices_follow_the_service(harness):
    chat, _account = await buyer(harness)
    message = await start_buy(chat)
    for action, leads_to in [("Mobile", COUNTRY), ("Poland", "Shared or dedicated"),
                             ("Dedicated", "mobile operator"), ("Orange", "IP change"),
                             ("On demand", PERIOD)]:
        message = await step(chat, message, action, expect=leads_to)
    assert "1 week · $15.00" in message.button_texts
    message = await tap(chat, message, "1 week", expect=QUANTITY)
    assert "5 · $75.00" in message.button_texts


async def test_packages_show_their_total_and_the_text_the_price_per_gb(harness):
    chat, _account = await buyer(harness)
    message = await start_buy(chat)
    message = await tap(chat, message, "Residential", expect=TARIF)
    assert calcs(harness) == 0, "the package totals follow from the reference"
    assert "Basic 5 GB · $16.00" in message.button_texts
    assert "Basic 5 GB: $3.20 per GB" in message.text
    message = await tap(chat, message, "Basic 5 GB", expect=QUOTE)
    assert "Total: $16.00" in message.text and "Price per GB: $3.20" in message.text


async def test_the_type_screen_names_prices_it_already_has(harness):
    chat, _account = await buyer(harness)
    message = await start_buy(chat)
    assert "from $" not in message.text, "no price is known yet, and none is asked"
    message = await tap(chat, message, "Datacenter IPv4", expect=COUNTRY)
    message = await tap(chat, message, "United States", expect=PERIOD)
    message = await tap(chat, message, "Back", expect=COUNTRY)
    before = calcs(harness)
    message = await tap(chat, message, "Back", expect=START)
    assert calcs(harness) == before
    assert "IPv4: from $1.25" in message.text


async def test_prices_in_russian(harness):
    chat, _account = await harness.linked_chat(Decimal("100.00"), language_code="ru")
    message = await say(chat, "/buy", expect="Какие прокси")
    message = await tap(chat, message, "IPv4", expect="страну")
    message = await tap(chat, message, "США", expect="срок")
    assert "1 неделя · $1.25" in message.button_texts
    assert "Цены указаны за один прокси." in message.text
    message = await tap(chat, message, "1 неделя", expect="Сколько")
    assert "Цена за прокси: $1.25" in message.text
    assert "5 · $6.25" in message.button_texts
    message = await tap(chat, message, "Назад", expect="срок")
    message = await tap(chat, message, "Назад", expect="страну")
    message = await tap(chat, message, "Назад", expect="Какие прокси")
    message = await tap(chat, message, "Резидентные", expect="пакет")
    assert "Basic 5 GB: $3.20 за ГБ" in message.text


class VolumeDiscount(httpx.AsyncBaseTransport):
    """An API that takes 10% off orders of 10 or more: its calc answers say so."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "POST" or not request.url.path.endswith("/orders/calc"):
            return response
        await response.aread()
        body = json.loads(response.content)
        data = body.get("data") or {}
        if (data.get("quantity") or 0) >= 10:
            data["price"] = float(
                (Decimal(str(data["price"])) * Decimal("0.9")).quantize(Decimal("0.01"))
            )
        return httpx.Response(response.status_code, json=body)


async def test_no_preset_totals_when_the_price_is_not_the_unit_price_times_the_quantity(harness):
    http = harness.app.http
    inner = http._transport
    http._transport = VolumeDiscount(inner)
    try:
        chat, _account = await buyer(harness)
        message = await start_buy(chat)
        message = await tap(chat, message, "Datacenter IPv4", expect=COUNTRY)
        message = await tap(chat, message, "United States", expect=PERIOD)
        message = await tap(chat, message, "1 week", expect=QUANTITY)
        # Only what the API said: the unit price; no total it did not name.
        assert "Price per proxy: $1.25" in message.text
        assert message.button_texts[:6] == ["1", "5", "10", "25", "50", "100"]
        message = await step(chat, message, "qty:10", expect=QUOTE)
        assert "Total: $11.25" in message.text
    finally:
        http._transport = inner
