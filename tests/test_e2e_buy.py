"""The purchase wizard end to end: the real app, the fake Bot API and the sandbox over HTTP."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

import pytest

from services.purchase import PurchaseService
from storage.operations import DONE, FAILED, PENDING
from tests.e2e import (
    COUNTRY,
    COUPON,
    OPERATOR,
    PERIOD,
    PROTOCOL,
    QUANTITY,
    QUOTE,
    RECEIPT,
    ROTATION,
    SERVICE,
    START,
    TARIF,
    TIMEOUT,
    buyer,
    confirm_data,
    final,
    ipv4_quote,
    op_id_of,
    orders_of,
    say,
    start_buy,
    step,
    tap,
    transactions_of,
)

# The main flows run in polling and in webhook mode (tests/conftest.py).
pytestmark = pytest.mark.both_modes


def chosen(message) -> list[str]:
    """Labels of the buttons marked as the earlier choice."""
    return [b.text.removeprefix("✅ ") for b in message.flat_buttons if b.text.startswith("✅ ")]


def purchases(harness) -> PurchaseService:
    return harness.app.dispatcher["purchases"]


# -- every proxy type -----------------------------------------------------------------------

# (type button, [(button to tap or text to type, screen it leads to)], expected order fields,
#  expected total)
PURCHASES = {
    "ipv4": (
        "Datacenter IPv4",
        [("United States", PERIOD), ("1 week", QUANTITY), ("qty:5", QUOTE)],
        {"country_id": 1, "period_id": 1, "quantity": 5, "protocol": "https"},
        Decimal("6.25"),
    ),
    "ipv6": (
        "Datacenter IPv6",
        [("Germany", PROTOCOL), ("SOCKS5", PERIOD), ("1 month", QUANTITY), ("qty:10", QUOTE)],
        {"country_id": 3, "period_id": 2, "quantity": 10, "protocol": "socks5"},
        Decimal("9.00"),
    ),
    "isp": (
        "🏢 ISP",
        [("typed:jap", "Search"), ("Japan", PERIOD), ("1 week", QUANTITY), ("qty:1", QUOTE)],
        {"country_id": 11, "period_id": 1, "quantity": 1},
        Decimal("2.10"),
    ),
    "mobile": (
        "Mobile",
        [
            ("Poland", SERVICE),
            ("Dedicated", OPERATOR),
            ("Orange", ROTATION),
            ("Every 10 minutes", PERIOD),
            ("1 month", QUANTITY),
            ("qty:1", QUOTE),
        ],
        {
            "country_id": 7,
            "period_id": 2,
            "quantity": 1,
            "mobile_service_type": "dedicated",
            "operator_id": 5,
            "rotation_id": 3,
        },
        Decimal("45.00"),
    ),
    "resident": (
        "Residential",
        [("Basic 5 GB", QUOTE)],
        {"tarif_id": 2, "quantity": 5, "country_id": None, "period_id": None},
        Decimal("16.00"),
    ),
    "mix": (
        "Mixed datacenter",
        [("France", PERIOD), ("3 months", QUANTITY), ("typed:10", QUOTE)],
        {"country_id": 5, "period_id": 3, "quantity": 10},
        Decimal("49.50"),
    ),
    "mix_isp": (
        "Mixed ISP",
        [("United Kingdom", PERIOD), ("1 week", QUANTITY), ("qty:50", QUOTE)],
        {"country_id": 2, "period_id": 1, "quantity": 50},
        Decimal("80.00"),
    ),
}


@pytest.mark.parametrize("proxy_type", list(PURCHASES))
async def test_buy_each_type(harness, proxy_type):
    type_button, steps, expected, total = PURCHASES[proxy_type]
    chat, account = await buyer(harness, Decimal("100.00"))
    message = await start_buy(chat)
    message = await tap(chat, message, type_button, expect=COUNTRY if steps[0][1] != QUOTE
                        else TARIF)
    for action, leads_to in steps:
        message = await step(chat, message, action, expect=leads_to)

    assert f"Total: ${total}" in message.text
    # Linking read the balance a moment ago: it still decides Confirm (no read for the quote).
    assert "Balance: $100.00" in message.text
    assert f"After purchase: ${Decimal('100.00') - total}" in message.text
    assert not orders_of(harness, account), "a quote must not buy anything"

    receipt = await tap(chat, message, "Confirm", expect=RECEIPT)
    (order,) = orders_of(harness, account)
    assert order.type == proxy_type
    for name, value in expected.items():
        assert getattr(order, name) == value, name
    assert order.charged_amount == total
    assert account.balance == Decimal("100.00") - total
    assert len(transactions_of(harness, account, "purchase")) == 1

    assert order.id in receipt.text
    assert f"Charged: ${total}" in receipt.text
    assert "balance" not in receipt.text.lower()  # what was charged, no balance after it
    assert {b.callback_data for b in receipt.flat_buttons} >= {
        f"o:creds:{order.id}", f"o:dl:{order.id}", f"o:view:{order.id}", "m:balance"
    }

    local = await harness.app.repos.orders.get(chat.chat_id, order.id)
    assert local is not None
    assert (local.type, local.quantity, local.charged) == (proxy_type, order.quantity, total)
    assert local.country_id == order.country_id
    # Not read back after the order: the status and expiry come with the order sync.
    assert (local.status, local.expires_at) == ("pending", None)

    if proxy_type == "mobile":
        # The receipt names what the quote named, in the same words; so does the order.
        for line in ("Service: Dedicated modem", "Operator: Orange",
                     "Rotation: Every 10 minutes", "Period: 1 month"):
            assert line in receipt.text, line
        details = await tap(chat, receipt, "Open order", expect="Status:")
        assert "Service: Dedicated modem" in details.text
        assert "Protocol: HTTPS" in details.text and "https" not in details.text
        assert "dedicated" not in details.text

    await harness.app.dispatcher["order_sync"].sync_chat(chat.chat_id)
    local = await harness.app.repos.orders.get(chat.chat_id, order.id)
    assert local is not None and local.status == order.status
    if proxy_type == "resident":
        assert local.expires_at is None and order.expires_at is None
    else:
        # The wire carries milliseconds.
        assert abs(local.expires_at - order.expires_at) < timedelta(milliseconds=1)
        assert local.country_name

    # The wizard is over: typing a number now is not taken as a quantity.
    await chat.send("7")
    await chat.wait_for_message("didn't get that", timeout=TIMEOUT)


# -- navigation: back, cancel, typed input ----------------------------------------------

MOBILE_PATH = [
    ("Mobile", COUNTRY),
    ("Poland", SERVICE),
    ("Shared", OPERATOR),
    ("Orange", ROTATION),
    ("Every 5 minutes", PERIOD),
    ("1 week", QUANTITY),
    ("qty:5", QUOTE),
]


async def test_back_at_every_step_keeps_the_earlier_choice(harness):
    chat, _account = await buyer(harness)
    message = await start_buy(chat)
    screens = [START]
    for button, leads_to in MOBILE_PATH:
        message = await step(chat, message, button, expect=leads_to)
        screens.append(leads_to)
    first_quote = op_id_of(message)

    # Coupon prompt → Back → the same quote (nothing changed, so the same key).
    message = await tap(chat, message, "Add coupon", expect=COUPON)
    message = await tap(chat, message, "Back", expect=QUOTE)
    assert op_id_of(message) == first_quote

    # Walk all the way back: each screen shows the earlier choice with ✅.
    for index in range(len(MOBILE_PATH) - 1, -1, -1):
        button, _ = MOBILE_PATH[index]
        message = await tap(chat, message, "Back", expect=screens[index])
        # A preset's label carries its total: "5 · $37.50".
        label_part = button.removeprefix("qty:") + " ·" if button.startswith("qty:") else button
        assert [label for label in chosen(message) if label_part in label], (button, message)

    # Back from the first step leaves the wizard for the main menu.
    message = await tap(chat, message, "Back", expect="Balance:")
    await chat.send("3")
    await chat.wait_for_message("didn't get that", timeout=TIMEOUT)
    # The main menu's button starts a fresh wizard.
    message = await tap(chat, message, "🛒 Buy proxies", expect=START)
    assert chosen(message) == []


async def test_back_on_ipv6_protocol_and_resident_tariff(harness):
    chat, _account = await buyer(harness)
    message = await start_buy(chat)
    message = await tap(chat, message, "Datacenter IPv6", expect=COUNTRY)
    # The protocol comes before the period: the period and quantity prices need it.
    message = await tap(chat, message, "Germany", expect=PROTOCOL)
    message = await tap(chat, message, "HTTPS", expect=PERIOD)
    message = await tap(chat, message, "1 week", expect=QUANTITY)
    message = await step(chat, message, "qty:25", expect=QUOTE)
    message = await tap(chat, message, "Back", expect=QUANTITY)
    assert chosen(message) == ["25 · $8.75"]
    message = await tap(chat, message, "Back", expect=PERIOD)
    assert chosen(message) == ["1 week · $0.35"]
    message = await tap(chat, message, "Back", expect=PROTOCOL)
    assert chosen(message) == ["HTTPS"]
    message = await tap(chat, message, "Back", expect=COUNTRY)
    assert chosen(message) == ["🇩🇪 Germany"]
    message = await tap(chat, message, "Back", expect=START)
    assert chosen(message) == ["🌐 Datacenter IPv6"]

    # Another type starts that type's own steps, from scratch.
    message = await tap(chat, message, "Residential", expect=TARIF)
    assert "Basic 5 GB · $16.00" in message.button_texts
    message = await tap(chat, message, "Pro 25 GB", expect=QUOTE)
    assert "Total: $70.00" in message.text and "Traffic: 25 GB" in message.text
    message = await tap(chat, message, "Back", expect=TARIF)
    assert chosen(message) == ["Pro 25 GB · $70.00"]
    message = await tap(chat, message, "Back", expect=START)
    assert chosen(message) == ["🏠 Residential"]


async def test_cancel_at_every_step(harness):
    chat, account = await buyer(harness)
    for depth in range(len(MOBILE_PATH) + 2):
        message = await start_buy(chat)
        for button, leads_to in MOBILE_PATH[:depth]:
            message = await step(chat, message, button, expect=leads_to)
        if depth == len(MOBILE_PATH) + 1:
            message = await tap(chat, message, "Add coupon", expect=COUPON)
        cancelled = await tap(chat, message, "Cancel", expect="Cancelled")
        assert "Buy proxies" in cancelled.button_texts[0]
    # /cancel typed mid-wizard leaves it too.
    message = await start_buy(chat)
    await tap(chat, message, "🏢 ISP", expect=COUNTRY)
    await say(chat, "/cancel", expect="Cancelled")
    await chat.send("Germany")
    await chat.wait_for_message("didn't get that", timeout=TIMEOUT)
    assert not orders_of(harness, account)


async def test_typed_quantity_good_and_bad(harness):
    chat, _account = await buyer(harness, Decimal("5000.00"))
    message = await start_buy(chat)
    message = await tap(chat, message, "Datacenter IPv4", expect=COUNTRY)
    message = await tap(chat, message, "United States", expect=PERIOD)
    message = await tap(chat, message, "1 week", expect=QUANTITY)
    for bad in ("0", "-3", "2.5", "ten", "1001", "99999999999999999999", "1e3", "x" * 4000):
        reply = await say(chat, bad, expect="whole number")
        assert QUANTITY in reply.text, bad
        assert "1 · $1.25" in reply.button_texts
    # A sticker is not a quantity either.
    await chat.send_sticker()
    await chat.wait_for_message(final("Please use the buttons"), timeout=TIMEOUT)

    message = await say(chat, " 1 000 ", expect=QUOTE)
    assert "Quantity: 1000" in message.text and "Total: $1,250.00" in message.text
    message = await tap(chat, message, "Back", expect=QUANTITY)
    assert chosen(message) == ["1000 · $1,250.00"], "a typed quantity is shown as the choice"
    message = await say(chat, "7", expect=QUOTE)
    assert "Quantity: 7" in message.text and "Total: $8.75" in message.text


async def test_country_search_and_pages(harness):
    chat, _account = await buyer(harness)
    message = await start_buy(chat)
    message = await tap(chat, message, "Datacenter IPv4", expect=COUNTRY)
    assert len(message.button_texts) == 10 + 2 + 2  # a page of countries, pager, back/cancel
    assert "1/3" in message.button_texts

    found = await say(chat, "ger", expect="Search")
    countries = [b.text for b in found.flat_buttons if b.callback_data.startswith("b:set:")]
    assert countries == ["🇩🇪 Germany"]

    missing = await say(chat, "Atlantis", expect="No country matches")
    assert "“Atlantis”" in missing.text
    assert "1/3" in missing.button_texts, "no match shows the whole list again"

    # Escaped, and trimmed: a search is never echoed as HTML.
    odd = await say(chat, "<b>zz</b>", expect="No country matches")
    assert "<b>zz</b>" in odd.text

    # Code search, then clear it.
    found = await say(chat, "us", expect="Search")
    assert "🇺🇸 United States" in found.button_texts
    cleared = await tap(chat, found, "Clear search", expect=COUNTRY)
    assert "Search:" not in cleared.text and "1/3" in cleared.button_texts

    page2 = await tap(chat, cleared, "▶️", expect=COUNTRY)
    assert "2/3" in page2.button_texts and "🇯🇵 Japan" in page2.button_texts
    page3 = await tap(chat, page2, "▶️", expect=COUNTRY)
    assert "🇰🇿 Kazakhstan" in page3.button_texts and "▶️" not in page3.button_texts
    message = await tap(chat, page3, "Kazakhstan", expect=PERIOD)
    message = await tap(chat, message, "Back", expect=COUNTRY)
    assert "3/3" in message.button_texts, "the list opens on the page of the chosen country"
    assert chosen(message) == ["🇰🇿 Kazakhstan"]


async def test_stale_and_forged_buttons_change_nothing(harness):
    chat, account = await buyer(harness)
    message = await start_buy(chat)
    message = await tap(chat, message, "Datacenter IPv4", expect=COUNTRY)
    # An id the reference does not have, a step we are not on, a type that does not exist.
    for forged in ("b:set:country:999", "b:set:quantity:5", "b:set:type:socks", "b:zz::"):
        since = harness.tg.current_seq
        handle = await chat.click_forged(forged, message=message)
        # The second and later taps redraw the very same screen ("message is not modified").
        await harness.tg.wait_for_request("editMessageText", since=since, timeout=TIMEOUT)
        await handle.wait_answer(timeout=TIMEOUT)
        shown = chat.message(message.message_id)
        assert "out of date" in shown.text and COUNTRY in shown.text, forged
        assert "🇩🇪 Germany" in shown.button_texts
    # An API key pasted mid-wizard is not a country search: it is deleted, tried as a key
    # (this one is unknown), never echoed back, and the wizard stays where it was.
    key = "pk_live_" + secrets.token_hex(12)
    pasted = await chat.send(key)
    await chat.wait_for_message(final("does not know this key"), timeout=TIMEOUT)
    await chat.wait_for_deletion(pasted)
    assert all(key[:12] not in m.text for m in chat.bot_messages())
    # Text where buttons are expected on a non-text step.
    message = await tap(chat, shown, "Germany", expect=PERIOD)
    reply = await say(chat, "a month please", expect="Please use the buttons")
    assert PERIOD in reply.text
    # A Confirm for an operation that does not exist.
    handle = await chat.click_forged("bc:" + "0" * 32, message=reply)
    await chat.wait_for_message(final("out of date"), timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    assert not orders_of(harness, account)


async def test_buy_needs_a_key_in_groups_as_in_private_chats(harness):
    # A group buys with its own key (tests/test_e2e_group_buy.py); without one, it is told.
    owner = harness.tg.user(user_id=7101, first_name="Owner")
    group = harness.tg.group(owner=owner)
    in_group = group.member(owner)
    await in_group.send("/buy")
    told = await in_group.wait_for_message("linked", timeout=TIMEOUT)
    assert "private chat with me" not in told.text

    chat = await harness.private_chat()
    await chat.send("/buy")
    await chat.wait_for_message("No API key is linked", timeout=TIMEOUT)


# -- coupons ----------------------------------------------------------------------------


def live_quotes(chat) -> list:
    """Bot messages in the chat that still carry a quote's Confirm button."""
    return [m for m in chat.bot_messages() if any(
        (b.callback_data or "").startswith("bc:") for b in m.flat_buttons
    )]


async def test_coupon_accepted(harness):
    chat, account = await buyer(harness)
    message = await ipv4_quote(chat, "10")  # 10 × $2.40
    assert "Total: $24.00" in message.text
    before = op_id_of(message)
    calcs = harness.sandbox.state.request_counts.get("POST /orders/calc", 0)
    message = await tap(chat, message, "Add coupon", expect=COUPON)
    message = await say(chat, "SAVE10", expect="Coupon applied")
    assert "Coupon SAVE10: −$2.40" in message.text and "Total: $21.60" in message.text
    assert "After purchase: $78.40" in message.text
    assert op_id_of(message) != before, "a changed quote gets a new idempotency key"
    # The price without the coupon was the quote's own answer: one calc, with the coupon.
    assert harness.sandbox.state.request_counts["POST /orders/calc"] == calcs + 1

    await tap(chat, message, "Confirm", expect=RECEIPT)
    (order,) = orders_of(harness, account)
    assert order.coupon == "SAVE10" and order.charged_amount == Decimal("21.60")
    assert account.balance == Decimal("78.40")


async def test_every_coupon_try_edits_the_one_quote(harness):
    chat, _account = await buyer(harness)
    quote = await ipv4_quote(chat, "10")
    message = quote
    for code, shown in (("BOGUS", "not accepted"), ("two words", "one word"),
                        ("WELCOME5", "Coupon applied"), ("SAVE10", "Coupon applied")):
        if "Add coupon" in " ".join(message.button_texts):
            message = await tap(chat, message, "Add coupon", expect=COUPON)
        elif "Remove coupon" in " ".join(message.button_texts):
            message = await tap(chat, message, "Remove coupon", expect="Total: $24.00")
            message = await tap(chat, message, "Add coupon", expect=COUPON)
        message = await say(chat, code, expect=shown)
        assert message.message_id == quote.message_id, code
    assert "Coupon SAVE10: −$2.40" in message.text and "WELCOME5" not in message.text
    (live,) = live_quotes(chat)
    assert live.message_id == quote.message_id


async def test_coupon_line_in_russian(harness):
    chat, _account = await harness.linked_chat(Decimal("100.00"), language_code="ru")
    message = await say(chat, "/buy", expect="Какие прокси")
    message = await tap(chat, message, "IPv4", expect="страну")
    message = await tap(chat, message, "США", expect="срок")
    message = await tap(chat, message, "1 месяц", expect="Сколько")
    message = await say(chat, "10", expect="Ваш заказ")
    message = await tap(chat, message, "промокод", expect="промокод сообщением")
    message = await say(chat, "SAVE10", expect="применён")
    assert "Промокод SAVE10: −$2.40" in message.text, message.text


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("BOGUS", "unknown coupon"),
        ("SPRING2024", "coupon has expired"),
        # The longest code a coupon may be: never mistaken for a pasted API key.
        ("BLACKFRIDAY2025MEGASALE", "unknown coupon"),
    ],
)
async def test_coupon_rejected_keeps_the_quote_without_it(harness, code, reason):
    chat, account = await buyer(harness)
    message = await ipv4_quote(chat, "10")
    before = op_id_of(message)
    message = await tap(chat, message, "Add coupon", expect=COUPON)
    message = await say(chat, code, expect="not accepted")
    assert reason in message.text
    assert "Total: $24.00" in message.text and "Coupon" not in message.text.split("\n", 1)[1]
    assert op_id_of(message) == before, "the quote without the coupon is still the same"

    # A malformed code is refused before asking the API.
    message = await tap(chat, message, "Add coupon", expect=COUPON)
    calcs = harness.sandbox.state.request_counts.get("POST /orders/calc", 0)
    message = await say(chat, "two words", expect="one word")
    assert harness.sandbox.state.request_counts.get("POST /orders/calc", 0) == calcs
    message = await tap(chat, message, "Back", expect=QUOTE)

    await tap(chat, message, "Confirm", expect=RECEIPT)
    (order,) = orders_of(harness, account)
    assert order.coupon is None and order.charged_amount == Decimal("24.00")


async def test_remove_coupon_requotes(harness):
    chat, _account = await buyer(harness)
    message = await ipv4_quote(chat, "10")
    message = await tap(chat, message, "Add coupon", expect=COUPON)
    message = await say(chat, "welcome5", expect=QUOTE)
    assert "Total: $22.80" in message.text
    with_coupon = op_id_of(message)
    message = await tap(chat, message, "Remove coupon", expect=QUOTE)
    assert "Total: $24.00" in message.text and "Add coupon" in " ".join(message.button_texts)
    assert op_id_of(message) != with_coupon
    old = await harness.app.repos.operations.get(with_coupon)
    assert old.status == FAILED, "the replaced quote can no longer buy"


# -- persistence ------------------------------------------------------------------------


async def test_restart_mid_wizard_continues(harness):
    chat, account = await buyer(harness)
    message = await start_buy(chat)
    message = await tap(chat, message, "Datacenter IPv4", expect=COUNTRY)
    message = await tap(chat, message, "Netherlands", expect=PERIOD)

    await harness.restart()

    message = await tap(chat, message, "1 month", expect=QUANTITY)
    assert "Country: 🇳🇱 Netherlands" in message.text
    await harness.restart()
    message = await say(chat, "4", expect=QUOTE)
    assert "Total: $9.60" in message.text

    await harness.restart()  # a quote survives too: its key is in the database
    receipt = await tap(chat, message, "Confirm", expect=RECEIPT)
    (order,) = orders_of(harness, account)
    assert (order.country_id, order.period_id, order.quantity) == (4, 2, 4)
    assert order.id in receipt.text
    op = await harness.app.repos.operations.get(op_id_of(message))
    assert op.status == DONE and op.order_id == order.id


async def test_quote_records_a_pending_operation_with_its_key(harness):
    chat, _account = await buyer(harness)
    message = await ipv4_quote(chat, "3")
    op = await harness.app.repos.operations.get(op_id_of(message))
    assert op is not None
    assert (op.status, op.kind, op.chat_id) == (PENDING, "order", chat.chat_id)
    assert op.request["body"] == {"type": "ipv4", "countryId": 3, "periodId": 2, "quantity": 3}
    assert len(confirm_data(message).encode()) <= 64


def api_calls(harness) -> dict[str, int]:
    return dict(harness.sandbox.state.request_counts)


def calls_since(harness, before: dict[str, int]) -> dict[str, int]:
    after = harness.sandbox.state.request_counts
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


async def reminder_offsets(harness, chat_id: int, order_id: str) -> list[timedelta]:
    rows = await harness.app.repos.reminders.for_order(chat_id, order_id)
    return sorted(r.offset for r in rows if r.state == "planned")


DEFAULT_OFFSETS = sorted([timedelta(days=3), timedelta(days=1), timedelta(hours=3)])


async def test_a_purchase_is_one_calc_and_one_order_and_its_reminders_come_later(harness):
    chat, account = await buyer(harness)
    harness.clock.advance(timedelta(minutes=2))  # the balance linking read is old now
    message = await start_buy(chat)
    message = await tap(chat, message, "Datacenter IPv4", expect=COUNTRY)
    message = await tap(chat, message, "United States", expect=PERIOD)
    message = await tap(chat, message, "1 week", expect=QUANTITY)
    before = api_calls(harness)
    quote = await step(chat, message, "qty:5", expect=QUOTE)
    assert "Balance" not in quote.text and "➕ Top up" not in quote.button_texts
    receipt = await tap(chat, quote, "Confirm", expect=RECEIPT)
    assert calls_since(harness, before) == {"POST /orders/calc": 1, "POST /orders": 1}
    (order,) = orders_of(harness, account)
    assert "Period: 1 week" in receipt.text and "Active until" not in receipt.text
    assert await reminder_offsets(harness, chat.chat_id, order.id) == []

    # Opening the order reads it: its reminders are planned then, not only at the sync.
    opened = await tap(chat, receipt, "Open order", expect=order.id)
    assert await reminder_offsets(harness, chat.chat_id, order.id) == DEFAULT_OFFSETS
    sync = harness.app.dispatcher["order_sync"]
    assert (await sync.sync_chat(chat.chat_id)).planned == 0  # never doubled
    assert await reminder_offsets(harness, chat.chat_id, order.id) == DEFAULT_OFFSETS
    assert opened.text


async def test_reminders_of_a_purchase_are_planned_by_the_next_sync_once(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")
    await tap(chat, quote, "Confirm", expect=RECEIPT)
    (order,) = orders_of(harness, account)
    sync = harness.app.dispatcher["order_sync"]
    assert (await sync.sync_chat(chat.chat_id)).planned == 3
    local = await harness.app.repos.orders.get(chat.chat_id, order.id)
    assert local is not None and local.status == "active"
    assert abs(local.expires_at - order.expires_at) < timedelta(milliseconds=1)
    assert await reminder_offsets(harness, chat.chat_id, order.id) == DEFAULT_OFFSETS
    assert (await sync.sync_chat(chat.chat_id)).planned == 0
    rows = await harness.app.repos.reminders.for_order(chat.chat_id, order.id)
    assert len(rows) == 3


async def test_a_quote_after_a_purchase_shows_no_balance_read_before_it(harness):
    chat, account = await buyer(harness)  # linking read the balance: $100
    quote = await ipv4_quote(chat, "5")
    assert "Balance: $100.00" in quote.text
    receipt = await tap(chat, quote, "Confirm", expect=RECEIPT)
    message = await tap(chat, receipt, "Buy more", expect=START)
    message = await tap(chat, message, "Datacenter IPv4", expect=COUNTRY)
    message = await tap(chat, message, "Germany", expect=PERIOD)
    message = await tap(chat, message, "1 month", expect=QUANTITY)
    again = await step(chat, message, "qty:5", expect=QUOTE)
    # Money moved since that read: $100 would be false now, and nothing is read for a quote.
    assert "Balance" not in again.text and "After purchase" not in again.text
    assert account.balance < Decimal("100.00")
