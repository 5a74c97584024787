"""Chat hygiene end to end: old keyboards cannot act, "⏳ Working…" only when a call is
slow, and a big order's credentials are a summary with files first.
"""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import pytest

from tests.conftest import BotHarness
from tests.e2e import (
    COUNTRY,
    DETAILS,
    PERIOD,
    QUANTITY,
    QUOTE,
    START,
    TIMEOUT,
    say,
    start_buy,
    tap,
    team,
)

OUT_OF_DATE = "out of date"
WORKING = "⏳ Working…"


@pytest.fixture
async def start_harness(fake_telegram, sandbox, tmp_path):
    """Start the app with the settings given (WORKING_DELAY)."""
    started: list[BotHarness] = []

    async def start(**settings: str) -> BotHarness:
        harness = BotHarness(fake_telegram, sandbox, tmp_path, **settings)
        await harness.start()
        started.append(harness)
        return harness

    try:
        yield start
        assert not fake_telegram.unanswered_callbacks(), "every tap must be answered"
    finally:
        for harness in started:
            await harness.stop()


def _edits_to(harness, message_id: int, since: int) -> list:
    return [r for r in harness.tg.calls("editMessageText")[since:]
            if r.params.get("message_id") == message_id]


# -- old keyboards --------------------------------------------------------------------------


async def test_typed_input_takes_the_buttons_off_the_previous_screen(harness) -> None:
    chat, _ = await harness.linked_chat()
    first = await start_buy(chat)
    first = await tap(chat, first, "Datacenter IPv4", expect=COUNTRY)
    assert first.buttons
    found = await say(chat, "Germ", expect="Search")
    assert found.message_id != first.message_id and found.buttons
    await chat.wait_until(lambda c: not c.message(first.message_id).buttons,
                          timeout=TIMEOUT, what="the previous step without buttons")
    # The new screen goes on as usual.
    await tap(chat, found, "Germany", expect=PERIOD)


async def test_the_new_screen_works_while_the_old_one_is_losing_its_buttons(harness) -> None:
    chat, _ = await harness.linked_chat()
    first = await start_buy(chat)
    first = await tap(chat, first, "Datacenter IPv4", expect=COUNTRY)
    slow = harness.tg.hold_next("editMessageReplyMarkup")  # taking the old buttons off
    found = await say(chat, "Germ", expect="Search")
    # A quick tap on the new screen is not "out of date" while that call is on its way.
    await tap(chat, found, "Germany", expect=PERIOD)
    slow.set()
    await chat.wait_until(lambda c: not c.message(first.message_id).buttons,
                          timeout=TIMEOUT, what="the previous step without buttons")


async def test_a_screen_newer_than_the_recorded_one_is_current_and_older_ones_are_not() -> None:
    # `remember` records a screen after sending it: a tap on it can come first.
    from aiogram.fsm.context import FSMContext
    from aiogram.fsm.storage.base import StorageKey
    from aiogram.fsm.storage.memory import MemoryStorage

    from handlers import flow_screens

    state = FSMContext(MemoryStorage(), StorageKey(bot_id=1, chat_id=2, user_id=3))
    await flow_screens._save(state, 10, [7])
    assert not await flow_screens.out_of_date(state, 10, strict=True)
    assert not await flow_screens.out_of_date(state, 12, strict=True)  # shown, not recorded
    assert await flow_screens.out_of_date(state, 8, strict=True)  # older, never recorded
    assert await flow_screens.out_of_date(state, 7, strict=False)  # left behind
    assert not await flow_screens.out_of_date(state, 8, strict=False)


async def test_an_old_cancel_far_up_the_chat_is_out_of_date_and_the_wizard_goes_on(
    harness,
) -> None:
    chat, _ = await harness.linked_chat()
    first = await start_buy(chat)
    first = await tap(chat, first, "Datacenter IPv4", expect=COUNTRY)
    # Telegram refuses to take the buttons off the old screen: they stay live in the chat.
    harness.tg.fail_next("editMessageReplyMarkup", error_code=400,
                         description="Bad Request: message can't be edited")
    current = await say(chat, "Germ", expect="Search")
    await chat.wait_until(lambda c: harness.tg.calls("editMessageReplyMarkup", ok=False),
                          timeout=TIMEOUT, what="the refused removal")
    old = chat.message(first.message_id)
    assert old.buttons, "the removal failed: the old keyboard is still there"

    for button in ("✖️ Cancel", "⬅️ Back", "United States"):
        answer = await (await chat.click(old, button))
        assert OUT_OF_DATE in (answer.text or ""), button
        assert answer.show_alert
    # Nothing changed: the old screen, the current one, the wizard.
    assert chat.message(first.message_id).text == old.text
    assert chat.message(current.message_id).text == current.text
    assert await harness.app.dispatcher.fsm.storage.get_state(
        _key(harness, chat)) is not None
    await tap(chat, current, "Germany", expect=PERIOD)


async def test_a_cancel_from_an_earlier_wizard_cannot_end_a_new_one(harness) -> None:
    chat, _ = await harness.linked_chat()
    first = await start_buy(chat)
    first = await tap(chat, first, "Datacenter IPv4", expect=COUNTRY)
    # /buy again: a new wizard; the first one's screen loses its buttons.
    second = await say(chat, "/buy", expect=START)
    await chat.wait_until(lambda c: not c.message(first.message_id).buttons,
                          timeout=TIMEOUT, what="the first wizard without buttons")
    # An old Cancel that survived anyway (a client that still shows it) is out of date.
    answer = await (await chat.click_forged("x:", message=first.message_id))
    assert OUT_OF_DATE in (answer.text or "")
    second = await tap(chat, second, "Datacenter IPv4", expect=COUNTRY)
    # The current screen's own Cancel still cancels.
    await tap(chat, second, "✖️ Cancel", expect="Cancelled")


def _key(harness, chat):
    from aiogram.fsm.storage.base import StorageKey

    return StorageKey(bot_id=harness.tg.bot_id, chat_id=chat.chat_id, user_id=chat.chat_id)


# -- "⏳ Working…" -----------------------------------------------------------------------------


async def test_a_fast_purchase_and_orders_flash_no_working_state(start_harness) -> None:
    harness = await start_harness(WORKING_DELAY="30s")
    chat, account = await harness.linked_chat()
    since = len(harness.tg.calls("editMessageText"))
    message = await start_buy(chat)
    message = await tap(chat, message, "Datacenter IPv4", expect=COUNTRY)
    message = await tap(chat, message, "United States", expect=PERIOD)
    message = await tap(chat, message, "1 month", expect=QUANTITY)
    await tap(chat, message, data=_quantity_button(message), expect=QUOTE)
    edits = harness.tg.calls("editMessageText")[since:]
    assert edits, "the wizard edits its screen in place"
    assert not any(WORKING in str(r.params.get("text")) for r in edits)

    await harness.sandbox.state.create_order(
        account, {"type": "ipv4", "countryId": 1, "periodId": 2, "quantity": 2})
    await chat.send("/orders")
    listing = await chat.wait_for_message("Your orders", timeout=TIMEOUT)
    since = len(harness.tg.calls("editMessageText"))
    await tap(chat, listing, data=_first_order(listing), expect="Status:")
    assert [str(r.params.get("text")) for r in harness.tg.calls("editMessageText")[since:]
            if WORKING in str(r.params.get("text"))] == []


async def test_a_slow_call_shows_the_working_state_until_it_answers(start_harness) -> None:
    harness = await start_harness(WORKING_DELAY="1ms")
    chat, account = await harness.linked_chat()
    await harness.sandbox.state.create_order(
        account, {"type": "ipv4", "countryId": 1, "periodId": 2, "quantity": 2})
    await chat.send("/orders")
    listing = await chat.wait_for_message("Your orders", timeout=TIMEOUT)
    held = harness.sandbox.state.add_fault(DETAILS, "hold")
    await chat.click(listing, data=_first_order(listing))
    working = await chat.wait_for_message(WORKING, timeout=TIMEOUT)
    assert working.message_id == listing.message_id and not working.buttons
    held.release()
    await chat.wait_for_message("Status:", timeout=TIMEOUT)


def _quantity_button(message) -> str:
    return next(b.callback_data for b in message.flat_buttons
                if (b.callback_data or "").startswith("b:set:quantity:"))


def _first_order(listing) -> str:
    return next(b.callback_data for b in listing.flat_buttons
                if (b.callback_data or "").startswith("o:view:"))


# -- big orders ---------------------------------------------------------------------------------


def _codes(message) -> list[str]:
    return [unescape(c) for c in re.findall(r"<code>(.*?)</code>", message.html, re.S)]


async def _big_order(harness, chat, account, quantity: int = 100):
    receipt = await harness.sandbox.state.create_order(
        account, {"type": "ipv4", "countryId": 1, "periodId": 2, "quantity": quantity})
    order_id = receipt.order_id
    await chat.send("/orders")
    listing = await chat.wait_for_message("Your orders", timeout=TIMEOUT)
    await chat.click(listing, data=f"o:view:{order_id}")
    details = await chat.wait_for_message("Status:", timeout=TIMEOUT)
    return order_id, details


async def test_a_big_order_shows_a_summary_and_files_first_and_the_list_on_demand(
    harness,
) -> None:
    chat, account = await harness.linked_chat(balance=Decimal("1000.00"))
    order_id, details = await _big_order(harness, chat, account)
    proxies = harness.sandbox.state.get_order(order_id).proxies
    summary = await tap(chat, details, "🔑 Credentials", expect="100 proxies")
    assert summary.message_id == details.message_id
    assert not any("://" in c for c in _codes(summary)), "no lines before they are asked for"
    assert summary.buttons[0][0].text == "http://user:pw@ip:port", "the file comes first"
    assert not [m for m in chat.bot_messages() if m.message_id > summary.message_id]

    # The file is one tap away, and the summary stays as it is.
    await chat.click(summary, "http://user:pw@ip:port")
    await chat.wait_until(lambda c: harness.tg.documents(c.chat_id), timeout=TIMEOUT,
                          what="the file")
    (document,) = harness.tg.documents(chat.chat_id)
    assert document.data.decode().splitlines() == [
        f"http://{p.login}:{p.password}@{p.ip}:{p.port_https}" for p in proxies]
    assert chat.message(summary.message_id).buttons == summary.buttons

    # The lines on demand: below the summary, every proxy once.
    await chat.click(summary, "📋 Show the list")
    await chat.wait_until(lambda c: len(_urls(_parts(c, summary))) == len(proxies),
                          timeout=TIMEOUT, what="the list")
    parts = _parts(chat, summary)
    assert len(parts) >= 2 and all(len(m.text) <= 4096 for m in parts)
    assert _urls(parts) == [f"http://{p.login}:{p.password}@{p.ip}:{p.port_https}"
                            for p in proxies]

    # Switching the protocol replaces every part: no HTTP line is left anywhere.
    await chat.click(chat.message(summary.message_id), "🔁 Show SOCKS5")
    await chat.wait_until(
        lambda c: all(u.startswith("socks5://") for u in _urls(_parts(c, summary)))
        and len(_urls(_parts(c, summary))) == len(proxies),
        timeout=TIMEOUT, what="the SOCKS5 list")
    await chat.wait_for_message(lambda m: "Show HTTP" in str(m), timeout=TIMEOUT)
    parts = _parts(chat, summary)
    assert _urls(parts) == [f"socks5://{p.login}:{p.password}@{p.ip}:{p.port_socks5}"
                            for p in proxies]
    assert not [u for u in _urls(chat.bot_messages()) if u.startswith("http://")]

    # Hiding the list deletes it.
    await chat.click(chat.message(summary.message_id), "🙈 Hide the list")
    await chat.wait_until(lambda c: not _parts(c, summary), timeout=TIMEOUT, what="no list")


def _parts(chat, summary) -> list:
    """The list's messages under the summary (the file sent earlier is no part of it)."""
    return [m for m in chat.bot_messages() if m.message_id > summary.message_id and _codes(m)]


def _urls(parts) -> list[str]:
    return [c for m in parts for c in _codes(m) if "://" in c]


async def test_a_big_order_reaches_a_group_admin_privately_as_a_file(harness) -> None:
    crew = await team(harness)
    receipt = await harness.sandbox.state.create_order(
        crew.account, {"type": "ipv4", "countryId": 1, "periodId": 2, "quantity": 40})
    proxies = harness.sandbox.state.get_order(receipt.order_id).proxies
    await crew.owner.send("/orders")
    listing = await crew.owner.wait_for_message("Your orders", timeout=TIMEOUT)
    await crew.owner.click(listing, data=f"o:view:{receipt.order_id}")
    order = await crew.owner.wait_for_message("Status:", timeout=TIMEOUT)
    answer = await (await crew.owner.click(order, "🔑 Credentials"))
    assert "private chat" in (answer.text or "")
    private = crew.owner_user.private_chat()
    await private.wait_until(lambda c: harness.tg.documents(c.chat_id), timeout=TIMEOUT,
                             what="the file in the private chat")
    (document,) = harness.tg.documents(private.chat_id)
    assert document.data.decode().splitlines() == [
        f"http://{p.login}:{p.password}@{p.ip}:{p.port_https}" for p in proxies]
    # Nothing secret in the group, and its screen unchanged.
    assert crew.owner.message(order.message_id).text == order.text
    assert not harness.tg.documents(crew.chat_id)
    assert not any(p.ip in m.text for p in proxies for m in crew.owner.bot_messages())
