"""The paid-action runner end to end: the holes it closes, over the fake Bot API and the sandbox.

Each test makes one thing go wrong at the worst moment — Telegram failing while the order
is being placed, two confirmations racing, a stop between claim and send, an answer lost
for days — and checks the money (orders and transactions in the sandbox) and what the
user is told.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage.operations import DONE, PENDING, UNKNOWN
from tests.e2e import (
    ORDERS,
    QUOTE,
    RECEIPT,
    TIMEOUT,
    UNRESOLVED,
    buyer,
    confirm_data,
    final,
    ipv4_quote,
    lose_order_answers,
    op_id_of,
    operation,
    order_requests,
    orders_of,
    restore_transport,
    say,
    tap,
    transactions_of,
    until,
)

NOT_PLACED = "was not placed"


async def settled_status(harness, op_id: str) -> str:
    """The operation's status once it left in_flight (the handler has finished)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (status := (await operation(harness, op_id)).status) == "in_flight":
        assert loop.time() < deadline, "the paid action never settled"
        await asyncio.sleep(0.01)
    return status


async def test_telegram_failing_on_the_placing_screen_leaves_the_order_alone(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "2")
    op_id = op_id_of(quote)
    # The "placing…" edit and its fallback message both fail.
    harness.tg.fail_next("editMessageText", error_code=500)
    harness.tg.fail_next("sendMessage", error_code=500)
    await chat.click(quote, "Confirm")
    receipt = await chat.wait_for_message(final(RECEIPT), timeout=TIMEOUT)

    (order,) = orders_of(harness, account)
    assert order.id in receipt.text
    assert (await operation(harness, op_id)).status == DONE
    assert order_requests(harness) == 1
    await say(chat, "/buy", expect="Which proxies")  # nothing is left unresolved


async def test_telegram_refusing_the_placing_screen_forever_still_places_once(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "2")
    # Telegram throttles this chat far past any wait: no screen reaches it for a while.
    harness.tg.fail_next("editMessageText", times=2, error_code=429, retry_after=120)
    harness.tg.fail_next("sendMessage", times=2, error_code=429, retry_after=120)
    await chat.click(quote, "Confirm")
    await until(lambda: len(orders_of(harness, account)) == 1, what="the order")
    await until(lambda: order_requests(harness) == 1, what="one request")
    await harness.tg.wait_consumed(timeout=TIMEOUT)
    status = await settled_status(harness, op_id_of(quote))
    assert status == DONE, "a Telegram error never changes a paid action's state"
    # The receipt is behind the same button: a later tap shows it, buys nothing.
    handle = await chat.click_forged(confirm_data(quote), message=quote)
    await chat.wait_for_message(final(RECEIPT), timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    assert order_requests(harness) == 1 and len(orders_of(harness, account)) == 1


async def test_two_quotes_of_one_chat_confirmed_together_buy_once(harness):
    chat, account = await buyer(harness)
    first = await ipv4_quote(chat, "2")
    second = await ipv4_quote(chat, "3")  # a new /buy: both quotes are still pending
    assert (await operation(harness, op_id_of(first))).status == PENDING
    held = harness.sandbox.state.add_fault(ORDERS, "hold")

    # The second /buy took the buttons off the first quote; a client that still shows
    # them (or a removal Telegram refused) can tap it all the same.
    one = await chat.click_forged(confirm_data(first), message=first)
    await until(lambda: held.taken == 1, what="the first order at the provider")
    other = await chat.click(second, "Confirm")
    answer = await other.wait_answer(timeout=TIMEOUT)
    assert "Already processing" in (answer.text or "")
    assert order_requests(harness) == 1

    held.release()
    await one.wait_answer(timeout=TIMEOUT)
    await chat.wait_until(lambda c: RECEIPT in c.message(first.message_id).text,
                          timeout=TIMEOUT, what="the first receipt")
    assert len(orders_of(harness, account)) == 1
    assert len(transactions_of(harness, account, "purchase")) == 1
    # The second quote stays a quote: confirming it now is a new, deliberate order.
    assert (await operation(harness, op_id_of(second))).status == PENDING


async def test_a_stop_between_claim_and_send_is_not_unknown(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "2")
    op_id = op_id_of(quote)
    # Another process claimed it and died before the request left (no sent_at).
    await harness.app.repos.operations.claim(op_id, "a-dead-process", message_id=quote.message_id)
    await harness.restart(kill=True)
    await harness.app.background.wait()

    assert (await operation(harness, op_id)).status == PENDING
    told = chat.message(quote.message_id)
    assert NOT_PLACED in told.text and "nothing was charged" in told.text
    assert order_requests(harness) == 0
    await tap(chat, told, "Try again", expect=RECEIPT)
    assert len(orders_of(harness, account)) == 1 and order_requests(harness) == 1


async def test_an_old_unresolved_order_is_found_not_resent(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")
    op_id = op_id_of(quote)
    lossy = lose_order_answers(harness)  # placed and charged; the answer never comes
    message = await tap(chat, quote, "Confirm", expect=UNRESOLVED)
    restore_transport(harness, lossy)
    (placed,) = orders_of(harness, account)
    sent = order_requests(harness)  # the client's own retries with the same key count too

    # Days later the provider may have forgotten the key: a resend could buy again.
    harness.clock.advance(timedelta(days=2))
    receipt = await tap(chat, message, "Check status", expect=RECEIPT)
    assert placed.id in receipt.text
    assert order_requests(harness) == sent, "found in GET /orders, never sent again"
    assert (await operation(harness, op_id)).status == DONE
    assert len(transactions_of(harness, account, "purchase")) == 1


async def test_an_old_unresolved_order_with_no_trace_is_released_with_proof(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")
    op_id = op_id_of(quote)
    lossy = lose_order_answers(harness, deliver=False)  # it never reached the provider
    message = await tap(chat, quote, "Confirm", expect=UNRESOLVED)
    restore_transport(harness, lossy)
    assert (await operation(harness, op_id)).status == UNKNOWN

    harness.clock.advance(timedelta(days=2))
    released = await tap(chat, message, "Check status", expect=NOT_PLACED)
    assert "nothing was charged" in released.text
    assert (await operation(harness, op_id)).status == PENDING
    assert order_requests(harness) == 0 and not orders_of(harness, account)
    # Trying again prices it anew first: nothing is bought at a two-day-old price.
    fresh = await tap(chat, released, "Try again", expect="too old")
    assert QUOTE in fresh.text
    assert order_requests(harness) == 0


async def test_an_old_unresolved_order_stays_unresolved_without_proof(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")
    lossy = lose_order_answers(harness, deliver=False)
    message = await tap(chat, quote, "Confirm", expect=UNRESOLVED)
    restore_transport(harness, lossy)
    # Meanwhile money left the account for something the bot cannot match to this order.
    await harness.sandbox.state.create_order(
        account, {"type": "isp", "countryId": 1, "periodId": 2, "quantity": 1}
    )
    harness.clock.advance(timedelta(days=2))
    shown = await tap(chat, message, "Check status", expect="still cannot tell")
    assert "Check status" in " ".join(shown.button_texts)
    assert (await operation(harness, op_id_of(quote))).status == UNKNOWN
    assert order_requests(harness) == 0


async def test_periodic_check_runs_alongside_taps_without_double_sends(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "2")
    lossy = lose_order_answers(harness)
    message = await tap(chat, quote, "Confirm", expect=UNRESOLVED)
    restore_transport(harness, lossy)
    sent = order_requests(harness)
    # A tap and the background check race for the same unresolved order.
    tap_task = asyncio.create_task(tap(chat, message, "Check status", expect=RECEIPT))
    await harness.app.paid_notices.check_unresolved()
    await tap_task
    assert len(orders_of(harness, account)) == 1
    assert len(transactions_of(harness, account, "purchase")) == 1
    assert order_requests(harness) == sent + 1  # one resend: the claim lets one of them send
