"""Extending an order end to end: price, charge, new expiry, failures, and exactly-once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.e2e import DETAILS, TIMEOUT, until
from tests.fake_telegram.client import ChatHandle, TgMessage

EXTEND = "POST /orders/{id}/extend"
ORDER = DETAILS


async def buy(harness, account, quantity: int = 3) -> str:
    body = {"type": "ipv4", "countryId": 1, "periodId": 2, "quantity": quantity}
    return (await harness.sandbox.state.create_order(account, body)).order_id


def extensions(harness, account, kind: str = "purchase") -> list:
    return [
        t for t in harness.sandbox.state.transactions_of(account.id)
        if t.type == kind and "xtension" in t.description
    ]


def extend_requests(harness) -> int:
    return harness.sandbox.state.request_counts.get(EXTEND, 0)


async def quote(chat: ChatHandle, order_id: str, period: str = "1 month") -> TgMessage:
    """/orders → the order → Extend → period: the confirmation screen."""
    await chat.send("/orders")
    listing = await chat.wait_for_message("Your orders", timeout=TIMEOUT)
    await chat.click(listing, data=f"o:view:{order_id}")
    details = await chat.wait_for_message("Status:", timeout=TIMEOUT)
    await chat.click(details, "⏳ Extend")
    menu = await chat.wait_for_message("Choose how long", timeout=TIMEOUT)
    await chat.click(menu, period)
    return await chat.wait_for_message("Extend order", timeout=TIMEOUT)


async def test_extend_shows_estimate_then_exact_charge_and_new_expiry(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    order = harness.sandbox.state.get_order(order_id)
    old_expiry = order.expires_at

    confirm = await quote(chat, order_id)
    # 3 IPs × $2.40 for a month: the API's price for the same again (POST /orders/calc).
    assert "Price: $7.20" in confirm.text and "≈" not in confirm.text
    assert {"✅ Confirm and pay", "⬅️ Back", "✖️ Cancel"} <= set(confirm.button_texts)
    assert extend_requests(harness) == 0

    await chat.click(confirm, "✅ Confirm and pay")
    done = await chat.wait_for_message("Extended", timeout=TIMEOUT)
    new_expiry = old_expiry + timedelta(days=30)
    assert order.expires_at == new_expiry
    assert "Charged: $7.20" in done.text
    assert f"New expiry: {new_expiry:%Y-%m-%d %H:%M} UTC (in 60 days)" in done.text
    assert {"📦 Order", "🏠 Menu"} <= set(done.button_texts)
    assert account.balance == Decimal("100.00") - Decimal("7.20") * 2
    assert [t.amount for t in extensions(harness, account)] == [Decimal("-7.20")]
    local = await harness.app.repos.orders.get(chat.chat_id, order_id)
    assert local is not None  # the wire carries milliseconds
    assert local.expires_at == new_expiry.replace(microsecond=new_expiry.microsecond // 1000 * 1000)


async def test_insufficient_funds_offers_top_up_and_retry_works_after_it(harness) -> None:
    chat, account = await harness.linked_chat(balance=Decimal("10.00"))
    order_id = await buy(harness, account)  # leaves $2.80
    confirm = await quote(chat, order_id)
    await chat.click(confirm, "✅ Confirm and pay")
    refused = await chat.wait_for_message("Not enough balance", timeout=TIMEOUT)
    assert "this costs $7.20, you have $2.80" in refused.text
    assert "The order was not extended." in refused.text
    assert refused.button("➕ Top up").callback_data.startswith("tu:t:e:")  # back here after
    assert account.balance == Decimal("2.80") and not extensions(harness, account)

    harness.sandbox.state.credit_deposit(account.id, "20.00", "USDT_TRC20")
    await chat.click(refused, "🔁 Try again")
    await chat.wait_for_message("Extended", timeout=TIMEOUT)
    assert account.balance == Decimal("15.60")
    assert len(extensions(harness, account)) == 1


async def test_not_provisioned_says_it_is_still_being_set_up(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    confirm = await quote(chat, order_id)
    harness.sandbox.state.set_order(order_id, status="pending")
    await chat.click(confirm, "✅ Confirm and pay")
    reply = await chat.wait_for_message("still being set up", timeout=TIMEOUT)
    assert extend_requests(harness) == 1  # the provider's own 409 answered it
    assert "The order was not extended." in reply.text
    assert not extensions(harness, account)


async def test_upstream_failure_is_refunded_and_retry_charges_once(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    expiry = harness.sandbox.state.get_order(order_id).expires_at
    harness.sandbox.state.add_fault(EXTEND, "upstream_error")
    confirm = await quote(chat, order_id)
    await chat.click(confirm, "✅ Confirm and pay")
    failed = await chat.wait_for_message("refunded", timeout=TIMEOUT)
    assert "The order was not extended." in failed.text
    assert account.balance == Decimal("92.80")
    assert len(extensions(harness, account, "refund")) == 1
    assert harness.sandbox.state.get_order(order_id).expires_at == expiry

    await chat.click(failed, "🔁 Try again")
    await chat.wait_for_message("Extended", timeout=TIMEOUT)
    assert account.balance == Decimal("85.60")
    assert harness.sandbox.state.get_order(order_id).expires_at == expiry + timedelta(days=30)


async def test_double_tap_on_confirm_extends_once_and_a_late_tap_shows_the_receipt(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    confirm = await quote(chat, order_id)
    data = confirm.button("✅ Confirm and pay").callback_data
    assert data is not None
    first = await chat.click(confirm, "✅ Confirm and pay")
    second = await chat.click_forged(data, message=confirm)  # the same button, tapped again
    await first.wait_answer()
    await second.wait_answer()
    await chat.wait_until(lambda c: "Extended" in (c.message(confirm.message_id).text),
                          timeout=TIMEOUT, what="receipt")
    await harness.tg.wait_consumed(timeout=TIMEOUT)

    late = await chat.click_forged(data, message=confirm)
    await late.wait_answer()
    await chat.wait_until(lambda c: "Charged: $7.20" in c.message(confirm.message_id).text,
                          timeout=TIMEOUT, what="receipt shown again")
    assert extend_requests(harness) == 1
    assert len(extensions(harness, account)) == 1
    assert account.balance == Decimal("85.60")


async def test_a_confirmation_drawn_before_another_extend_is_not_sent(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    older = await quote(chat, order_id)
    newer = await quote(chat, order_id)
    await chat.click(newer, "✅ Confirm and pay")
    await chat.wait_for_message("Extended", timeout=TIMEOUT)

    await chat.click(older, "✅ Confirm and pay")
    fresh = await chat.wait_for_message("changed since that confirmation", timeout=TIMEOUT)
    assert extend_requests(harness) == 1
    assert "✅ Confirm and pay" in fresh.button_texts  # extending again is a new decision
    assert len(extensions(harness, account)) == 1


async def test_no_answer_stays_unclear_until_the_transactions_prove_no_charge(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    harness.sandbox.state.add_fault(EXTEND, "server_error")  # answered before any debit
    confirm = await quote(chat, order_id)
    await chat.click(confirm, "✅ Confirm and pay")
    unclear = await chat.wait_for_message("could not confirm whether", timeout=TIMEOUT)

    # An unchanged expiry and no debit yet prove nothing: the provider may still be at it.
    for minutes in (0, 2, 5):
        harness.clock.advance(timedelta(minutes=minutes))
        await chat.click(unclear, "🔄 Check")
        unclear = await chat.wait_for_message(
            lambda m: "still checking" in m.text and m.message_id == confirm.message_id,
            timeout=TIMEOUT,
        )
        assert "did not go through" not in unclear.text
        assert extend_requests(harness) == 1
    # The order's extend menu waits for this one to be settled.
    await open_extend_menu(chat, order_id, "still checking")
    assert extend_requests(harness) == 1

    # Past the settle time, no debit for the order in the transactions proves no charge.
    harness.clock.advance(timedelta(minutes=10))
    await chat.click(unclear, "🔄 Check")
    again = await chat.wait_for_message("nothing was charged", timeout=TIMEOUT)
    assert "did not go through" in again.text
    assert extend_requests(harness) == 1
    await chat.click(again, "✅ Confirm and pay")
    await chat.wait_for_message("Extended", timeout=TIMEOUT)
    assert extend_requests(harness) == 2
    assert len(extensions(harness, account)) == 1


async def test_an_extend_the_provider_finishes_late_is_charged_once(harness) -> None:
    """The provider completes the extend after the bot stopped waiting (the hole where a
    second POST used to go out after 60 s): the bot waits for proof and never resends."""
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    order = harness.sandbox.state.get_order(order_id)
    expiry = order.expires_at
    late = harness.sandbox.state.add_fault(EXTEND, "late")
    confirm = await quote(chat, order_id)
    await chat.click(confirm, "✅ Confirm and pay")
    unclear = await chat.wait_for_message("could not confirm whether", timeout=TIMEOUT)

    # Minutes pass with no sign of it: still checking, and every tap sends nothing.
    harness.clock.advance(timedelta(minutes=3))
    await chat.click(unclear, "🔄 Check")
    unclear = await chat.wait_for_message(
        lambda m: "still checking" in m.text and m.message_id == confirm.message_id,
        timeout=TIMEOUT,
    )
    assert extend_requests(harness) == 1 and not extensions(harness, account)

    late.release()  # the provider finally does it
    await harness.sandbox.state.wait_background()
    assert order.expires_at == expiry + timedelta(days=30)

    # The periodic check finds the proof and tells the user, with no tap.
    await harness.app.paid_notices.check_unresolved()
    done = await chat.wait_for_message("did go through", timeout=TIMEOUT)
    assert done.message_id == confirm.message_id
    assert "Charged: $7.20" in done.text or "/transactions" in done.text
    assert extend_requests(harness) == 1
    assert len(extensions(harness, account)) == 1
    assert account.balance == Decimal("85.60")


async def test_a_telegram_failure_before_sending_changes_nothing(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    confirm = await quote(chat, order_id)
    # The "working…" edit and everything after fail: Telegram is down for this chat.
    harness.tg.fail_next("editMessageText", times=1, error_code=500)
    await chat.click(confirm, "✅ Confirm and pay")
    await chat.wait_for_message("Extended", timeout=TIMEOUT)
    assert extend_requests(harness) == 1 and len(extensions(harness, account)) == 1


async def open_extend_menu(chat: ChatHandle, order_id: str, match: str) -> TgMessage:
    await chat.send("/orders")
    listing = await chat.wait_for_message("Your orders", timeout=TIMEOUT)
    await chat.click(listing, data=f"o:view:{order_id}")
    details = await chat.wait_for_message("Status:", timeout=TIMEOUT)
    await chat.click(details, "⏳ Extend")
    return await chat.wait_for_message(match, timeout=TIMEOUT)


async def test_crash_after_the_provider_extended_is_reported_not_repeated(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    order = harness.sandbox.state.get_order(order_id)
    expiry = order.expires_at
    confirm = await quote(chat, order_id)
    # The bot dies while re-reading the order after a successful extend, before it could
    # record the result: the read before the extend passes, the one after it is held.
    state = harness.sandbox.state
    state.add_fault(ORDER, "hold").release()
    held = state.add_fault(ORDER, "hold")
    await chat.click(confirm, "✅ Confirm and pay")
    await until(lambda: held.taken == 1, what="the re-read after the extend")
    assert extend_requests(harness) == 1
    await harness.restart(kill=True)
    assert order.expires_at == expiry + timedelta(days=30)
    held.release()  # the dead bot's read: dropped, nobody is waiting for it
    await until(lambda: held.dropped == 1, what="the dead read to be dropped")

    # Start-up settles the interrupted extend and says what happened, with no tap.
    await harness.app.background.wait()
    shown = chat.message(confirm.message_id)
    assert "interrupted extension" in shown.text and "did go through" in shown.text
    assert f"New expiry: {expiry + timedelta(days=30):%Y-%m-%d %H:%M}" in shown.text
    assert "Charged: $7.20" in shown.text  # found in the transactions
    await chat.send("/orders")
    listing = await chat.wait_for_message("Your orders", timeout=TIMEOUT)
    await chat.click(listing, data=f"o:view:{order_id}")
    details = await chat.wait_for_message("Status:", timeout=TIMEOUT)
    assert "interrupted" not in details.text  # reported once
    await chat.click(details, "⏳ Extend")
    menu = await chat.wait_for_message("Choose how long", timeout=TIMEOUT)
    assert "interrupted" not in menu.text  # reported once
    assert extend_requests(harness) == 1
    assert len(extensions(harness, account)) == 1


async def test_crash_before_the_provider_extended_is_offered_again_after_settling(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    order = harness.sandbox.state.get_order(order_id)
    expiry = order.expires_at
    confirm = await quote(chat, order_id)
    # The provider is slow; the bot dies while the extend request is still unanswered.
    held = harness.sandbox.state.add_fault(EXTEND, "hold")
    await chat.click(confirm, "✅ Confirm and pay")
    await until(lambda: held.taken == 1, what="the extend request at the provider")
    await harness.restart(kill=True)
    # The provider gets to it only now: the sandbox drops a request whose client went
    # away, so nothing is charged.
    held.release()
    await until(lambda: held.dropped == 1, what="the dead extend to be dropped")

    # Right after the restart an unchanged expiry and no debit prove nothing yet: the
    # confirmation says so by itself, and the order's extend menu waits for it.
    await harness.app.background.wait()
    assert "still checking" in chat.message(confirm.message_id).text
    await open_extend_menu(chat, order_id, "still checking")
    assert order.expires_at == expiry

    harness.clock.advance(timedelta(minutes=11))
    confirm = await quote(chat, order_id)
    assert "interrupted" not in confirm.text
    await chat.click(confirm, "✅ Confirm and pay")
    await chat.wait_for_message("Extended", timeout=TIMEOUT)
    assert order.expires_at == expiry + timedelta(days=30)
    assert extend_requests(harness) == 2
    assert len(extensions(harness, account)) == 1
    assert account.balance == Decimal("85.60")


async def test_someone_elses_confirmation_is_out_of_date_and_sends_nothing(harness) -> None:
    mine, _ = await harness.linked_chat()
    theirs, their_account = await harness.linked_chat()
    order_id = await buy(harness, their_account)
    their_confirm = await quote(theirs, order_id)
    data = their_confirm.button("✅ Confirm and pay").callback_data
    assert data is not None

    await mine.send("/orders")
    await mine.wait_for_message("Your orders", timeout=TIMEOUT)
    await mine.click_forged(data)
    stale = await mine.wait_for_message("out of date", timeout=TIMEOUT)
    handle = await mine.click_forged("oy:doesnotexist", message=stale)
    await handle.wait_answer(timeout=TIMEOUT)
    await harness.tg.wait_consumed(timeout=TIMEOUT)
    assert "out of date" in mine.message(stale.message_id).text
    assert extend_requests(harness) == 0
    assert not extensions(harness, their_account)


async def test_an_order_gone_before_confirm_is_not_found_and_nothing_is_charged(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    confirm = await quote(chat, order_id)
    # The order disappears from the account (moved, deleted on the website).
    harness.sandbox.state.orders.pop(order_id)
    await chat.click(confirm, "✅ Confirm and pay")
    await chat.wait_for_message("Not found", timeout=TIMEOUT)
    assert extend_requests(harness) == 0 and not extensions(harness, account)


async def test_cancel_on_an_extend_screen_returns_to_the_order(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)
    confirm = await quote(chat, order_id)
    handle = await chat.click(confirm, "✖️ Cancel")
    details = await chat.wait_for_message("Status:", timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    assert details.message_id == confirm.message_id and order_id in details.text
    await chat.click(details, "⏳ Extend")
    menu = await chat.wait_for_message("Choose how long", timeout=TIMEOUT)
    await chat.click(menu, "✖️ Cancel")
    await chat.wait_for_message(lambda m: "Status:" in m.text and m.message_id
                                == menu.message_id, timeout=TIMEOUT)
    assert extend_requests(harness) == 0


CALC = "POST /orders/calc"


def calcs(harness) -> int:
    return harness.sandbox.state.request_counts.get(CALC, 0)


async def test_the_periods_show_prices_with_one_calc_and_the_confirmation_none(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account)  # 3 IPs, bought for 1 month
    await chat.send("/orders")
    listing = await chat.wait_for_message("Your orders", timeout=TIMEOUT)
    await chat.click(listing, data=f"o:view:{order_id}")
    details = await chat.wait_for_message("Status:", timeout=TIMEOUT)
    before = calcs(harness)
    await chat.click(details, "⏳ Extend")
    menu = await chat.wait_for_message("Choose how long", timeout=TIMEOUT)
    assert calcs(harness) == before + 1
    # The order's own period is priced; the others wait until they are picked.
    assert "1 month · $7.20" in menu.button_texts and "1 week" in menu.button_texts
    await chat.click(menu, "1 month")
    confirm = await chat.wait_for_message("Extend order", timeout=TIMEOUT)
    assert "Price: $7.20" in confirm.text
    assert calcs(harness) == before + 1, "the price book had it"
    await chat.click(confirm, "⬅️ Back")
    await chat.wait_for_message(lambda m: "Choose how long" in m.text
                                and m.message_id == confirm.message_id, timeout=TIMEOUT)
    assert calcs(harness) == before + 1


async def test_a_mobile_extension_says_plainly_the_price_comes_at_confirmation(harness) -> None:
    chat, account = await harness.linked_chat(language_code="ru")
    body = {"type": "mobile", "countryId": 1, "periodId": 1, "quantity": 1,
            "mobileServiceType": "shared", "operatorId": 1, "rotationId": 1}
    order_id = (await harness.sandbox.state.create_order(account, body)).order_id
    before = calcs(harness)
    await chat.send("/orders")
    listing = await chat.wait_for_message("Ваши заказы", timeout=TIMEOUT)
    await chat.click(listing, data=f"o:view:{order_id}")
    details = await chat.wait_for_message("Статус:", timeout=TIMEOUT)
    assert "Услуга: Общий модем" in details.text, details.text
    await chat.click(details, data=f"o:ext:{order_id}")
    menu = await chat.wait_for_message("на какой срок продлить", timeout=TIMEOUT)
    await chat.click(menu, "1 неделя")
    confirm = await chat.wait_for_message("Продлить заказ", timeout=TIMEOUT)
    assert "не может заранее назвать цену продления мобильного" in confirm.text, confirm.text
    assert "$" not in confirm.text
    assert calcs(harness) == before, "nothing to price it with"
