"""Confirming a purchase: one order and one debit whatever is tapped, and failures explained."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal

import pytest

from services.errors import AlreadyProcessing
from services.purchase import Receipt
from services.purchase.checkout import CheckoutService
from storage.operations import DONE, FAILED, PENDING, UNKNOWN
from tests.e2e import (
    ORDERS,
    PLACING,
    QUANTITY,
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


def checkout(harness) -> CheckoutService:
    return harness.app.dispatcher["checkout"]


async def receipt_without_a_tap(chat, quote):
    """The receipt, edited into the message the Confirm was tapped on, with no tap."""
    return await chat.wait_until(
        lambda c: RECEIPT in c.message(quote.message_id).text and c.message(quote.message_id),
        timeout=TIMEOUT, what="the receipt after the restart",
    )


async def recovered(harness) -> None:
    """Until start-up recovery (a background task of the new process) has finished."""
    await harness.app.background.wait()


async def test_double_tap_on_confirm_buys_once(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")  # 5 × $2.40
    # Both taps reach the bot before it has handled either (nothing yields in between).
    first = await chat.click(quote, "Confirm")
    second = await chat.click(quote, "Confirm")
    await first.wait_answer(timeout=TIMEOUT)
    await second.wait_answer(timeout=TIMEOUT)
    await chat.wait_until(lambda c: RECEIPT in c.message(quote.message_id).text,
                          timeout=TIMEOUT, what="the receipt")

    (order,) = orders_of(harness, account)
    assert len(transactions_of(harness, account, "purchase")) == 1
    assert account.balance == Decimal("88.00")
    assert order_requests(harness) == 1, "the second tap found the receipt, sent nothing"
    assert order.id in chat.message(quote.message_id).text


async def test_tap_while_in_flight_is_already_processing(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "2")
    op_id = op_id_of(quote)
    service = checkout(harness)
    # Holds the first confirmation at the provider while the others arrive.
    held = harness.sandbox.state.add_fault(ORDERS, "hold")

    ticket = await service.begin(chat.chat_id, chat.user.user_id, op_id)
    first = asyncio.create_task(service.place(ticket))
    await until(lambda: held.taken == 1, what="the order request in flight")
    assert (await operation(harness, op_id)).status == "in_flight"
    with pytest.raises(AlreadyProcessing):
        await service.begin(chat.chat_id, chat.user.user_id, op_id)
    # The same through the button: a short answer, the message left as it is.
    answer = await chat.click(quote, "Confirm")
    assert "Already processing" in ((await answer.wait_answer(timeout=TIMEOUT)).text or "")
    assert chat.message(quote.message_id).text == quote.text
    assert order_requests(harness) == 1 and not first.done()

    held.release()
    receipt = await first
    assert isinstance(receipt, Receipt)
    assert order_requests(harness) == 1

    # The Confirm button now shows that receipt and buys nothing more.
    shown = await tap(chat, quote, "Confirm", expect=RECEIPT)
    assert receipt.order_id in shown.text
    assert order_requests(harness) == 1 and len(orders_of(harness, account)) == 1


async def test_second_tap_of_the_same_user_in_flight_is_answered_at_once(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "2")
    held = harness.sandbox.state.add_fault(ORDERS, "hold")
    first = await chat.click(quote, "Confirm")
    await first.wait_answer(timeout=TIMEOUT)
    await until(lambda: held.taken == 1, what="the order request in flight")
    # The same person taps again (the button now reads "Check status", same callback)
    # while the first request is still at the provider.
    second = await chat.click(quote, "Check status")
    answer = await second.wait_answer(timeout=TIMEOUT)
    assert "Already processing" in (answer.text or "")
    assert order_requests(harness) == 1 and not orders_of(harness, account)
    held.release()
    await chat.wait_until(lambda c: RECEIPT in c.message(quote.message_id).text,
                          timeout=TIMEOUT, what="the receipt")
    assert len(orders_of(harness, account)) == 1 and order_requests(harness) == 1


async def test_kill_between_tap_and_answer_finishes_the_order_on_restart(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")
    op_id = op_id_of(quote)
    held = harness.sandbox.state.add_fault(ORDERS, "hold")

    handle = await chat.click(quote, "Confirm")
    await chat.wait_for_message(final("Placing your order"), timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    await until(lambda: held.taken == 1, what="the order request at the provider")

    await harness.restart(kill=True)  # the bot dies before the provider answers

    # No tap: start-up resends the same key and edits "Placing…" into the receipt.
    receipt = await receipt_without_a_tap(chat, quote)
    # The dead bot's request is dropped when the provider gets to it: nothing is charged.
    held.release()
    await until(lambda: held.dropped == 1, what="the dead request to be dropped")
    (order,) = orders_of(harness, account)
    assert order.id in receipt.text
    assert order_requests(harness) == 2, "resent once, with the same Idempotency-Key"
    assert op_id in account.idempotency
    assert len(transactions_of(harness, account, "purchase")) == 1
    assert account.balance == Decimal("88.00")
    assert await harness.app.repos.orders.get(chat.chat_id, order.id) is not None
    assert (await operation(harness, op_id)).status == DONE


async def test_kill_after_the_provider_placed_the_order_shows_it_on_restart(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")
    op_id = op_id_of(quote)
    # The order goes through; its answer is held, and the bot dies before it hears it.
    held = harness.sandbox.state.add_fault(ORDERS, "hold_answer")
    handle = await chat.click(quote, "Confirm")
    await handle.wait_answer(timeout=TIMEOUT)
    await until(lambda: len(orders_of(harness, account)) == 1, what="the order placed")
    await harness.restart(kill=True)
    held.release()
    await until(lambda: held.dropped == 1, what="the dead order's answer to be dropped")

    receipt = await receipt_without_a_tap(chat, quote)
    await recovered(harness)
    assert (await operation(harness, op_id)).status == DONE
    (order,) = orders_of(harness, account)
    assert order.id in receipt.text
    assert order_requests(harness) == 2, "resent with the same key: the provider replayed it"
    assert len(transactions_of(harness, account, "purchase")) == 1
    local = await harness.app.repos.orders.get(chat.chat_id, order.id)
    assert local is not None and local.quantity == 5


async def test_confirm_after_the_receipt_shows_it_again(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "1")
    data = confirm_data(quote)
    receipt = await tap(chat, quote, "Confirm", expect=RECEIPT)
    await harness.restart()
    # An old copy of the Confirm button (say, tapped from another device) after a restart.
    handle = await chat.click_forged(data, message=receipt)
    await handle.wait_answer(timeout=TIMEOUT)
    assert chat.message(receipt.message_id).text == receipt.text
    assert order_requests(harness) == 1 and len(orders_of(harness, account)) == 1


async def test_changing_the_selection_makes_a_new_key(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")
    old = confirm_data(quote)
    message = await tap(chat, quote, "Back", expect=QUANTITY)
    message = await say(chat, "6", expect=QUOTE)
    assert confirm_data(message) != old
    assert (await operation(harness, old.removeprefix("bc:"))).status == FAILED

    receipt = await tap(chat, message, "Confirm", expect=RECEIPT)
    # The replaced quote's Confirm (an old copy of the message) buys nothing.
    handle = await chat.click_forged(old, message=receipt)
    await chat.wait_for_message(final("out of date"), timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    (order,) = orders_of(harness, account)
    assert order.quantity == 6 and order_requests(harness) == 1


async def test_confirm_from_another_chat_is_refused(harness):
    owner, owner_account = await buyer(harness)
    quote = await ipv4_quote(owner, "1")
    stranger, stranger_account = await buyer(harness)
    last = stranger.last_bot_message()
    handle = await stranger.click_forged(confirm_data(quote), message=last)
    await stranger.wait_for_message(final("out of date"), timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    assert order_requests(harness) == 0
    assert not orders_of(harness, owner_account) and not orders_of(harness, stranger_account)


async def test_insufficient_funds_offers_top_up_then_retries_the_same_key(harness):
    chat, account = await buyer(harness, Decimal("5.00"))
    quote = await ipv4_quote(chat, "10")  # $24.00
    assert "Not enough balance: top up at least $19.00" in quote.text
    assert "➕ Top up" in quote.button_texts
    op_id = op_id_of(quote)

    message = await tap(chat, quote, "Confirm", expect="This order costs")
    assert "This order costs: $24.00" in message.text
    assert "Your balance: $5.00" in message.text
    assert "Top up at least $19.00" in message.text and "Nothing was charged" in message.text
    assert message.button("Top up").callback_data == f"tu:t:o:{op_id}"  # back here after
    assert not orders_of(harness, account) and not transactions_of(harness, account, "purchase")
    assert (await operation(harness, op_id)).status == PENDING

    back = await tap(chat, message, "Back", expect=QUOTE)
    assert op_id_of(back) == op_id
    message = await tap(chat, back, "Confirm", expect="This order costs")

    harness.sandbox.state.credit_deposit(account.id, "20.00", "USDT_TRC20")
    receipt = await tap(chat, message, "Try again", expect=RECEIPT)
    (order,) = orders_of(harness, account)
    assert order.id in receipt.text and "Charged: <b>$24.00</b>" in receipt.html
    assert "balance" not in receipt.text.lower(), "no balance after: what was charged"
    assert op_id in account.idempotency, "the retry reused the quote's key"


async def test_short_balance_unknown_at_the_quote_is_refused_by_the_order(harness):
    chat, account = await buyer(harness, Decimal("5.00"))
    harness.clock.advance(timedelta(minutes=2))  # no balance read within a minute
    before = dict(harness.sandbox.state.request_counts)
    quote = await ipv4_quote(chat, "10")  # $24.00
    assert harness.sandbox.state.request_counts.get("GET /account", 0) == before.get(
        "GET /account", 0), "a quote reads no balance"
    assert "Balance" not in quote.text and "➕ Top up" not in quote.button_texts
    op_id = op_id_of(quote)

    message = await tap(chat, quote, "Confirm", expect="This order costs")
    # What the API proved (402 details), nothing charged, the top-up one tap away.
    assert "This order costs: $24.00" in message.text
    assert "Your balance: $5.00" in message.text and "Nothing was charged" in message.text
    assert message.button("Top up").callback_data == f"tu:t:o:{op_id}"
    assert not orders_of(harness, account) and account.balance == Decimal("5.00")
    assert (await operation(harness, op_id)).status == PENDING


async def test_upstream_error_is_refunded_and_a_retry_is_a_new_quote(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")  # $12.00
    old = confirm_data(quote)
    harness.sandbox.state.add_fault(ORDERS, "upstream_error")

    message = await tap(chat, quote, "Confirm", expect="failed at the proxy provider")
    assert "refunded" in message.text
    assert not orders_of(harness, account)
    assert [t.type for t in transactions_of(harness, account)] == ["refund", "purchase"]
    assert account.balance == Decimal("100.00")
    assert (await operation(harness, old.removeprefix("bc:"))).status == FAILED

    # The failed quote's Confirm explains again and sends nothing.
    handle = await chat.click_forged(old, message=message)
    await handle.wait_answer(timeout=TIMEOUT)
    assert "failed at the proxy provider" in chat.message(message.message_id).text
    assert order_requests(harness) == 1

    retry = await tap(chat, message, "Try again", expect=QUOTE)
    assert confirm_data(retry) != old
    receipt = await tap(chat, retry, "Confirm", expect=RECEIPT)
    (order,) = orders_of(harness, account)
    assert order.id in receipt.text and account.balance == Decimal("88.00")


async def test_rate_limited_keeps_the_quote_to_retry(harness):
    chat, account = await buyer(harness)
    state = harness.sandbox.state
    state.configure_rate_limits(orders=1)
    await tap(chat, await ipv4_quote(chat, "1"), "Confirm", expect=RECEIPT)

    quote = await ipv4_quote(chat, "2")
    message = await tap(chat, quote, "Confirm", expect="Too many requests")
    assert QUOTE in message.text and confirm_data(message) == confirm_data(quote)
    assert len(orders_of(harness, account)) == 1
    assert (await operation(harness, op_id_of(quote))).status == PENDING

    state.configure_rate_limits(orders=10)
    receipt = await tap(chat, message, "Confirm", expect=RECEIPT)
    assert len(orders_of(harness, account)) == 2
    assert orders_of(harness, account)[0].id in receipt.text


async def test_api_failing_leaves_the_order_unresolved_and_check_status_buys_once(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "3")
    # Every attempt of the client's retry loop fails.
    harness.sandbox.state.add_fault(ORDERS, "server_error", times=3)
    message = await tap(chat, quote, "Confirm", expect=UNRESOLVED)
    assert "not answering" in message.text and QUOTE not in message.text
    assert confirm_data(message) == confirm_data(quote)
    assert (await operation(harness, op_id_of(quote))).status == UNKNOWN
    assert not orders_of(harness, account)

    receipt = await tap(chat, message, "Check status", expect=RECEIPT)
    (order,) = orders_of(harness, account)
    assert order.id in receipt.text
    assert len(transactions_of(harness, account, "purchase")) == 1


async def test_an_old_quote_is_priced_again_before_buying(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "2")
    harness.clock.advance(timedelta(hours=1))
    message = await tap(chat, quote, "Confirm", expect="too old")
    assert QUOTE in message.text and confirm_data(message) != confirm_data(quote)
    assert (await operation(harness, op_id_of(quote))).status == FAILED
    assert not orders_of(harness, account) and order_requests(harness) == 0

    await tap(chat, message, "Confirm", expect=RECEIPT)
    assert len(orders_of(harness, account)) == 1


# -- an order whose answer was lost ---------------------------------------------------------


async def operations_of(harness, chat) -> int:
    row = await harness.app.db.fetchone(
        "SELECT COUNT(*) FROM operations WHERE chat_id = ?", (chat.chat_id,)
    )
    return row[0]


def assert_unresolved_screen(message, op_id: str) -> None:
    assert UNRESOLVED in message.text and QUOTE not in message.text
    assert confirm_data(message) == f"bc:{op_id}"
    assert message.button("Check status").callback_data == f"bc:{op_id}"
    assert message.button("My orders").callback_data == "m:orders"
    assert message.button("Menu").callback_data == "m:home"
    texts = " ".join(message.button_texts)
    for leading_to_a_new_key in ("Confirm", "Back", "coupon", "Try again"):
        assert leading_to_a_new_key not in texts


async def test_lost_answer_blocks_a_second_order_until_check_status(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")
    op_id = op_id_of(quote)
    lossy = lose_order_answers(harness)

    message = await tap(chat, quote, "Confirm", expect=UNRESOLVED)
    assert "not answering" in message.text
    assert "Quantity: 5" in message.text and "Total: $12.00" in message.text
    assert_unresolved_screen(message, op_id)
    assert lossy.lost >= 1 and order_requests(harness) == lossy.lost
    assert (await operation(harness, op_id)).status == UNKNOWN
    (placed,) = orders_of(harness, account)  # the provider did place and charge it

    # Neither /buy nor the menu's Buy makes a new quote (and key) meanwhile.
    again = await say(chat, "/buy", expect=UNRESOLVED)
    assert_unresolved_screen(again, op_id)
    menu = await tap(chat, again, "Menu", expect="Balance:")
    again = await tap(chat, menu, "Buy proxies", expect=UNRESOLVED)
    assert_unresolved_screen(again, op_id)
    assert await operations_of(harness, chat) == 1

    restore_transport(harness, lossy)
    receipt = await tap(chat, again, "Check status", expect=RECEIPT)
    assert placed.id in receipt.text
    assert orders_of(harness, account) == [placed]
    assert len(transactions_of(harness, account, "purchase")) == 1
    assert account.balance == Decimal("88.00")
    assert (await operation(harness, op_id)).status == DONE
    assert await harness.app.repos.orders.get(chat.chat_id, placed.id) is not None

    # Settled: buying works again.
    await say(chat, "/buy", expect="Which proxies")


async def placed_then_killed(harness, chat, account, quote, refuse):
    """Confirm; the provider places the order; the bot dies before it hears so, and comes
    back while the API refuses the key (``refuse()``): start-up's resend proves nothing,
    so the order stays unresolved and the placing screen now says so."""
    held = harness.sandbox.state.add_fault(ORDERS, "hold_answer")
    handle = await chat.click(quote, "Confirm")
    placing = await chat.wait_for_message(final(PLACING), timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    await until(lambda: len(orders_of(harness, account)) == 1, what="the order placed")
    refuse()
    await harness.restart(kill=True)
    held.release()
    await until(lambda: held.dropped == 1, what="the dead order's answer to be dropped")
    await recovered(harness)
    assert (await operation(harness, op_id_of(quote))).status == UNKNOWN
    shown = chat.message(placing.message_id)
    assert UNRESOLVED in shown.text, shown.text
    return shown


async def test_placing_screen_offers_check_status_and_the_menu(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "1")
    held = harness.sandbox.state.add_fault(ORDERS, "hold")
    handle = await chat.click(quote, "Confirm")
    placing = await chat.wait_for_message(final(PLACING), timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    assert placing.button("Check status").callback_data == confirm_data(quote)
    assert placing.button("Menu").callback_data == "m:home"
    held.release()
    await chat.wait_until(lambda c: RECEIPT in c.message(quote.message_id).text,
                          timeout=TIMEOUT, what="the receipt")
    assert len(orders_of(harness, account)) == 1


async def test_back_and_a_new_quantity_after_a_kill_make_no_second_order(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")
    op_id = op_id_of(quote)
    back = quote.button("Back").callback_data
    state = harness.sandbox.state
    placing = await placed_then_killed(
        harness, chat, account, quote, lambda: state.update_account(account.id, banned=True)
    )
    state.update_account(account.id, banned=False)
    (placed,) = orders_of(harness, account)

    # The wizard survived the crash at the quote: an old Back still leads to the quantity,
    # but a new quantity is not priced while the first order is unresolved.
    handle = await chat.click_forged(back, message=placing)
    await chat.wait_for_message(final("How many proxies"), timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    message = await say(chat, "4", expect=UNRESOLVED)
    assert_unresolved_screen(message, op_id)
    assert "Quantity: 5" in message.text
    assert await operations_of(harness, chat) == 1
    assert (await operation(harness, op_id)).status == UNKNOWN

    receipt = await tap(chat, message, "Check status", expect=RECEIPT)
    assert placed.id in receipt.text
    assert orders_of(harness, account) == [placed]
    assert len(transactions_of(harness, account, "purchase")) == 1


@pytest.mark.parametrize("refusal", ["rate_limited", "banned"])
async def test_a_refused_resend_keeps_the_order_unresolved(harness, refusal):
    chat, account = await buyer(harness)
    state = harness.sandbox.state
    if refusal == "rate_limited":
        state.configure_rate_limits(orders=1)  # the first order takes the only token
    quote = await ipv4_quote(chat, "5")
    op_id = op_id_of(quote)

    def refuse() -> None:
        if refusal == "banned":
            state.update_account(account.id, banned=True)

    placing = await placed_then_killed(harness, chat, account, quote, refuse)
    (placed,) = orders_of(harness, account)

    # 429 and 401/403 come before the server looks at the Idempotency-Key: they say
    # nothing about the first attempt, so the order stays unresolved.
    message = await tap(chat, placing, "Check status", expect=UNRESOLVED)
    if refusal == "rate_limited":
        assert "Too many requests" in message.text and "try again in" in message.text
    else:
        assert "banned" in message.text
    assert_unresolved_screen(message, op_id)
    assert (await operation(harness, op_id)).status == UNKNOWN
    again = await say(chat, "/buy", expect=UNRESOLVED)
    assert await operations_of(harness, chat) == 1

    if refusal == "rate_limited":
        state.configure_rate_limits(orders=10)  # buckets restart full
    else:
        state.update_account(account.id, banned=False)
    receipt = await tap(chat, again, "Check status", expect=RECEIPT)
    assert placed.id in receipt.text
    assert orders_of(harness, account) == [placed]
    assert len(transactions_of(harness, account, "purchase")) == 1
    assert (await operation(harness, op_id)).status == DONE


async def test_insufficient_funds_on_a_resend_proves_nothing_was_placed(harness):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "5")
    op_id = op_id_of(quote)
    lossy = lose_order_answers(harness, deliver=False)  # lost before the server saw it
    message = await tap(chat, quote, "Confirm", expect=UNRESOLVED)
    assert (await operation(harness, op_id)).status == UNKNOWN
    assert not orders_of(harness, account) and order_requests(harness) == 0

    restore_transport(harness, lossy)
    harness.sandbox.state.update_account(account.id, balance="1.00")
    # A key the server had seen would get its first answer replayed, not a 402.
    message = await tap(chat, message, "Check status", expect="This order costs")
    assert "Nothing was charged" in message.text
    assert (await operation(harness, op_id)).status == PENDING
    assert not orders_of(harness, account)
    await say(chat, "/buy", expect="Which proxies")  # nothing blocks a new order


async def test_order_placed_during_a_logout_still_shows_the_receipt(harness, caplog):
    chat, account = await buyer(harness)
    quote = await ipv4_quote(chat, "2")
    held = harness.sandbox.state.add_fault(ORDERS, "hold_answer")
    handle = await chat.click(quote, "Confirm")
    await handle.wait_answer(timeout=TIMEOUT)
    await until(lambda: len(orders_of(harness, account)) == 1, what="the order placed")
    # The chat's row goes (a logout on another device) while the order's answer is on its way.
    await harness.app.repos.chats.forget(chat.chat_id)
    with caplog.at_level(logging.WARNING, logger="services.purchase.checkout"):
        held.release()
        receipt = await chat.wait_for_message(final(RECEIPT), timeout=TIMEOUT)
    (order,) = orders_of(harness, account)
    assert order.id in receipt.text
    assert "local copy not saved" in caplog.text
    assert await harness.app.repos.orders.get(chat.chat_id, order.id) is None


async def test_a_quote_never_buys_on_an_account_linked_after_it(harness):
    chat, first = await buyer(harness)
    quote = await ipv4_quote(chat, "2")
    op_id = op_id_of(quote)
    second = harness.new_account(Decimal("50.00"))
    await chat.send(second.api_key)  # relinks the chat to another account
    await chat.wait_for_message(final("$50.00"), timeout=TIMEOUT)
    await chat.click(quote, "Confirm")
    await chat.wait_for_message(final("out of date"), timeout=TIMEOUT)
    assert order_requests(harness) == 0
    assert not orders_of(harness, first) and not orders_of(harness, second)
    assert (await operation(harness, op_id)).status == FAILED
