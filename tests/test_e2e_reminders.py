"""Expiry reminders and order sync end to end: the real app, the sandbox, the clock moved.

Orders are made in the sandbox directly (as if bought on the website) and reach the bot
through the order sync; time moves with ``harness.clock`` (the sandbox shares it), and
expiries with ``state.set_order``. The services are the ones the app built (dispatcher
workflow data), so what is tested is what the scheduler and the handlers use.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from services.prices import same_again
from services.reminders import InvalidOffsets, ReminderService
from services.sync import FAILED, REVOKED, SKIPPED, SYNCED, OrderSync
from storage.outbox import OutgoingMessage
from storage.reminders import PLANNED, SENT
from storage.reminders import SKIPPED as ROW_SKIPPED

DEFAULT = {timedelta(days=3), timedelta(days=1), timedelta(hours=3)}
MINUTE = timedelta(minutes=1)


def services(harness) -> tuple[ReminderService, OrderSync]:
    return harness.app.dispatcher["reminders"], harness.app.dispatcher["order_sync"]


async def website_order(harness, account, proxy_type: str = "ipv4", **extra) -> str:
    body: dict[str, object] = {"type": proxy_type}
    if proxy_type == "resident":
        body["tarifId"] = 1
    else:
        body |= {"countryId": 1, "periodId": 2, "quantity": 3}
    if proxy_type == "ipv6":
        body["protocol"] = "HTTPS"
    if proxy_type == "mobile":
        body |= {"mobileServiceType": "shared", "operatorId": 1, "rotationId": 1}
    receipt = await harness.sandbox.state.create_order(account, body | extra)
    return receipt.order_id


def expiry(harness, order_id: str):
    """The order's expiry as the API shows it (to the millisecond)."""
    value = harness.sandbox.state.get_order(order_id).expires_at
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


async def rows(harness, chat_id: int, order_id: str) -> list:
    return await harness.app.repos.reminders.for_order(chat_id, order_id)


async def planned(harness, chat_id: int, order_id: str) -> set[timedelta]:
    return {r.offset for r in await rows(harness, chat_id, order_id) if r.state == PLANNED}


def requests(harness, endpoint: str) -> int:
    return harness.sandbox.state.request_counts.get(endpoint, 0)


async def claim_mine(reminders: ReminderService, owner: str = "test") -> list:
    return await reminders.claim_due(owner, lease=timedelta(minutes=5))


def note(due) -> OutgoingMessage:
    return OutgoingMessage(chat_id=due.chat_id, kind="reminder", ref=str(due.reminder_id),
                           text=f"Order {due.order_id} expires soon")


# -- planning ------------------------------------------------------------------------------


async def test_website_order_appears_after_a_sync_with_a_reminder_per_offset(harness):
    _, sync = services(harness)
    chat, account = await harness.linked_chat()
    order_id = await website_order(harness, account)
    assert await rows(harness, chat.chat_id, order_id) == []  # the bot has not seen it yet

    result = await sync.sync_chat(chat.chat_id)

    assert (result.outcome, result.orders, result.planned) == (SYNCED, 1, 3)
    local = await harness.app.repos.orders.get(chat.chat_id, order_id)
    assert local is not None and local.expires_at == expiry(harness, order_id)
    found = await rows(harness, chat.chat_id, order_id)
    assert {r.offset for r in found} == DEFAULT
    assert all(r.due_at == local.expires_at - r.offset for r in found)
    assert all(r.state == PLANNED for r in found)
    # Syncing again plans nothing new.
    assert (await sync.sync_chat(chat.chat_id)).planned == 0


async def test_each_offset_falls_due_in_turn_and_is_handed_off_once(harness):
    reminders, sync = services(harness)
    chat, account = await harness.linked_chat()
    order_id = await website_order(harness, account)
    await sync.sync_chat(chat.chat_id)
    expires = expiry(harness, order_id)

    for offset in sorted(DEFAULT, reverse=True):
        harness.clock.advance(expires - offset - harness.clock.now() - MINUTE)
        assert await claim_mine(reminders) == []  # a minute early
        harness.clock.advance(2 * MINUTE)
        (due,) = await claim_mine(reminders)
        assert (due.order_id, due.offset, due.expires_at) == (order_id, offset, expires)
        assert await claim_mine(reminders, "another") == []  # held by the first claim
        assert await reminders.hand_off(due, note(due))
        assert not await reminders.hand_off(due, note(due))  # at most once

    states = {r.offset: r.state for r in await rows(harness, chat.chat_id, order_id)}
    assert states == dict.fromkeys(DEFAULT, SENT)
    queued = await harness.app.db.fetchall(
        "SELECT ref FROM outbox WHERE kind = 'reminder' AND chat_id = ?", (chat.chat_id,)
    )
    assert len(queued) == 3


@pytest.mark.both_modes  # planned reminders survive a restart behind a webhook too
async def test_due_while_the_bot_was_down_is_sent_once_on_start(harness):
    reminders, sync = services(harness)
    chat, account = await harness.linked_chat()
    order_id = await website_order(harness, account)
    await sync.sync_chat(chat.chat_id)
    expires = expiry(harness, order_id)

    await harness.stop()
    harness.clock.advance(expires - harness.clock.now() - timedelta(hours=20))  # 3d, 1d past
    await harness.start()
    reminders, _ = services(harness)

    expected = {
        timedelta(days=3): ROW_SKIPPED, timedelta(days=1): SENT, timedelta(hours=3): PLANNED
    }
    assert await settle(harness, reminders, chat.chat_id, order_id, expected)

    # Down again through the expiry: the 3h reminder is too late to send.
    harness.clock.advance(timedelta(days=1))
    expected[timedelta(hours=3)] = ROW_SKIPPED
    assert await settle(harness, reminders, chat.chat_id, order_id, expected)


async def settle(harness, reminders, chat_id: int, order_id: str, expected: dict) -> bool:
    """Claim and hand off what is due until the rows are in ``expected`` states. Polls,
    because the app's own reminder job may be the one that claims them (at start)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    found: dict = {}
    while loop.time() < deadline:
        for due in await claim_mine(reminders):
            assert due.offset == timedelta(days=1)  # the only one ever sent here
            assert await reminders.hand_off(due, note(due))
        found = {r.offset: r.state for r in await rows(harness, chat_id, order_id)}
        if found == expected:
            return True
        await asyncio.sleep(0.05)
    raise AssertionError(f"reminders {found}, expected {expected}")


async def test_custom_offsets_replan_and_are_validated(harness):
    reminders, sync = services(harness)
    chat, account = await harness.linked_chat()
    order_id = await website_order(harness, account)
    await sync.sync_chat(chat.chat_id)

    chosen = await reminders.set_offsets(
        chat.chat_id, [timedelta(hours=12), timedelta(days=2), timedelta(days=2)]
    )

    assert chosen == (timedelta(days=2), timedelta(hours=12))
    assert await reminders.offsets_for(chat.chat_id) == chosen
    assert await planned(harness, chat.chat_id, order_id) == set(chosen)
    await sync.sync_chat(chat.chat_id)
    assert await planned(harness, chat.chat_id, order_id) == set(chosen)

    for bad in ([timedelta(seconds=30)], [timedelta(days=31)],
                [timedelta(hours=h) for h in range(1, 8)]):
        with pytest.raises(InvalidOffsets):
            await reminders.set_offsets(chat.chat_id, bad)
    assert await reminders.offsets_for(chat.chat_id) == chosen  # unchanged

    assert set(await reminders.set_offsets(chat.chat_id, None)) == DEFAULT
    assert await planned(harness, chat.chat_id, order_id) == DEFAULT


async def test_turned_off_chat_gets_no_reminders_until_turned_on(harness):
    reminders, sync = services(harness)
    chat, account = await harness.linked_chat()
    order_id = await website_order(harness, account)
    await sync.sync_chat(chat.chat_id)

    await reminders.turn_off(chat.chat_id)

    assert await reminders.offsets_for(chat.chat_id) == ()
    assert await planned(harness, chat.chat_id, order_id) == set()
    await sync.sync_chat(chat.chat_id)
    assert await planned(harness, chat.chat_id, order_id) == set()
    harness.clock.advance(expiry(harness, order_id) - harness.clock.now() - timedelta(hours=1))
    assert await claim_mine(reminders) == []

    await reminders.set_offsets(chat.chat_id, None)
    # Turned on with 1h left: the most recent past time (3h) is sent once, at once.
    assert await planned(harness, chat.chat_id, order_id) == {timedelta(hours=3)}


async def test_muted_order_gets_none_and_the_others_still_do(harness):
    reminders, sync = services(harness)
    chat, account = await harness.linked_chat()
    muted_id = await website_order(harness, account)
    other_id = await website_order(harness, account)
    await sync.sync_chat(chat.chat_id)

    assert await reminders.mute_order(chat.chat_id, muted_id)

    assert await reminders.muted_orders(chat.chat_id) == [muted_id]
    assert await planned(harness, chat.chat_id, muted_id) == set()
    await sync.sync_chat(chat.chat_id)
    assert await planned(harness, chat.chat_id, muted_id) == set()
    assert await planned(harness, chat.chat_id, other_id) == DEFAULT
    harness.clock.advance(expiry(harness, other_id) - harness.clock.now() - timedelta(days=2))
    assert {d.order_id for d in await claim_mine(reminders)} == {other_id}

    assert await reminders.unmute_order(chat.chat_id, muted_id)
    # Planned again at once; the 3d time passed while muted: it is the one reminder due now.
    assert await planned(harness, chat.chat_id, muted_id) == DEFAULT
    assert {d.order_id for d in await claim_mine(reminders)} == {muted_id}


async def test_inactive_chat_skips_what_falls_due(harness):
    reminders, sync = services(harness)
    chat, account = await harness.linked_chat()
    order_id = await website_order(harness, account)
    await sync.sync_chat(chat.chat_id)
    await harness.app.repos.chats.set_active(chat.chat_id, False)  # the bot was blocked

    harness.clock.advance(expiry(harness, order_id) - harness.clock.now() - timedelta(days=2))

    assert await claim_mine(reminders) == []
    states = {r.offset: r.state for r in await rows(harness, chat.chat_id, order_id)}
    assert states[timedelta(days=3)] == ROW_SKIPPED
    assert (await sync.sync_chat(chat.chat_id)).outcome == SKIPPED


async def test_extended_on_the_website_is_replanned_keeping_what_was_sent(harness):
    reminders, sync = services(harness)
    chat, account = await harness.linked_chat()
    order_id = await website_order(harness, account)
    await sync.sync_chat(chat.chat_id)
    old = expiry(harness, order_id)
    harness.clock.advance(old - harness.clock.now() - timedelta(days=2))
    (due,) = await claim_mine(reminders)
    await reminders.hand_off(due, note(due))

    new = old + timedelta(days=30)
    harness.sandbox.state.set_order(order_id, expires_at=new)
    await sync.sync_chat(chat.chat_id)

    found = await rows(harness, chat.chat_id, order_id)
    assert [(r.offset, r.state) for r in found if r.expires_at == old] == [
        (timedelta(days=3), SENT)
    ]
    assert {r.offset for r in found if r.expires_at == new and r.state == PLANNED} == DEFAULT
    harness.clock.advance(timedelta(days=1, hours=1))  # the old 1d time: nothing
    assert await claim_mine(reminders) == []


async def test_extended_after_the_last_sync_is_caught_before_sending(harness):
    reminders, sync = services(harness)
    chat, account = await harness.linked_chat()
    order_id = await website_order(harness, account)
    await sync.sync_chat(chat.chat_id)
    old = expiry(harness, order_id)
    harness.clock.advance(old - harness.clock.now() - timedelta(days=2))
    (due,) = await claim_mine(reminders)
    harness.sandbox.state.set_order(order_id, expires_at=old + timedelta(days=30))

    assert await reminders.content(due) is None  # stale: skipped, nothing to send

    assert not await reminders.hand_off(due, note(due))
    assert await planned(harness, chat.chat_id, order_id) == DEFAULT  # for the new expiry


async def test_pending_and_residential_orders_get_none_without_errors(harness):
    reminders, sync = services(harness)
    chat, account = await harness.linked_chat()
    harness.sandbox.state.add_fault("POST /orders", "pending")
    pending_id = await website_order(harness, account)
    resident_id = await website_order(harness, account, "resident")

    result = await sync.sync_chat(chat.chat_id)

    assert (result.outcome, result.orders, result.planned) == (SYNCED, 2, 0)
    for order_id in (pending_id, resident_id):
        assert await rows(harness, chat.chat_id, order_id) == []
        local = await harness.app.repos.orders.get(chat.chat_id, order_id)
        assert local is not None
        assert await reminders.plan_order(chat.chat_id, local) == 0

    harness.sandbox.state.set_order(pending_id, status="active")  # provisioned at last
    await sync.sync_chat(chat.chat_id)
    assert await planned(harness, chat.chat_id, pending_id) == DEFAULT


async def test_canceled_and_gone_orders_lose_their_planned_reminders(harness):
    _, sync = services(harness)
    chat, account = await harness.linked_chat()
    canceled_id = await website_order(harness, account)
    gone_id = await website_order(harness, account)
    await sync.sync_chat(chat.chat_id)

    harness.sandbox.state.set_order(canceled_id, status="canceled")
    del harness.sandbox.state.orders[gone_id]  # not on this account any more
    harness.clock.advance(MINUTE)
    result = await sync.sync_chat(chat.chat_id)

    assert result.gone == (gone_id,)
    assert await rows(harness, chat.chat_id, canceled_id) == []
    assert await rows(harness, chat.chat_id, gone_id) == []
    assert await harness.app.repos.orders.get(chat.chat_id, gone_id) is None


# -- what a reminder says ----------------------------------------------------------------


async def test_content_prices_the_orders_own_period_once_and_the_rest_from_the_book(harness):
    reminders, sync = services(harness)
    chat, account = await harness.linked_chat(balance=Decimal("500.00"))
    ipv4 = await website_order(harness, account)  # a 1-month order (period 2)
    ipv6 = await website_order(harness, account, "ipv6")
    mobile = await website_order(harness, account, "mobile")
    await sync.sync_chat(chat.chat_id)
    harness.clock.advance(expiry(harness, ipv4) - harness.clock.now() - timedelta(days=2))
    due = {d.order_id: d for d in await claim_mine(reminders)}
    state = harness.sandbox.state

    def price(period_id: int, **extra: object) -> Decimal:
        body = {"type": "ipv4", "countryId": 1, "periodId": period_id, "quantity": 3} | extra
        return state.quote(body).price

    calcs = requests(harness, "POST /orders/calc")
    content = await reminders.content(due[ipv4])

    assert content is not None and not content.expired
    assert content.order.order_id == ipv4
    # One calc: the order's own period, one tap; the other four wait behind "Other periods".
    assert [(p.period.id, p.price) for p in content.periods] == [(2, price(2))]
    assert content.more_periods
    assert requests(harness, "POST /orders/calc") == calcs + 1
    six = await reminders.content(due[ipv6])
    assert six is not None and six.more_periods
    assert [(p.period.id, p.price) for p in six.periods] == [
        (2, price(2, type="ipv6", protocol="HTTPS"))
    ]
    # Mobile cannot be priced in advance: every period one tap away, unpriced, no calc.
    calcs = requests(harness, "POST /orders/calc")
    phone = await reminders.content(due[mobile])
    assert phone is not None and len(phone.periods) == 3 and not phone.more_periods
    assert all(p.price is None for p in phone.periods)
    assert requests(harness, "POST /orders/calc") == calcs

    # A price the book holds (another screen asked it) is a one-tap button too, at no call.
    api = await harness.app.dispatcher["accounts"].api_for(chat.chat_id)
    week = same_again("ipv4", 1, 1, 3, None)
    assert week is not None
    await reminders._prices.quote(api, week)  # the book the app's screens share
    calcs = requests(harness, "POST /orders/calc")
    again = await reminders.content(due[ipv4])
    assert again is not None
    assert [(p.period.id, p.price) for p in again.periods] == [(1, price(1)), (2, price(2))]
    assert requests(harness, "POST /orders/calc") == calcs  # both from the book
    harness.clock.advance(timedelta(minutes=6))
    stale = await reminders.content(due[ipv4])
    assert stale is not None and [p.period.id for p in stale.periods] == [2]
    assert requests(harness, "POST /orders/calc") == calcs + 1  # stale after 5 minutes


async def test_content_survives_api_errors_with_no_prices(harness):
    reminders, sync = services(harness)
    chat, account = await harness.linked_chat()
    order_id = await website_order(harness, account)
    await sync.sync_chat(chat.chat_id)
    harness.clock.advance(expiry(harness, order_id) - harness.clock.now() - timedelta(days=2))
    (due,) = await claim_mine(reminders)
    state = harness.sandbox.state
    state.add_fault("GET /orders/{id}", "bad_body")  # the refresh fails: the local copy is used
    state.add_fault("POST /orders/calc", "bad_body", times=5)

    content = await reminders.content(due)

    assert content is not None and content.order.order_id == order_id
    # The order's period is not in the local copy (the list the sync read has none): the
    # first period is the one priced, and its calc failed: still one tap, unpriced (the
    # message says so).
    assert [(p.period.id, p.price) for p in content.periods] == [(1, None)]
    assert content.more_periods
    assert await reminders.hand_off(due, note(due))


# -- sync: backoff and revoked keys -----------------------------------------------------------


async def test_failed_sync_backs_off_exponentially_up_to_the_interval(harness):
    _, sync = services(harness)
    chat, account = await harness.linked_chat()
    order_id = await website_order(harness, account)
    harness.sandbox.state.add_fault("GET /orders", "bad_body", times=100)

    waits = []
    for _ in range(7):
        before = requests(harness, "GET /orders")
        (result,) = await sync.sync_all()
        assert result.outcome == FAILED and result.retry_at is not None
        assert requests(harness, "GET /orders") == before + 1
        assert await sync.sync_all() == []  # not before its retry is due
        waits.append(result.retry_at - harness.clock.now())
        harness.clock.advance(result.retry_at - harness.clock.now())

    seconds = [round(w.total_seconds()) for w in waits]  # the real clock ticks on a little
    assert seconds == [30, 60, 120, 240, 480, 600, 600]  # capped at ORDER_SYNC_INTERVAL

    harness.sandbox.state.clear_faults()
    (result,) = await sync.sync_all()
    assert result.outcome == SYNCED
    assert await planned(harness, chat.chat_id, order_id) == DEFAULT
    following = sync.next_sync(chat.chat_id)
    assert following is not None
    assert timedelta(0) < following - harness.clock.now() <= sync.interval
    assert await sync.sync_all() == []  # once per interval, in the chat's own slot
    harness.clock.advance(following - harness.clock.now())
    assert [r.outcome for r in await sync.sync_all()] == [SYNCED]


async def test_chats_are_spread_over_the_interval(harness):
    _, sync = services(harness)
    slots = {sync.slot(chat_id) for chat_id in range(1000, 1100)}
    assert len(slots) > 90 and all(timedelta(0) <= s < sync.interval for s in slots)
    now = harness.clock.now()
    for chat_id in (1, 2, 3):
        nxt = sync.next_slot(chat_id, now)
        assert now < nxt <= now + sync.interval
        assert sync.next_slot(chat_id, nxt) == nxt + sync.interval


async def test_revoked_key_stops_the_chats_sync_and_says_so_once(harness):
    _, sync = services(harness)
    chat, account = await harness.linked_chat()
    order_id = await website_order(harness, account)
    await sync.sync_chat(chat.chat_id)
    told: list[int] = []

    async def tell(chat_id: int) -> None:
        told.append(chat_id)

    sync.on_key_revoked = tell
    harness.sandbox.state.update_account(account.id, banned=True)  # the key no longer works
    harness.clock.advance(sync.interval)

    (result,) = await sync.sync_all()

    assert (result.outcome, result.tell_chat) == (REVOKED, True)
    assert told == [chat.chat_id]
    status = await harness.app.repos.chats.status(chat.chat_id)
    assert status is not None and status.key_revoked_at is not None
    assert await planned(harness, chat.chat_id, order_id) == set()
    before = requests(harness, "GET /orders")
    harness.clock.advance(sync.interval)
    assert await sync.sync_all() == []  # stopped: no target any more
    assert (await sync.sync_chat(chat.chat_id)).outcome == SKIPPED
    assert requests(harness, "GET /orders") == before
    assert told == [chat.chat_id]  # once

    # A key linked again (here: the same one, unbanned) starts the sync again.
    harness.sandbox.state.update_account(account.id, banned=False)
    await harness.app.dispatcher["accounts"].link(chat.chat_id, None, account.api_key)
    (result,) = await sync.sync_all()
    assert result.outcome == SYNCED
    assert await planned(harness, chat.chat_id, order_id) == DEFAULT
