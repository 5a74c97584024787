"""Reminders as the user gets them: the message, one-tap extend, mute, settings, restarts.

Orders are made in the sandbox (as on the website) and reach the bot through the order
sync; time moves with ``harness.clock``; the reminder job and the outbox sender are the
app's own (the job is run directly instead of waiting for APScheduler's wall clock).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.e2e import TIMEOUT

MINUTE = timedelta(minutes=1)
SOON = "expire soon"
EXTEND = "POST /orders/{id}/extend"


async def website_order(harness, account) -> str:
    body = {"type": "ipv4", "countryId": 1, "periodId": 2, "quantity": 3}
    return (await harness.sandbox.state.create_order(account, body)).order_id


async def reminded_chat(harness, balance: Decimal = Decimal("100.00")):
    """A linked chat with a 30-day order the bot has synced (reminders planned)."""
    chat, account = await harness.linked_chat(balance)
    order_id = await website_order(harness, account)
    await harness.app.dispatcher["order_sync"].sync_chat(chat.chat_id)
    return chat, account, order_id


def until_due(harness, order_id: str, before: timedelta) -> None:
    """Move time to just after the reminder ``before`` the order's expiry is due."""
    expires = harness.sandbox.state.get_order(order_id).expires_at
    harness.clock.advance(expires - before - harness.clock.now() + MINUTE)


def reminders_in(chat) -> list:
    return [m for m in chat.bot_messages() if SOON in m.text or "have expired" in m.text]


def extensions(harness, account) -> list:
    return [t for t in harness.sandbox.state.transactions_of(account.id)
            if t.type == "purchase" and "xtension" in t.description]


async def test_each_offset_sends_one_reminder_with_priced_extend_buttons(harness):
    chat, _, order_id = await reminded_chat(harness)
    job = harness.app.reminder_job
    for offset in (timedelta(days=3), timedelta(days=1), timedelta(hours=3)):
        until_due(harness, order_id, offset)
        assert await job.run() == 1
        await chat.wait_until(lambda c, n=offset: len(reminders_in(c)) == _count(n),
                              timeout=TIMEOUT, what=f"the {offset} reminder")
        assert await job.run() == 0, "a reminder is sent once"
    reminder = reminders_in(chat)[-1]
    assert "in 3 hours" in reminder.text and order_id[-8:] in reminder.text
    assert "+1 month · $7.20" in reminder.button_texts  # 3 IPs × $2.40, from a calc
    assert {"📦 Open order", "🔕 Mute this order"} <= set(reminder.button_texts)


async def test_a_reminder_prices_the_orders_own_period_and_offers_the_others(harness):
    chat, account, order_id = await reminded_chat(harness)  # a 1-month order
    until_due(harness, order_id, timedelta(days=3))
    calcs = harness.sandbox.state.request_counts.get("POST /orders/calc", 0)
    await harness.app.reminder_job.run()
    reminder = await chat.wait_for_message(SOON, timeout=TIMEOUT)
    # One calc: the renewal for the order's own period is one tap with its price.
    assert harness.sandbox.state.request_counts.get("POST /orders/calc", 0) == calcs + 1
    extends = [t for t in reminder.button_texts if t.startswith("+")]
    assert extends == ["+1 month · $7.20"]
    assert "cannot price" not in reminder.text
    # The other periods: the order's extend menu, priced there before anything is charged.
    menu = await (await chat.click(reminder, "⏳ Other periods")).wait_answer(timeout=TIMEOUT)
    assert menu is not None
    shown = await chat.wait_until(
        lambda c: "+1 month" not in " ".join(c.message(reminder.message_id).button_texts)
        and c.message(reminder.message_id),
        timeout=TIMEOUT, what="the extend menu in place of the reminder",
    )
    assert any("1 week" in t.lower() for t in shown.button_texts), shown.button_texts
    assert extensions(harness, account) == []  # opening it charged nothing


def _count(offset: timedelta) -> int:
    return {timedelta(days=3): 1, timedelta(days=1): 2, timedelta(hours=3): 3}[offset]


async def test_one_tap_extends_once_however_often_it_is_tapped(harness):
    chat, account, order_id = await reminded_chat(harness)
    order = harness.sandbox.state.get_order(order_id)
    expiry = order.expires_at
    until_due(harness, order_id, timedelta(days=3))
    await harness.app.reminder_job.run()
    reminder = await chat.wait_for_message(SOON, timeout=TIMEOUT)

    first = await chat.click(reminder, "+1 month · $7.20")
    second = await chat.click(reminder, "+1 month · $7.20")  # a double tap
    await first.wait_answer(timeout=TIMEOUT)
    await second.wait_answer(timeout=TIMEOUT)
    done = await chat.wait_until(
        lambda c: "Extended" in c.message(reminder.message_id).text
        and c.message(reminder.message_id),
        timeout=TIMEOUT, what="the extend's receipt in the reminder",
    )
    await harness.tg.wait_consumed(timeout=TIMEOUT)
    assert "Charged: $7.20" in done.text
    assert order.expires_at == expiry + timedelta(days=30)
    assert len(extensions(harness, account)) == 1
    assert harness.sandbox.state.request_counts.get(EXTEND, 0) == 1
    # Later taps of the same reminder show the same receipt and extend nothing.
    late = await chat.click_forged(reminder.button("+1 month · $7.20").callback_data,
                                   message=reminder)
    await late.wait_answer(timeout=TIMEOUT)
    assert len(extensions(harness, account)) == 1
    # The new expiry got its own reminders at once.
    rows = await harness.app.repos.reminders.for_order(chat.chat_id, order_id)
    assert {r.expires_at for r in rows if r.state == "planned"} == {
        order.expires_at.replace(microsecond=order.expires_at.microsecond // 1000 * 1000)
    }


async def test_one_tap_without_funds_offers_top_up_then_the_same_button(harness):
    chat, account, order_id = await reminded_chat(harness, balance=Decimal("10.00"))
    until_due(harness, order_id, timedelta(days=3))
    await harness.app.reminder_job.run()
    reminder = await chat.wait_for_message(SOON, timeout=TIMEOUT)
    await chat.click(reminder, "+1 month · $7.20")
    refused = await chat.wait_for_message("Not enough balance", timeout=TIMEOUT)
    assert refused.button("➕ Top up").callback_data.startswith("tu:t:e:")  # back here after
    harness.sandbox.state.credit_deposit(account.id, "20.00", "USDT_TRC20")
    await chat.click(refused, "🔁 Try again")
    await chat.wait_for_message("Extended", timeout=TIMEOUT)
    assert len(extensions(harness, account)) == 1


async def test_muted_order_gets_no_more_reminders_until_unmuted(harness):
    chat, _, order_id = await reminded_chat(harness)
    job = harness.app.reminder_job
    until_due(harness, order_id, timedelta(days=3))
    await job.run()
    reminder = await chat.wait_for_message(SOON, timeout=TIMEOUT)
    await chat.click(reminder, "🔕 Mute this order")
    muted = await chat.wait_for_message("No more reminders", timeout=TIMEOUT)

    until_due(harness, order_id, timedelta(days=1))
    assert await job.run() == 0
    await chat.click(muted, "🔔 Unmute")
    await chat.wait_for_message("on again", timeout=TIMEOUT)
    until_due(harness, order_id, timedelta(hours=3))
    assert await job.run() == 1
    again = await chat.wait_for_message(SOON, timeout=TIMEOUT)
    assert again.message_id != reminder.message_id and "in 3 hours" in again.text


async def test_settings_change_the_chats_reminder_times(harness):
    chat, _, _ = await reminded_chat(harness)
    reminders = harness.app.dispatcher["reminders"]
    await chat.send("/settings")
    settings = await chat.wait_for_message("Settings", timeout=TIMEOUT)
    await chat.click(settings, "⏰ Expiry reminders")
    screen = await chat.wait_for_message("Expiry reminders", timeout=TIMEOUT)
    assert "3 days, 1 day, 3 hours" in screen.text
    await chat.click(screen, "7 days")
    screen = await chat.wait_for_message("7 days, 3 days", timeout=TIMEOUT)
    await chat.click(screen, "✅ 3 hours")
    screen = await chat.wait_for_message(lambda m: "3 hours" not in m.text.split("\n")[2],
                                         timeout=TIMEOUT)
    assert await reminders.offsets_for(chat.chat_id) == (
        timedelta(days=7), timedelta(days=3), timedelta(days=1)
    )
    await chat.click(screen, "🔕 Turn reminders off")
    await chat.wait_for_message("Reminders are off", timeout=TIMEOUT)
    assert await reminders.offsets_for(chat.chat_id) == ()


async def test_reminders_due_while_stopped_are_sent_once_on_start(harness):
    chat, _, order_id = await reminded_chat(harness)
    await harness.stop()
    until_due(harness, order_id, timedelta(days=1))  # both the 3-day and 1-day fell due
    await harness.start()
    await chat.wait_until(lambda c: len(reminders_in(c)) == 1, timeout=TIMEOUT,
                          what="the reminder due while stopped")
    await harness.app.background.wait()
    assert await harness.app.reminder_job.run() == 0
    await harness.restart()
    await harness.app.background.wait()
    assert len(reminders_in(chat)) == 1, "sent once, not once per start"


async def test_a_claim_of_a_dead_process_is_sent_once_after_its_lease(harness):
    chat, _, order_id = await reminded_chat(harness)
    reminders = harness.app.dispatcher["reminders"]
    until_due(harness, order_id, timedelta(days=3))
    # Another process claimed it and died before handing it off.
    (due,) = await reminders.claim_due("dead-process", lease=timedelta(minutes=5))
    assert await harness.app.reminder_job.run() == 0  # still leased to the dead process
    harness.clock.advance(timedelta(minutes=6))
    assert await harness.app.reminder_job.run() == 1
    await chat.wait_until(lambda c: len(reminders_in(c)) == 1, timeout=TIMEOUT,
                          what="the reminder after the lease")
    # The dead process's hand-off, were it to wake up, changes nothing.
    from storage.outbox import OutgoingMessage

    assert not await reminders.hand_off(due, OutgoingMessage(chat.chat_id, "reminder",
                                                             str(due.reminder_id), "late"))
    await harness.tg.wait_consumed(timeout=TIMEOUT)
    assert len(reminders_in(chat)) == 1


async def test_a_reminder_speaks_the_telegram_language_of_whoever_linked_the_chat(harness):
    # Linked from a Russian Telegram, never chose a language in /settings.
    chat, account = await harness.linked_chat(language_code="ru")
    order_id = await website_order(harness, account)
    await harness.app.dispatcher["order_sync"].sync_chat(chat.chat_id)
    until_due(harness, order_id, timedelta(days=3))
    assert await harness.app.reminder_job.run() == 1
    reminder = await chat.wait_for_message("Срок ваших прокси скоро истекает", timeout=TIMEOUT)
    # Periods in Russian, from their days: "+1 месяц · $7.20", not "1 Month".
    assert any(text.startswith("+1 месяц · $") for text in reminder.button_texts)
    # A choice in /settings wins over Telegram's language.
    await harness.app.repos.users.set_language(chat.user.user_id, "en")
    until_due(harness, order_id, timedelta(days=1))
    assert await harness.app.reminder_job.run() == 1
    await chat.wait_for_message(SOON, timeout=TIMEOUT)


async def test_an_unpriced_reminder_says_so_and_a_priced_one_does_not(harness):
    chat, account, priced_id = await reminded_chat(harness)
    body = {"type": "mobile", "countryId": 1, "periodId": 2, "quantity": 3,
            "mobileServiceType": "shared", "operatorId": 1, "rotationId": 1}
    mobile_id = (await harness.sandbox.state.create_order(account, body)).order_id
    await harness.app.dispatcher["order_sync"].sync_chat(chat.chat_id)
    until_due(harness, mobile_id, timedelta(days=3))
    until_due(harness, priced_id, timedelta(days=3))

    assert await harness.app.reminder_job.run() == 2
    await chat.wait_until(lambda c: len(reminders_in(c)) == 2, timeout=TIMEOUT,
                          what="both reminders")

    by_order = {m.text.count(mobile_id[-8:]) > 0: m for m in reminders_in(chat)}
    mobile, ipv4 = by_order[True], by_order[False]
    # No price on a mobile extend (operator and rotation are not in the order): said plainly.
    assert not any("$" in text for text in mobile.button_texts)
    assert "cannot price this extension in advance" in mobile.text
    assert "cannot price" not in ipv4.text
    assert any("$" in text for text in ipv4.button_texts)
