"""Deposit arrivals as the user gets them: announced once, across restarts and crashes; the
way back from Top up to the quote or extend that was short of money; a refused key; backoff.

Deposits are credited in the sandbox as if confirmed on-chain; time moves with
``harness.clock``; the job is the app's own, run directly instead of waiting for
APScheduler's wall clock (the watch itself decides which chats are due).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.e2e import (
    QUOTE,
    RECEIPT,
    TIMEOUT,
    ipv4_quote,
    op_id_of,
    orders_of,
    tap,
)

TX = "GET /account/transactions"
ACCOUNT = "GET /account"
ARRIVED = "Deposit received"
REVOKED = "no longer accepts"
SECOND = timedelta(seconds=1)


def job(harness):
    return harness.app.dispatcher["deposit_job"]


def watcher(harness):
    return harness.app.dispatcher["deposit_watch"]


def requests(harness, endpoint: str) -> int:
    return harness.sandbox.state.request_counts.get(endpoint, 0)


def arrivals_in(chat) -> list:
    return [m for m in chat.bot_messages() if ARRIVED in m.text]


def credit(harness, account, amount: str, currency: str = "BTC"):
    return harness.sandbox.state.credit_deposit(account.id, amount, currency)


async def watched(harness, balance: Decimal = Decimal("100.00")):
    """A linked chat whose deposit address was just shown (fast reads)."""
    chat, account = await harness.linked_chat(balance)
    await watcher(harness).watch(chat.chat_id)
    return chat, account


def next_read(harness) -> None:
    """Move time to the next fast read."""
    harness.clock.advance(watcher(harness).poll_interval + SECOND)


async def announced(chat, count: int) -> list:
    return await chat.wait_until(
        lambda c: len(arrivals_in(c)) == count and arrivals_in(c),
        timeout=TIMEOUT, what=f"{count} deposit announcement(s)",
    )


def is_deposit_screen(message) -> bool:
    return any((b.callback_data or "").startswith(("dm:", "dp:")) for b in message.flat_buttons)


# -- once ---------------------------------------------------------------------------------


async def test_a_deposit_is_announced_once_even_across_restarts(harness):
    chat, account = await watched(harness)
    credit(harness, account, "50.00", "BTC")
    next_read(harness)
    assert await job(harness).run() == 1
    (message,) = await announced(chat, 1)
    assert "💰 Deposit received: +$50.00 (BTC). Balance: $150.00" in message.text
    assert not message.buttons  # no quote or extend waits for this deposit

    next_read(harness)
    assert await job(harness).run() == 0
    await harness.restart()
    next_read(harness)
    assert await job(harness).run() == 0
    await harness.tg.wait_consumed(timeout=TIMEOUT)
    assert len(arrivals_in(chat)) == 1


async def test_a_crash_right_after_queueing_never_announces_twice(harness):
    chat, account = await watched(harness)
    credit(harness, account, "20.00", "USDT_TRC20")
    next_read(harness)
    # The job read it and queued it, then the process died before anything else.
    (arrival,) = await watcher(harness).poll_due()
    assert await watcher(harness).hand_off(arrival, job(harness).message(arrival, "en"))
    await harness.restart(kill=True)

    (message,) = await announced(chat, 1)  # the outbox delivers it after the restart
    assert "+$20.00 (USDT TRC20)" in message.text
    next_read(harness)
    assert await job(harness).run() == 0
    await harness.tg.wait_consumed(timeout=TIMEOUT)
    assert len(arrivals_in(chat)) == 1


async def test_a_crash_before_queueing_announces_it_on_the_next_read(harness):
    chat, account = await watched(harness)
    credit(harness, account, "20.00", "LTC")
    next_read(harness)
    assert len(await watcher(harness).poll_due()) == 1  # read, never handed off
    await harness.restart(kill=True)
    next_read(harness)
    assert await job(harness).run() == 1
    (message,) = await announced(chat, 1)
    assert "+$20.00 (LTC)" in message.text


async def test_two_deposits_are_two_messages(harness):
    chat, account = await watched(harness)
    credit(harness, account, "20.00", "USDT_TRC20")
    harness.clock.advance(SECOND)
    credit(harness, account, "30.00", "ETH")
    next_read(harness)
    assert await job(harness).run() == 2
    first, second = await announced(chat, 2)
    assert "+$20.00 (USDT TRC20)" in first.text and "+$30.00 (ETH)" in second.text
    assert "Balance: $150.00" in second.text

    credit(harness, account, "5.00", "TON")
    next_read(harness)
    assert await job(harness).run() == 1
    third = (await announced(chat, 3))[-1]
    assert "+$5.00 (TON). Balance: $155.00" in third.text


async def test_deposits_from_before_the_link_are_not_announced(harness):
    account = harness.new_account(Decimal("0"))
    credit(harness, account, "25.00", "BTC")
    credit(harness, account, "10.00", "ETH")
    harness.clock.advance(SECOND)
    chat = await harness.private_chat()
    await harness.app.dispatcher["accounts"].link(chat.chat_id, None, account.api_key)
    watch = watcher(harness)

    # Never watched: read at the order sync's pace, in the chat's own slot.
    assert await job(harness).run() == 0
    assert requests(harness, TX) == 0
    harness.clock.advance(watch.slow_interval + SECOND)
    assert await job(harness).run() == 0
    assert requests(harness, TX) == 1
    states = await harness.app.repos.deposits.states_of(chat.chat_id)
    assert sorted(states.values()) == ["skipped", "skipped"]

    credit(harness, account, "40.00", "XMR")
    await watch.watch(chat.chat_id)
    next_read(harness)
    assert await job(harness).run() == 1
    (message,) = await announced(chat, 1)
    assert "+$40.00 (XMR). Balance: $75.00" in message.text


# -- top up and back ----------------------------------------------------------------------


async def test_top_up_from_a_refused_quote_leads_back_to_it_and_it_confirms(harness):
    chat, account = await harness.linked_chat(Decimal("5.00"))
    quote = await ipv4_quote(chat, "10")  # $24.00
    op_id = op_id_of(quote)
    refused = await tap(chat, quote, "Confirm", expect="This order costs")
    assert refused.button("➕ Top up").callback_data == f"tu:t:o:{op_id}"

    await chat.click(refused, "➕ Top up")
    await chat.wait_for_message(is_deposit_screen, timeout=TIMEOUT)
    target = await watcher(harness).pending_return(chat.chat_id)
    assert target is not None and (target.op_id, target.kind) == (op_id, "order")

    credit(harness, account, "20.00", "USDT_TRC20")
    next_read(harness)  # Top up turned the fast reads on
    assert await job(harness).run() == 1
    (message,) = await announced(chat, 1)
    assert "+$20.00 (USDT TRC20). Balance: $25.00" in message.text

    reads = harness.sandbox.state.request_counts.get("GET /account", 0)
    back = await tap(chat, message, "↩️ Back to your order", expect=QUOTE)
    assert op_id_of(back) == op_id  # the same quote: its Try again and Confirm are one order
    # The balance the announcement just read decides it; no read is made for the quote.
    assert "Balance: $25.00" in back.text and "Not enough" not in back.text
    assert harness.sandbox.state.request_counts.get("GET /account", 0) == reads
    assert ARRIVED in chat.message(message.message_id).text  # the announcement stays

    receipt = await tap(chat, back, "Confirm", expect=RECEIPT)
    (order,) = orders_of(harness, account)
    assert order.id in receipt.text and "Charged: $24.00" in receipt.text
    # Bought: a later deposit has no way back to offer.
    credit(harness, account, "5.00", "BTC")
    next_read(harness)
    assert await job(harness).run() == 1
    last = (await announced(chat, 2))[-1]
    assert not last.buttons


async def test_back_to_a_quote_older_than_its_ttl_prices_it_again(harness):
    chat, account = await harness.linked_chat(Decimal("5.00"))
    quote = await ipv4_quote(chat, "10")
    op_id = op_id_of(quote)
    await chat.click(quote, "➕ Top up")  # on the quote itself: not affordable
    await chat.wait_for_message(is_deposit_screen, timeout=TIMEOUT)
    credit(harness, account, "50.00", "BTC")
    harness.clock.advance(timedelta(minutes=31))
    assert await job(harness).run() == 1
    (message,) = await announced(chat, 1)

    back = await tap(chat, message, "↩️ Back to your order", expect=QUOTE)
    assert op_id_of(back) != op_id and "Balance: $55.00" in back.text
    await tap(chat, back, "Confirm", expect=RECEIPT)
    assert len(orders_of(harness, account)) == 1


async def test_top_up_from_a_refused_extend_leads_back_to_its_confirmation(harness):
    chat, account = await harness.linked_chat(Decimal("10.00"))
    body = {"type": "ipv4", "countryId": 1, "periodId": 2, "quantity": 3}
    order_id = (await harness.sandbox.state.create_order(account, body)).order_id  # $2.80 left
    await chat.send("/orders")
    listing = await chat.wait_for_message("Your orders", timeout=TIMEOUT)
    await chat.click(listing, data=f"o:view:{order_id}")
    details = await chat.wait_for_message("Status:", timeout=TIMEOUT)
    await chat.click(details, "⏳ Extend")
    menu = await chat.wait_for_message("Choose how long", timeout=TIMEOUT)
    await chat.click(menu, "1 month")
    confirm = await chat.wait_for_message("Extend order", timeout=TIMEOUT)
    await chat.click(confirm, "✅ Confirm and pay")
    refused = await chat.wait_for_message("Not enough balance", timeout=TIMEOUT)

    await chat.click(refused, "➕ Top up")
    await chat.wait_for_message(is_deposit_screen, timeout=TIMEOUT)
    credit(harness, account, "20.00", "BTC")
    next_read(harness)
    assert await job(harness).run() == 1
    (message,) = await announced(chat, 1)
    assert "Balance: $22.80" in message.text

    again = await tap(chat, message, "↩️ Back to the extension", expect="Extend order")
    assert again.button("✅ Confirm and pay").callback_data == refused.button(
        "🔁 Try again").callback_data  # the same extend: never two
    await tap(chat, again, "✅ Confirm and pay", expect="Extended")
    extensions = [t for t in harness.sandbox.state.transactions_of(account.id)
                  if t.type == "purchase" and "xtension" in t.description]
    assert len(extensions) == 1


# -- a refused key, a failing API -----------------------------------------------------------


async def test_a_refused_key_stops_the_watch_and_is_told_once(harness):
    chat, account = await watched(harness)
    harness.sandbox.state.update_account(account.id, banned=True)
    next_read(harness)
    assert await job(harness).run() == 0
    await chat.wait_for_message(REVOKED, timeout=TIMEOUT)
    status = await harness.app.repos.chats.status(chat.chat_id)
    assert status is not None and status.key_revoked_at is not None

    before = requests(harness, TX)
    for _ in range(3):
        harness.clock.advance(watcher(harness).slow_interval)
        await watcher(harness).watch(chat.chat_id)
        assert await job(harness).run() == 0
    assert requests(harness, TX) == before  # stopped: not read any more
    await harness.tg.wait_consumed(timeout=TIMEOUT)
    assert len([m for m in chat.bot_messages() if REVOKED in m.text]) == 1

    # A key linked again starts it again; what arrived meanwhile is news.
    harness.sandbox.state.update_account(account.id, banned=False)
    credit(harness, account, "7.00", "DOGE")
    harness.clock.advance(SECOND)
    await harness.app.dispatcher["accounts"].link(chat.chat_id, None, account.api_key)
    harness.clock.advance(SECOND)
    credit(harness, account, "8.00", "DOGE")
    await watcher(harness).watch(chat.chat_id)
    next_read(harness)
    assert await job(harness).run() == 1
    (message,) = await announced(chat, 1)
    assert "+$8.00 (DOGE)" in message.text


async def test_a_failing_api_is_read_with_backoff_never_in_a_loop(harness):
    chat, account = await watched(harness)
    state = harness.sandbox.state
    state.add_fault(TX, "server_error", times=3)  # one read: the client's retries included
    next_read(harness)
    assert await job(harness).run() == 0
    assert requests(harness, TX) == 3  # the first attempt and two retries, then it gives up
    state.clear_faults()
    state.add_fault(TX, "bad_body", times=100)
    for _ in range(5):
        assert await job(harness).run() == 0  # not due again before its backoff
    assert requests(harness, TX) == 3

    waits = []
    for _ in range(6):
        target = await harness.app.repos.deposits.target(chat.chat_id)
        assert target is not None and target.next_poll_at is not None
        waits.append(target.next_poll_at - harness.clock.now())
        harness.clock.advance(target.next_poll_at - harness.clock.now() - SECOND)
        before = requests(harness, TX)
        assert await job(harness).run() == 0
        assert requests(harness, TX) == before  # a second early: nothing
        harness.clock.advance(SECOND)
        assert await job(harness).run() == 0
        assert requests(harness, TX) == before + 1
    seconds = [round(w.total_seconds()) for w in waits]
    assert seconds == [30, 60, 120, 240, 480, 600]  # capped at ORDER_SYNC_INTERVAL

    state.clear_faults()
    credit(harness, account, "12.00", "BTC")
    target = await harness.app.repos.deposits.target(chat.chat_id)
    assert target is not None and target.next_poll_at is not None
    harness.clock.advance(target.next_poll_at - harness.clock.now())
    assert await job(harness).run() == 1
    await announced(chat, 1)
    target = await harness.app.repos.deposits.target(chat.chat_id)
    assert target is not None and target.failures == 0
