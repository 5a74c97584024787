"""Buying in a group: admins confirm, members request, an admin's Approve buys exactly once.

The team (tests/e2e.py `team`) is a supergroup with the bot, its owner Olga and admin Artem,
and a plain member Mila; its key is linked. Prices: IPv4, 1 month, $2.40 a proxy.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from services.purchase import QUOTE_TTL
from storage.groups import APPROVED, DECLINED, EXPIRED, OPEN
from storage.operations import FAILED, PENDING
from tests.e2e import (
    COUNTRY,
    ORDERS,
    PERIOD,
    QUANTITY,
    QUOTE,
    RECEIPT,
    START,
    TIMEOUT,
    final,
    operation,
    order_requests,
    orders_of,
    say,
    tap,
    team,
    transactions_of,
    until,
)

REQUEST = "Purchase request"
REQUEST_SENT = "Request sent"
APPROVED_TEXT = "Request approved"
DECLINED_TEXT = "Request declined"
EXPIRED_TEXT = "Request expired"
QUANTITY_PROMPT = "reply to this message with how many proxies"
ADMINS_ONLY = "Only the group's admins can spend"


# -- helpers ---------------------------------------------------------------------------------


def requests_of(harness):
    return harness.app.dispatcher["group_requests"]


def callback_data(message, prefix: str) -> str:
    (data,) = [b.callback_data for b in message.flat_buttons
               if (b.callback_data or "").startswith(prefix)]
    return data


def ask_data(message) -> str:
    return callback_data(message, "rq:")


def has_data(message, prefix: str) -> bool:
    return any((b.callback_data or "").startswith(prefix) for b in message.flat_buttons)


async def group_request(harness, request_id: str):
    return await harness.app.repos.groups.request(request_id)


async def to_quantity(handle, command: str = "/buy"):
    """/buy in the group → IPv4 → United States → 1 Month: the quantity step and its
    ForceReply prompt."""
    message = await say(handle, command, expect=START)
    message = await tap(handle, message, "Datacenter IPv4", expect=COUNTRY)
    message = await tap(handle, message, "United States", expect=PERIOD)
    message = await tap(handle, message, "1 month", expect=QUANTITY)
    prompt = await handle.wait_for_message(final(QUANTITY_PROMPT), timeout=TIMEOUT)
    return message, prompt


async def group_quote(handle, quantity: str = "5"):
    """The quote in the group, the quantity typed as a reply to the bot's prompt."""
    _, prompt = await to_quantity(handle)
    await handle.reply(prompt, quantity)
    return await handle.wait_for_message(final(QUOTE), timeout=TIMEOUT)


async def posted_request(t, quantity: str = "5"):
    """Mila's quote, sent for approval: (her screen, the request as the owner sees it)."""
    quote = await group_quote(t.member, quantity)
    assert "Request approval" in " ".join(quote.button_texts)
    t.owner.mark()
    sent = await tap(t.member, quote, "Request approval", expect=REQUEST_SENT)
    request = await t.owner.wait_for_message(final(REQUEST), timeout=TIMEOUT)
    return sent, request


def mentions(message, user) -> bool:
    """The message mentions ``user`` (a text_mention: works without a username)."""
    return any(
        e.get("type") == "text_mention" and e["user"]["id"] == user.user_id
        for e in message.entities or []
    )


def request_id_of(message) -> str:
    return callback_data(message, "gq:a:").removeprefix("gq:a:")


async def shown(handle, message_id: int, text: str):
    return await handle.wait_until(
        lambda c: text in c.message(message_id).text and c.message(message_id),
        timeout=TIMEOUT, what=f"{text!r} on message #{message_id}",
    )


# -- admins buy, members may not -----------------------------------------------------------


async def test_an_admin_buys_in_the_group_with_the_groups_key(harness):
    t = await team(harness)
    _, prompt = await to_quantity(t.admin, "/buy@fake_shop_bot")
    await t.admin.reply(prompt, "5")
    quote = await t.admin.wait_for_message(final(QUOTE), timeout=TIMEOUT)
    assert has_data(quote, "bc:") and not has_data(quote, "rq:")
    assert "Request approval" not in quote.text

    receipt = await tap(t.admin, quote, "Confirm", expect=RECEIPT)
    (order,) = orders_of(harness, t.account)
    assert order.id in receipt.text
    assert t.account.balance == Decimal("88.00")
    assert order_requests(harness) == 1


async def test_a_member_is_offered_request_approval_and_a_forged_confirm_is_refused(harness):
    t = await team(harness)
    quote = await group_quote(t.member)
    assert not has_data(quote, "bc:")
    assert "Request approval" in quote.text
    op_id = ask_data(quote).removeprefix("rq:")

    # An old or forged Confirm with the quote's id: the live admin check refuses it.
    answer = await (await t.member.click_forged(f"bc:{op_id}", message=quote))
    assert answer.show_alert and ADMINS_ONLY in (answer.text or "")
    assert t.member.message(quote.message_id).text == quote.text
    assert (await operation(harness, op_id)).status == PENDING
    assert order_requests(harness) == 0 and not orders_of(harness, t.account)


async def test_an_admin_demoted_after_opening_the_quote_cannot_confirm(harness):
    t = await team(harness)
    quote = await group_quote(t.admin)
    assert has_data(quote, "bc:")  # shown to an admin

    t.group.set_admins()  # Artem is no longer an admin
    answer = await (await t.admin.click(quote, "Confirm"))
    assert answer.show_alert and ADMINS_ONLY in (answer.text or "")
    assert t.admin.message(quote.message_id).text == quote.text
    assert order_requests(harness) == 0 and not orders_of(harness, t.account)


# -- menus belong to their opener, typing under privacy mode --------------------------------


async def test_someone_elses_wizard_answers_with_an_alert_and_stays(harness):
    t = await team(harness)
    start = await say(t.member, "/buy", expect=START)
    answer = await (await t.admin.click(start, "Datacenter IPv4"))
    assert answer.show_alert and "Mila" in (answer.text or "")
    assert t.member.message(start.message_id).text == start.text

    # The member's quote too: an admin cannot send someone else's request.
    quote = await group_quote(t.member)
    answer = await (await t.owner.click(quote, "Request approval"))
    assert answer.show_alert and "Mila" in (answer.text or "")
    assert t.member.message(quote.message_id).text == quote.text
    op_id = ask_data(quote).removeprefix("rq:")
    assert await harness.app.repos.groups.open_request_for_op(op_id) is None


async def test_typed_quantity_arrives_as_a_reply_to_the_force_reply_prompt(harness):
    t = await team(harness)
    step, prompt = await to_quantity(t.member)
    assert prompt.force_reply and prompt.sent_reply_markup.get("selective") is True
    assert mentions(prompt, t.member_user)

    # Without privacy mode the bot reads everything: a plain message is still chatter.
    harness.tg.privacy_mode = False
    await t.member.send("7")
    await t.member.expect_no_message(within=0.5)
    assert t.member.message(step.message_id).text == step.text

    # A wrong answer gets the notice and a fresh prompt; the old one goes.
    await t.member.reply(prompt, "lots")
    await t.member.wait_for_message(final("whole number"), timeout=TIMEOUT)
    await t.member.wait_for_deletion(prompt, timeout=TIMEOUT)
    again = await t.member.wait_for_message(final(QUANTITY_PROMPT), timeout=TIMEOUT)

    await t.member.reply(again, "7")
    quote = await t.member.wait_for_message(final(QUOTE), timeout=TIMEOUT)
    assert "Quantity: 7" in quote.text
    await t.member.wait_for_deletion(again, timeout=TIMEOUT)


async def test_a_mention_of_the_bot_counts_as_typing_to_it(harness):
    t = await team(harness)
    await to_quantity(t.member)
    await t.member.send("@fake_shop_bot 3")
    quote = await t.member.wait_for_message(final(QUOTE), timeout=TIMEOUT)
    assert "Quantity: 3" in quote.text


# -- requests --------------------------------------------------------------------------------


async def test_two_admins_approving_at_once_place_one_order(harness):
    t = await team(harness)
    sent, request = await posted_request(t)
    assert not sent.buttons  # the member's wizard ended
    assert mentions(request, t.member_user)
    assert "Mila" in request.text and "$12.00" in request.text and "United States" in request.text
    assert "expires on" in request.text
    request_id = request_id_of(request)

    # The first claim holds the order at the provider while the second tap arrives.
    held = harness.sandbox.state.add_fault(ORDERS, "hold")
    first = await t.owner.click(request, "Approve")
    second = await t.admin.click(request, "Approve")
    await until(lambda: held.taken == 1, what="the order request in flight")
    answers = [await first.wait_answer(timeout=TIMEOUT), await second.wait_answer(timeout=TIMEOUT)]
    assert sum("already being placed" in (a.text or "") for a in answers) == 1
    held.release()

    approved = await shown(t.owner, request.message_id, APPROVED_TEXT)
    (order,) = orders_of(harness, t.account)
    assert order.id in approved.text and "Mila" in approved.text
    # No buttons on a message the whole group reads: /orders opens the order for anyone.
    assert approved.flat_buttons == [] and "/orders" in approved.text
    assert order_requests(harness) == 1
    assert len(transactions_of(harness, t.account, "purchase")) == 1
    notice = await t.member.wait_for_message(final("approved your request"), timeout=TIMEOUT)
    assert order.id in notice.text and mentions(notice, t.member_user)
    assert notice.reply_to_message_id == request.message_id
    stored = await group_request(harness, request_id)
    assert stored.status == APPROVED and stored.decided_by in (
        t.owner_user.user_id, t.admin_user.user_id)

    # Later taps buy nothing more.
    answer = await (await t.admin.click_forged(f"gq:a:{request_id}", message=request))
    assert "already approved" in (answer.text or "")
    assert order_requests(harness) == 1


async def test_a_member_cannot_approve_and_an_admin_declines(harness):
    t = await team(harness)
    _, request = await posted_request(t)
    request_id = request_id_of(request)
    op_id = (await group_request(harness, request_id)).op_id

    answer = await (await t.member.click(request, "Approve"))
    assert answer.show_alert and ADMINS_ONLY in (answer.text or "")
    assert t.owner.message(request.message_id).text == request.text

    await t.admin.click(request, "Decline")
    declined = await shown(t.owner, request.message_id, DECLINED_TEXT)
    assert "Artem" in declined.text and not declined.buttons
    await t.member.wait_for_message(final("declined your request"), timeout=TIMEOUT)
    assert (await group_request(harness, request_id)).status == DECLINED
    assert (await operation(harness, op_id)).status == FAILED

    answer = await (await t.owner.click_forged(f"gq:a:{request_id}", message=request))
    assert "already declined" in (answer.text or "")
    assert order_requests(harness) == 0 and not orders_of(harness, t.account)


async def test_one_open_request_per_quote(harness):
    t = await team(harness)
    quote = await group_quote(t.member)
    data = ask_data(quote)
    await tap(t.member, quote, "Request approval", expect=REQUEST_SENT)
    await t.member.click_forged(data, message=quote)
    await t.member.wait_for_message(final("already waiting"), timeout=TIMEOUT)
    rows = await harness.app.db.fetchall(
        "SELECT status FROM group_requests WHERE chat_id = ?", (t.chat_id,)
    )
    assert [row["status"] for row in rows] == [OPEN]


async def test_an_unanswered_request_expires(harness):
    t = await team(harness)
    _, request = await posted_request(t)
    request_id = request_id_of(request)
    op_id = (await group_request(harness, request_id)).op_id

    job = harness.app.dispatcher["request_job"]
    assert await job.run() == 0  # not yet
    harness.clock.advance(harness.settings.group_request_ttl + timedelta(minutes=1))
    assert await job.run() == 1
    expired = await shown(t.owner, request.message_id, EXPIRED_TEXT)
    assert not expired.buttons and "Mila" in expired.text
    assert (await group_request(harness, request_id)).status == EXPIRED
    assert (await operation(harness, op_id)).status == FAILED
    assert await job.run() == 0

    # A tap kept from before (an old client): the request has expired, nothing is bought.
    answer = await (await t.owner.click_forged(f"gq:a:{request_id}", message=request))
    assert answer.show_alert and "has expired" in (answer.text or "")
    assert order_requests(harness) == 0


async def test_a_tap_on_a_request_past_its_time_expires_it(harness):
    t = await team(harness)
    _, request = await posted_request(t)
    harness.clock.advance(harness.settings.group_request_ttl + timedelta(seconds=1))
    answer = await (await t.owner.click(request, "Approve"))  # before the job came
    assert answer.show_alert and "has expired" in (answer.text or "")
    await shown(t.owner, request.message_id, EXPIRED_TEXT)
    assert order_requests(harness) == 0 and not orders_of(harness, t.account)


async def test_a_stale_quote_is_priced_again_before_an_approve_buys(harness, monkeypatch):
    from sandbox.seed import CATALOGS

    t = await team(harness)
    _, request = await posted_request(t)
    request_id = request_id_of(request)
    old_op = (await group_request(harness, request_id)).op_id
    monkeypatch.setitem(CATALOGS["ipv4"].unit_prices[2], "default", Decimal("3.00"))
    harness.clock.advance(QUOTE_TTL + timedelta(minutes=1))

    answer = await (await t.owner.click(request, "Approve"))
    assert answer.show_alert and "approve again" in (answer.text or "")
    repriced = await shown(t.owner, request.message_id, "priced it again")
    assert "$15.00" in repriced.text and REQUEST in repriced.text
    assert order_requests(harness) == 0
    assert (await operation(harness, old_op)).status == FAILED
    new_op = (await group_request(harness, request_id)).op_id
    assert new_op != old_op and (await operation(harness, new_op)).status == PENDING

    await t.admin.click(repriced, "Approve")
    approved = await shown(t.owner, request.message_id, APPROVED_TEXT)
    assert "$15.00" in approved.text
    assert t.account.balance == Decimal("85.00") and order_requests(harness) == 1


async def test_not_enough_balance_keeps_the_request_open(harness):
    t = await team(harness, Decimal("5.00"))
    _, request = await posted_request(t)
    request_id = request_id_of(request)
    await t.owner.click(request, "Approve")
    refused = await shown(t.owner, request.message_id, "Not enough balance")
    assert REQUEST in refused.text and "$12.00" in refused.text
    assert has_data(refused, "gq:a:") and has_data(refused, "gq:d:")
    assert (await group_request(harness, request_id)).status == OPEN
    assert not orders_of(harness, t.account)

    # Topped up: the same request (and key) buys it.
    t.account.balance = Decimal("50.00")
    await t.admin.click(refused, "Approve")
    await shown(t.owner, request.message_id, APPROVED_TEXT)
    assert len(orders_of(harness, t.account)) == 1


@pytest.mark.parametrize("ttl", ["1m", "24h"])
def test_group_request_ttl_is_a_duration(ttl):
    from bot.settings import load_settings

    settings = load_settings(BOT_TOKEN="123456:ABCDEFGHIJKLMNOP", GROUP_REQUEST_TTL=ttl)
    assert settings.group_request_ttl >= timedelta(minutes=1)


def test_group_request_ttl_has_a_floor():
    from bot.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="GROUP_REQUEST_TTL"):
        load_settings(BOT_TOKEN="123456:ABCDEFGHIJKLMNOP", GROUP_REQUEST_TTL="10s")
