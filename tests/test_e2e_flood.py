"""Flood and abuse, end to end: the real app polls the fake Bot API and calls the sandbox.

The shared harness lifts the per-user throttle (tests act faster than people); the
`flood_harness` here runs the production defaults from bot/settings.py.
"""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import timedelta
from decimal import Decimal

import pytest

from bot.settings import Settings
from tests.conftest import BotHarness
from tests.e2e import until

SLOW_DOWN = "Too fast"


def _production_limits() -> dict[str, str]:
    fields = Settings.model_fields
    return {
        "THROTTLE_USER_LIMIT": str(fields["throttle_user_limit"].default),
        "THROTTLE_CHAT_LIMIT": str(fields["throttle_chat_limit"].default),
    }


@pytest.fixture
async def start_harness(fake_telegram, sandbox, tmp_path):
    """Start the app with the production flood limits plus any settings given."""
    started: list[BotHarness] = []

    async def start(**settings: str) -> BotHarness:
        harness = BotHarness(
            fake_telegram, sandbox, tmp_path, **{**_production_limits(), **settings}
        )
        await harness.start()
        started.append(harness)
        return harness

    try:
        yield start
        assert not fake_telegram.unanswered_callbacks(), "every tap must be answered"
    finally:
        for harness in started:
            await harness.stop()


@pytest.fixture
async def flood_harness(start_harness):
    return await start_harness()


async def _settle(harness: BotHarness) -> None:
    """Every update queued so far is fetched and its handler has finished."""
    await harness.tg.wait_consumed(timeout=60)
    while pending := harness.app.in_flight():
        await asyncio.wait(pending, timeout=30)


async def _round_trip(chat, text: str, expected: str, within: float = 5.0) -> float:
    started = time.perf_counter()
    await chat.send(text)
    await chat.wait_for_message(expected, timeout=within)
    return time.perf_counter() - started


async def _edit(harness: BotHarness, chat, message, text: str) -> None:
    """The user edits one of their messages, as Telegram delivers it: an edited_message."""
    record = chat.record
    raw = record.messages[message.message_id]
    raw["text"] = text
    raw.pop("entities", None)
    raw["edit_date"] = harness.tg.now_ts()
    record.meta[message.message_id].raw_text = text
    chat.mark()
    harness.tg.inject_update({"edited_message": copy.deepcopy(raw)})


# -- throttling -----------------------------------------------------------------------


async def test_a_flood_gets_bounded_replies_and_other_users_are_still_answered(flood_harness):
    harness = flood_harness
    flooder = await harness.private_chat()
    other = await harness.private_chat()
    before = await _round_trip(other, "/help", "Help")

    limit = harness.settings.throttle_user_limit
    rate = limit / harness.settings.throttle_window.total_seconds()
    started = harness.clock.monotonic()
    key = harness.new_account().api_key
    for i in range(500):
        if i == 250:
            # A key pasted in the middle of the flood is dropped like the rest, yet deleted.
            key_message = await flooder.send(key)
        else:
            await flooder.send(f"spam {i}")
    during = await _round_trip(other, "/help", "Help", within=60)
    await _settle(harness)
    elapsed = harness.clock.monotonic() - started
    replies = flooder.bot_messages()
    notices = [m for m in replies if SLOW_DOWN in m.text]
    print(f"other user's round trip: {before:.3f} s before the flood, {during:.3f} s during it;"
          f" the flooder got {len(replies)} replies ({len(notices)} notices) in {elapsed:.2f} s")
    # One notice per burst: a flood with no pause of a whole window is a single burst.
    assert 1 <= len(notices) <= 2, [m.text for m in notices]
    # What got through is what the allowance refills while the flood lasted.
    assert len(replies) - len(notices) <= limit + rate * elapsed + 1 < 500
    assert not [m for m in other.bot_messages() if SLOW_DOWN in m.text]
    assert key_message.message_id in flooder.deleted_ids

    # The flooder is served again once they slow down for a window.
    harness.clock.advance(harness.settings.throttle_window)
    await _round_trip(flooder, "/help", "Help")


async def test_flooded_button_taps_are_all_answered(flood_harness):
    chat = await flood_harness.private_chat()
    await chat.send("/help")
    await chat.wait_for_message("Help")
    taps = [await chat.click_forged("m:help") for _ in range(40)]
    answers = await asyncio.gather(*(tap.wait_answer(timeout=30) for tap in taps))
    notices = [a for a in answers if a.text and SLOW_DOWN in a.text]
    assert 1 <= len(notices) <= 2
    # The rest are answered silently: no text, no alert.
    assert all(not a.show_alert for a in answers)
    assert sum(1 for a in answers if a.text is None) >= len(answers) - len(notices)


async def test_a_flooding_group_is_throttled_as_a_whole(flood_harness):
    harness = flood_harness
    group = harness.tg.group(chat_id=-1001234567000, title="Noisy", bot_is_admin=True)
    members = [group.member(harness.tg.user(user_id=8100 + i, first_name="M")) for i in range(30)]
    for member in members:
        await member.send("/help")  # one each: no single person floods
    await _settle(harness)
    notices = [m for m in members[0].bot_messages() if SLOW_DOWN in m.text]
    assert len(notices) == 1


async def test_concurrently_handled_updates_are_bounded(start_harness, caplog):
    harness = await start_harness(MAX_CONCURRENT_UPDATES="3")
    chats = [(await harness.linked_chat())[0] for _ in range(8)]
    # Every /balance is held at the API, so handlers pile up if allowed to.
    held = harness.sandbox.state.add_fault("GET /account", "hold", times=8)
    for chat in chats:
        # Sending does not yield: the bot gets all eight updates in one getUpdates batch,
        # and an unbounded bot starts all eight handlers before any reaches the API.
        await chat.send("/balance")
    await until(lambda: held.taken == 3, what="three handlers at the API")
    peak = len(harness.app.in_flight())
    assert peak == 3, "the other updates wait for a free slot"
    held.release()
    answered = asyncio.gather(*(c.wait_for_message("Balance", timeout=30) for c in chats))
    while not answered.done():
        peak = max(peak, len(harness.app.in_flight()))
        await asyncio.sleep(0.01)  # sampling, not waiting for a condition
    await answered
    print(f"peak of concurrently handled updates: {peak}")
    assert peak <= 3 and held.taken == 8


# -- key checks -----------------------------------------------------------------------


async def test_key_checks_per_minute_are_limited(harness):
    limit = harness.settings.key_check_limit
    chat = await harness.private_chat()
    await chat.send("/start")
    await chat.wait_for_message("API key")
    for i in range(limit):
        await chat.send(f"pk_live_NoSuchKeyNumber{i:04d}abcdefgh")
        await chat.wait_for_message("does not know this key")
    checks = harness.sandbox.state.request_counts["GET /account"]
    account = harness.new_account()
    sent = await chat.send(account.api_key)
    reply = await chat.wait_for_message("Too many keys tried")
    assert "60 s" in reply.text
    await chat.wait_for_deletion(sent)
    assert harness.sandbox.state.request_counts["GET /account"] == checks  # not tried
    assert await harness.app.repos.chats.get(chat.chat_id) is None

    harness.clock.advance(harness.settings.key_check_window)
    sent = await chat.send(account.api_key)
    await chat.wait_for_message("linked")
    await chat.wait_for_deletion(sent)


# -- keys in edited messages, keys that cannot be deleted --------------------------------


async def test_key_pasted_by_editing_a_message_is_deleted_and_linked(harness):
    allowed = await harness.tg.wait_for(lambda: harness.tg.allowed_updates)
    assert "edited_message" in allowed
    account = harness.new_account(Decimal("7.00"))
    chat = await harness.private_chat()
    sent = await chat.send("hello there")
    await chat.wait_for_message("didn't get that")
    await _edit(harness, chat, sent, account.api_key)
    reply = await chat.wait_for_message("linked")
    assert "$7.00" in reply.text and "delete it yourself" not in reply.text
    await chat.wait_for_deletion(sent)
    assert (await harness.app.repos.chats.get(chat.chat_id)).is_linked


async def test_key_edited_in_while_asked_for_ends_the_linking(harness):
    account = harness.new_account()
    chat = await harness.private_chat()
    sent = await chat.send("one moment")
    await chat.wait_for_message("didn't get that")
    await chat.send("/start")
    await chat.wait_for_message("API key")
    await _edit(harness, chat, sent, account.api_key)
    await chat.wait_for_message("linked")
    await chat.send("just words")
    await chat.wait_for_message("didn't get that")  # no longer waiting for a key


async def test_key_edited_into_a_group_message_is_deleted(harness):
    account = harness.new_account()
    group = harness.tg.group(chat_id=-1001234567001, title="Team", bot_is_admin=True)
    chat = group.member(harness.tg.user(user_id=8001, first_name="Bob"))
    sent = await chat.send("see you tomorrow")
    await _edit(harness, chat, sent, account.api_key)
    await chat.wait_for_message("private chat")
    await chat.wait_for_deletion(sent)
    assert await harness.app.repos.chats.get(group.chat_id) is None


async def test_key_that_cannot_be_deleted_is_linked_and_the_user_told(harness):
    # Telegram lets a bot delete messages for 48 hours only; an old message edited into a
    # key stays, so the person has to delete it.
    account = harness.new_account()
    chat = await harness.private_chat()
    sent = await chat.send("an old note")
    await chat.wait_for_message("didn't get that")
    harness.tg.clock.advance(timedelta(hours=49))
    await _edit(harness, chat, sent, f"my key: {account.api_key}")
    reply = await chat.wait_for_message("linked")
    assert "could not delete" in reply.text and "Delete it yourself" in reply.text
    assert sent.message_id not in chat.deleted_ids
    assert (await harness.app.repos.chats.get(chat.chat_id)).is_linked

    # The same when Telegram refuses for any other reason.
    other = await harness.private_chat()
    harness.tg.fail_next("deleteMessage", error_code=400,
                         description="Bad Request: message can't be deleted")
    await other.send(harness.new_account().api_key)
    reply = await other.wait_for_message("linked")
    assert "could not delete" in reply.text
