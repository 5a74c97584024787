"""The outbox sender end to end: the real app drains what is queued into the fake Bot API.

Messages are queued the way features queue them (`storage.outbox.enqueue` in a
transaction, then `sender.wake()`); the fake answers as Telegram would (its limits on
where a test asks for them, injected 429/5xx/dropped connections, users who blocked the
bot). Time moves with the harness clock — the sender and the fake's limits both read it —
so nothing waits out a retry_after or a lease for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from aiogram.types import Chat, ChatMemberBanned, ChatMemberMember, ChatMemberUpdated, User

from handlers.membership import bot_back
from storage import Database
from storage.outbox import DROPPED, QUEUED, SENT, OutboxRepository, OutgoingMessage, enqueue
from tests.e2e import TIMEOUT

T = TypeVar("T")


# -- helpers --------------------------------------------------------------------------


async def queue(harness, *messages: OutgoingMessage, delay: timedelta = timedelta()) -> None:
    """As a feature queues: in one transaction, then wake the sender."""
    async with harness.app.db.transaction() as conn:
        for message in messages:
            await enqueue(conn, message, harness.clock.now() + delay)
    harness.app.sender.wake()


def notice(chat_id: int, ref: str, text: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(chat_id, "notice", ref, text or ref)


def outbox(harness) -> OutboxRepository:
    return OutboxRepository(harness.app.db, harness.clock)


def delivered(tg, chat_id: int) -> list[str]:
    """Texts the bot sent to a chat, in order."""
    record = tg.chats[chat_id]
    return [
        record.messages[mid].get("text", "")
        for mid in sorted(record.messages)
        if record.meta[mid].from_bot
    ]


def sends_to(tg, chat_id: int) -> list:
    return [r for r in tg.calls("sendMessage") if r.params.get("chat_id") == chat_id]


async def eventually(
    check: Callable[[], Awaitable[T]], *, what: str, within: float = TIMEOUT
) -> T:
    """Poll an async condition (the database) until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


async def link(harness, chat_id: int) -> None:
    """A chats row, as a linked key leaves it (the key itself plays no part here)."""
    await harness.app.repos.chats.link(
        chat_id, api_key_enc=b"not-a-key", api_key_masked=None, account_email=None,
        linked_by=chat_id,
    )


async def is_active(harness, chat_id: int) -> bool:
    link_row = await harness.app.repos.chats.get(chat_id)
    assert link_row is not None
    return link_row.active


@contextlib.asynccontextmanager
async def time_flies(
    harness,
    step: timedelta = timedelta(milliseconds=200),
    *,
    progress: Callable[[], int] | None = None,
) -> AsyncIterator[None]:
    """While the body waits, move the clock on by ``step`` every few milliseconds and wake
    the sender: retry_after, backoff and Telegram's windows pass at many times real speed.

    ``progress`` (e.g. how many messages were sent): time moves only while it stands
    still, so the sender runs into its limits rather than into the speed of this machine.
    """

    async def fly() -> None:
        seen = progress() if progress else 0
        while True:
            await asyncio.sleep(0.01)
            now = progress() if progress else 0
            if progress is None or now == seen:
                harness.clock.advance(step)
                harness.app.sender.wake()
            seen = now

    flying = asyncio.create_task(fly())
    try:
        yield
    finally:
        flying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flying


# -- within Telegram's limits ---------------------------------------------------------


async def test_a_burst_for_500_chats_goes_out_within_telegrams_limits(harness):
    tg = harness.tg
    tg.enforce_limits(timer=harness.clock.monotonic)
    users = [tg.user(900_000 + n, "Reader") for n in range(500)]
    busy = tg.user(899_999, "Busy")
    group = tg.group(-1001000000999, "Team")
    messages = [notice(u.user_id, f"burst-{u.user_id}", f"Hello {u.user_id}") for u in users]
    messages += [notice(busy.user_id, f"busy-{n}", f"Number {n}") for n in range(5)]
    # More than a group may get in a minute: the rest waits for the minute to pass.
    messages += [notice(group.chat_id, f"group-{n}", f"Group {n}") for n in range(24)]

    await queue(harness, *messages)
    async with time_flies(harness, progress=lambda: len(tg.calls("sendMessage"))):
        await tg.wait_for(
            lambda: len(tg.calls("sendMessage", ok=True)) >= len(messages),
            timeout=90,
            failure=lambda: f"{len(tg.calls('sendMessage', ok=True))} of {len(messages)} sent",
        )

    assert tg.limit_refusals == 0, [str(r) for r in tg.calls("sendMessage", ok=False)[:5]]
    assert [delivered(tg, u.user_id) for u in users] == [[f"Hello {u.user_id}"] for u in users]
    assert delivered(tg, busy.user_id) == [f"Number {n}" for n in range(5)]  # in queue order
    assert delivered(tg, group.chat_id) == [f"Group {n}" for n in range(24)]
    rows = await harness.app.db.fetchall(
        "SELECT state, COUNT(*) AS n, COUNT(telegram_message_id) AS ids, COUNT(owner) AS owners"
        " FROM outbox GROUP BY state"
    )
    assert [tuple(row) for row in rows] == [(SENT, len(messages), len(messages), 0)]


async def test_a_429_puts_the_message_back_until_retry_after(harness):
    tg = harness.tg
    throttled, other = await harness.private_chat(), await harness.private_chat()
    tg.fail_next("sendMessage", error_code=429, retry_after=30)
    await queue(harness, notice(throttled.chat_id, "throttled", "Later, please"))
    await tg.wait_for_request("sendMessage", lambda r: r.status == 429, timeout=TIMEOUT)

    entry = await eventually(
        lambda: _in_state(harness, "throttled", QUEUED), what="the message queued again"
    )
    assert entry.attempts == 0  # a 429 is no failed attempt
    assert entry.not_before >= harness.clock.now() + timedelta(seconds=25)

    # Nothing waits in place: another chat's message goes out meanwhile.
    await queue(harness, notice(other.chat_id, "meanwhile", "Meanwhile"))
    await other.wait_for_message("Meanwhile", timeout=TIMEOUT)
    assert delivered(tg, throttled.chat_id) == []

    harness.clock.advance(timedelta(seconds=30))
    harness.app.sender.wake()
    await throttled.wait_for_message("Later, please", timeout=TIMEOUT)
    assert [r.status for r in sends_to(tg, throttled.chat_id)] == [429, 200]


async def _in_state(harness, ref: str, state: str):
    entry = await outbox(harness).find("notice", ref)
    return entry if entry is not None and entry.state == state else None


# -- failures -------------------------------------------------------------------------


async def test_a_403_makes_the_chat_inactive_and_drops_its_queue(harness):
    tg = harness.tg
    gone, fine = await harness.private_chat(), await harness.private_chat()
    await link(harness, gone.chat_id)
    await link(harness, fine.chat_id)
    gone.user.block_bot(notify=False)  # the bot finds out only when it sends

    await queue(
        harness,
        *(notice(gone.chat_id, f"gone-{n}") for n in range(3)),
        *(notice(fine.chat_id, f"fine-{n}") for n in range(2)),
    )
    await eventually(lambda: _not(is_active(harness, gone.chat_id)), what="chat inactive")
    async with time_flies(harness):
        await fine.wait_until(lambda chat: len(chat.bot_messages()) == 2, timeout=TIMEOUT)

    entries = await outbox(harness).for_chat(gone.chat_id)
    assert [e.state for e in entries] == [DROPPED] * 3
    assert await is_active(harness, fine.chat_id)
    # Time passes and the sender keeps going; the chat that blocked the bot hears no more.
    async with time_flies(harness, step=timedelta(minutes=1)):
        await queue(harness, notice(fine.chat_id, "later"))
        await fine.wait_for_message("later", timeout=TIMEOUT)
    assert [r.status for r in sends_to(tg, gone.chat_id)] == [403]


async def _not(value: Awaitable[bool]) -> bool:
    return not await value


def _async(value: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def check() -> T:
        return value()

    return check


async def test_network_and_server_errors_back_off_then_deliver(harness):
    tg = harness.tg
    chat = await harness.private_chat()
    tg.fail_next("sendMessage", disconnect=True)
    tg.fail_next("sendMessage", error_code=502, description="Bad Gateway")
    await queue(harness, notice(chat.chat_id, "shaky", "Got through"))
    await tg.wait_for_request("sendMessage", lambda r: r.status == 0, timeout=TIMEOUT)
    entry = await eventually(
        lambda: _in_state(harness, "shaky", QUEUED), what="the message backing off"
    )
    assert entry.attempts == 1 and entry.not_before > harness.clock.now()

    async with time_flies(harness, step=timedelta(seconds=1)):
        await chat.wait_for_message("Got through", timeout=TIMEOUT)
    assert [r.status for r in sends_to(tg, chat.chat_id)] == [0, 502, 200]
    sent = await outbox(harness).find("notice", "shaky")
    assert sent is not None and (sent.state, sent.attempts) == (SENT, 2)


async def test_a_message_that_keeps_failing_is_dropped_after_bounded_attempts(
    harness, caplog
):
    tg = harness.tg
    chat = await harness.private_chat()
    tg.fail_next("sendMessage", times=50, error_code=500)
    caplog.set_level(logging.ERROR, logger="bot.sender")
    await queue(harness, notice(chat.chat_id, "doomed"))
    async with time_flies(harness, step=timedelta(seconds=30)):
        await eventually(lambda: _in_state(harness, "doomed", DROPPED), what="dropped")
    attempts = len(sends_to(tg, chat.chat_id))
    assert attempts == 10  # the sender's max_attempts
    assert any("dropped" in r.getMessage() for r in caplog.records), caplog.text
    # Dropped means dropped: no more tries, however long we wait.
    other = await harness.private_chat()
    async with time_flies(harness, step=timedelta(minutes=5)):
        await queue(harness, notice(other.chat_id, "afterwards"))
        await tg.wait_for_request(
            "sendMessage", lambda r: r.params.get("chat_id") == other.chat_id, timeout=TIMEOUT
        )
    assert len(sends_to(tg, chat.chat_id)) == attempts
    assert delivered(tg, chat.chat_id) == []


# -- my_chat_member -------------------------------------------------------------------


def spy_on_plans(harness, monkeypatch) -> list[int]:
    """Which chats the reminder service was asked to plan anew (the call goes through).

    aiogram copies the workflow data when polling starts, so the service the handlers get
    is the app's own; the spy sits on that instance.
    """
    service = harness.app.dispatcher.workflow_data["reminders"]
    original = service.plan_chat
    planned: list[int] = []

    async def plan_chat(chat_id: int) -> int:
        planned.append(chat_id)
        return await original(chat_id)

    monkeypatch.setattr(service, "plan_chat", plan_chat)
    return planned


async def test_blocking_the_bot_and_coming_back(harness, monkeypatch):
    tg = harness.tg
    allowed = await tg.wait_for(lambda: tg.allowed_updates, timeout=TIMEOUT)
    assert "my_chat_member" in allowed
    planned = spy_on_plans(harness, monkeypatch)
    chat = await harness.private_chat()
    await link(harness, chat.chat_id)
    # Queued for later: it must not go out days after the chat left.
    await queue(harness, notice(chat.chat_id, "tomorrow"), delay=timedelta(days=1))

    chat.user.block_bot()
    await eventually(lambda: _not(is_active(harness, chat.chat_id)), what="chat inactive")
    entry = await eventually(
        lambda: _in_state(harness, "tomorrow", DROPPED), what="its queue dropped"
    )
    assert entry.state == DROPPED
    assert planned == []

    await chat.send("/start")  # pressing Start again: kicked → member, then the message
    await eventually(lambda: is_active(harness, chat.chat_id), what="chat active again")
    await chat.wait_for_message(timeout=TIMEOUT)
    assert planned == [chat.chat_id]


async def test_a_group_removing_and_re_adding_the_bot(harness, monkeypatch):
    tg = harness.tg
    planned = spy_on_plans(harness, monkeypatch)
    owner = tg.user(777_001, "Owner")
    group = tg.group(-1001000000555, "Team", owner=owner)
    await link(harness, group.chat_id)

    group.remove_bot(by=owner)
    await eventually(lambda: _not(is_active(harness, group.chat_id)), what="group inactive")
    group.add_bot(by=owner)
    await eventually(lambda: is_active(harness, group.chat_id), what="group active again")
    await eventually(_async(lambda: planned), what="the group planned anew")
    assert planned == [group.chat_id]
    # A promotion is no coming back: nothing planned again (and nothing answered).
    tg.bot_membership_changed(group.record, "member", "administrator", owner.as_dict())
    member = group.member(owner)
    await member.send("/help")
    await member.wait_for_message(timeout=TIMEOUT)
    assert planned == [group.chat_id]
    assert await is_active(harness, group.chat_id)


async def test_a_chat_never_linked_is_not_planned(harness, monkeypatch, caplog):
    tg = harness.tg
    planned = spy_on_plans(harness, monkeypatch)
    stranger = await harness.private_chat()  # never linked: nothing to mark or plan
    stranger.user.block_bot()
    await stranger.send("/help")  # unblocks, then asks
    await stranger.wait_for_message(timeout=TIMEOUT)
    assert await harness.app.repos.chats.get(stranger.chat_id) is None
    assert planned == []
    assert [r.params["chat_id"] for r in tg.calls("sendMessage")] == [stranger.chat_id]
    assert "unhandled" not in caplog.text


async def test_coming_back_without_a_reminder_service() -> None:
    """The handler alone: the reminder service is optional in the workflow data."""

    calls: list[int] = []

    class Recording:
        async def regained(self, chat_id: int) -> bool:
            calls.append(chat_id)
            return True

    now = datetime.now(UTC)
    bot_user = User(id=1, is_bot=True, first_name="Bot")
    event = ChatMemberUpdated(
        chat=Chat(id=42, type="private"),
        from_user=User(id=42, is_bot=False, first_name="Ann"),
        date=now,
        old_chat_member=ChatMemberBanned(user=bot_user, until_date=0),
        new_chat_member=ChatMemberMember(user=bot_user),
    )
    await bot_back(event, Recording(), reminders=None)  # type: ignore[arg-type]
    assert calls == [42]


# -- a sender that died ---------------------------------------------------------------


async def test_claims_of_a_crashed_sender_go_out_once_after_their_lease(harness):
    tg = harness.tg
    chats = [await harness.private_chat() for _ in range(3)]
    await harness.stop()

    # Another process claimed three messages, sent the first and recorded it, then died
    # before sending the other two.
    db = Database(harness.settings.database_path)
    await db.connect()
    try:
        dead = OutboxRepository(db, harness.clock)
        async with db.transaction() as conn:
            for chat, text in zip(chats, ("First", "Second", "Third"), strict=True):
                await enqueue(conn, notice(chat.chat_id, text), harness.clock.now())
        claimed = await dead.claim("dead-process", limit=3, lease=timedelta(seconds=60))
        assert len(claimed) == 3
        bot = tg.make_bot()
        try:
            first = await bot.send_message(chats[0].chat_id, "First")
        finally:
            await bot.session.close()
        await dead.mark_sent(claimed[0].outbox_id, first.message_id)
    finally:
        await db.close()

    await harness.start()
    # The lease still holds: the new sender leaves the claims alone.
    await chats[1].expect_no_message(within=0.3)
    entries = [await outbox(harness).find("notice", t) for t in ("Second", "Third")]
    assert [(e.state, e.owner) for e in entries if e] == [("sending", "dead-process")] * 2

    harness.clock.advance(timedelta(seconds=61))
    harness.app.sender.wake()
    await chats[1].wait_for_message("Second", timeout=TIMEOUT)
    await chats[2].wait_for_message("Third", timeout=TIMEOUT)
    async with time_flies(harness, step=timedelta(minutes=2)):
        await queue(harness, notice(chats[2].chat_id, "Fourth"))
        await chats[2].wait_for_message("Fourth", timeout=TIMEOUT)
    assert [delivered(tg, c.chat_id) for c in chats] == [
        ["First"], ["Second"], ["Third", "Fourth"]
    ]
    rows = await harness.app.db.fetchall("SELECT state, owner FROM outbox")
    assert {(row["state"], row["owner"]) for row in rows} == {(SENT, None)}
