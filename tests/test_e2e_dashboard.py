"""The main menu is a short dashboard: the balance, the orders that expire soonest and the
main actions, with "Get an API key" and (when SUPPORT_URL is set) a support link."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from bot.settings import SettingsError, load_settings
from storage.orders import LocalOrder
from tests.conftest import BotHarness
from tests.e2e import RECEIPT, TIMEOUT, ipv4_quote, tap, team
from views.dashboard import API_KEYS_URL

SUPPORT = "https://t.me/proxy_support"


def _urls(message) -> list[str]:
    return [b.url for b in message.flat_buttons if b.url]


def _callbacks(message) -> list[str]:
    return [b.callback_data for b in message.flat_buttons if b.callback_data]


@pytest.fixture
async def supported(fake_telegram, sandbox, tmp_path):
    harness = BotHarness(fake_telegram, sandbox, tmp_path, SUPPORT_URL=SUPPORT)
    await harness.start()
    try:
        yield harness
        assert not fake_telegram.unanswered_callbacks(), "every tap must be answered"
    finally:
        await harness.stop()


async def _orders(harness, chat_id: int) -> None:
    """Four active orders in the local table (and an expired one): the dashboard lists the
    three that expire soonest."""
    now = harness.clock.now()
    rows = [
        ("o-late", "ipv4", "Germany", 30),
        ("o-soon", "ipv6", "France", 2),
        ("o-mid", "ipv4", "United States", 9),
        ("o-last", "isp", "Germany", 60),
        ("o-gone", "ipv4", "Germany", -1),
    ]
    for order_id, kind, country, days in rows:
        await harness.app.repos.orders.upsert(LocalOrder(
            order_id=order_id, chat_id=chat_id, type=kind, status="active", quantity=5,
            country_id=None, country_name=country, period_id=None, charged=Decimal("5"),
            expires_at=now + timedelta(days=days, hours=1), created_at=now,
        ))


def _order_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("• ")]


async def test_dashboard_in_english_with_support(supported) -> None:
    chat, _account = await supported.linked_chat(Decimal("42.50"))
    await _orders(supported, chat.chat_id)
    supported.clock.advance(timedelta(minutes=2))  # the balance read when linking is old now
    requests = supported.sandbox.state.request_counts.copy()
    await chat.send("/menu")
    menu = await chat.wait_for_message("Menu", timeout=TIMEOUT)
    assert "Balance: $42.50" in menu.text
    assert "Expiring soonest" in menu.text
    lines = _order_lines(menu.text)
    assert len(lines) == 3
    assert "France" in lines[0] and "2 d left" in lines[0]
    assert "United States" in lines[1] and "Germany" in lines[2]
    assert "I sell and manage" not in menu.text and len(menu.text) < 221
    for action in ("m:buy", "m:orders", "m:balance", "m:deposit"):
        assert action in _callbacks(menu)
    assert API_KEYS_URL in _urls(menu) and SUPPORT in _urls(menu)
    assert menu.button("Support").url == SUPPORT
    assert menu.button("Get an API key").url == API_KEYS_URL
    # One balance read, nothing else asked of the API.
    after = supported.sandbox.state.request_counts
    assert {k: after[k] - requests.get(k, 0) for k in after if after[k] != requests.get(k, 0)} \
        == {"GET /account": 1}


async def test_dashboard_in_russian_and_the_home_button(supported) -> None:
    chat, _account = await supported.linked_chat(Decimal("7"), language_code="ru")
    await _orders(supported, chat.chat_id)
    await chat.send("/help")
    helped = await chat.wait_for_message("/menu", timeout=TIMEOUT)
    await chat.click(helped, data="m:home")
    menu = await chat.wait_for_message("Меню", timeout=TIMEOUT)
    assert menu.is_edited
    assert "Баланс: $7.00" in menu.text and "Скоро истекают" in menu.text
    lines = _order_lines(menu.text)
    assert "Франция" in lines[0] and "Германия" in lines[2]
    assert menu.button("Поддержка").url == SUPPORT
    assert menu.button("Получить API-ключ").url == API_KEYS_URL
    assert "m:buy" in _callbacks(menu)


async def test_no_support_button_when_unset_and_no_orders(harness) -> None:
    chat, _account = await harness.linked_chat(Decimal("10"))
    await chat.send("/start")
    menu = await chat.wait_for_message("Menu", timeout=TIMEOUT)
    assert "Balance: $10.00" in menu.text and "No active orders yet." in menu.text
    assert _urls(menu) == [API_KEYS_URL]


async def test_first_start_is_a_short_welcome_with_the_key_prompt(harness) -> None:
    chat = await harness.private_chat()
    await chat.send("/start")
    welcome = await chat.wait_for_message("Hi, Ann", timeout=TIMEOUT)
    assert "API key" in welcome.text and "x:" in _callbacks(welcome)
    assert welcome.button("Get an API key").url == API_KEYS_URL
    assert "I sell and manage" not in welcome.text


async def test_the_api_failing_shows_the_dashboard_without_the_balance(harness) -> None:
    chat, _account = await harness.linked_chat()
    await _orders(harness, chat.chat_id)
    harness.clock.advance(timedelta(minutes=2))  # nothing recent to show instead
    harness.sandbox.state.add_fault("GET /account", "server_error", times=10)
    await chat.send("/menu")
    menu = await chat.wait_for_message("Menu", timeout=TIMEOUT)
    assert "Balance: not available right now" in menu.text
    assert len(_order_lines(menu.text)) == 3 and "m:buy" in _callbacks(menu)


async def test_a_group_sees_its_balance_and_nothing_secret(harness) -> None:
    crew = await team(harness, Decimal("55"))
    await crew.member.send("/menu")
    menu = await crew.member.wait_for_message("Menu", timeout=TIMEOUT)
    assert "Balance: $55.00" in menu.text
    assert crew.account.email not in menu.text and crew.account.api_key not in menu.text
    assert "m:buy" in _callbacks(menu)


async def test_menu_is_in_the_command_menu(harness) -> None:
    tg = harness.tg

    def registered(language: str) -> list[str]:
        return [c["command"] for c in tg.bot_commands(None, language)]

    for language in ("", "ru"):
        await tg.wait_for(lambda lang=language: registered(lang), timeout=TIMEOUT,
                          failure=f"no command menu for {language!r}")
        assert "menu" in registered(language), (language, registered(language))


def test_support_url_must_be_https() -> None:
    base = {"BOT_TOKEN": "123456:ABCDEFGHIJKL"}
    assert load_settings(**base, SUPPORT_URL="").support_url is None
    assert load_settings(**base, SUPPORT_URL="https://t.me/help").support_url == \
        "https://t.me/help"
    for bad in ("http://t.me/help", "t.me/help", "https://", "javascript:alert(1)"):
        with pytest.raises(SettingsError, match="SUPPORT_URL"):
            load_settings(**base, SUPPORT_URL=bad)


async def test_the_menu_reuses_a_balance_read_within_a_minute_until_money_moves(harness) -> None:
    chat, _account = await harness.linked_chat(Decimal("100"))
    reads = lambda: harness.sandbox.state.request_counts.get("GET /account", 0)  # noqa: E731
    linked = reads()

    async def menu(n: int):
        await chat.send("/menu")
        await chat.wait_until(lambda c: len(menus(c)) == n, timeout=TIMEOUT, what=f"menu {n}")
        return menus(chat)[-1]

    def menus(c) -> list:
        return [m for m in c.bot_messages() if m.text.startswith("🏠 Menu")]

    assert "Balance: $100.00" in (await menu(1)).text
    assert reads() == linked  # the balance linking read a moment ago

    harness.clock.advance(timedelta(minutes=1))
    await menu(2)
    assert reads() == linked + 1
    await menu(3)
    assert reads() == linked + 1

    # Money moved (a purchase): the next menu asks the API again and shows what it says.
    quote = await ipv4_quote(chat, "5")
    await tap(chat, quote, "Confirm", expect=RECEIPT)
    spent = reads()
    assert "Balance: $88.00" in (await menu(4)).text  # 100 − 5 × $2.40
    assert reads() == spent + 1
