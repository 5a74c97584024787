"""The outbox repository: claims with owner and lease, settling them, two processes.

Time is a ManualClock moved by hand; "two processes" are two connections to one file.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.clock import ManualClock
from storage import Database
from storage.chats import ChatRepository
from storage.errors import StorageError
from storage.outbox import (
    DROPPED,
    QUEUED,
    SENDING,
    SENT,
    OutboxRepository,
    OutgoingMessage,
    enqueue,
)

LEASE = timedelta(seconds=60)


@pytest.fixture
async def db(tmp_path):
    database = Database(tmp_path / "bot.sqlite3")
    await database.connect()
    yield database
    await database.close()


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def outbox(db, clock):
    return OutboxRepository(db, clock)


async def queue(db, clock, chat_id: int, ref: str, *, delay: timedelta = timedelta()) -> int:
    async with db.transaction() as conn:
        await enqueue(
            conn, OutgoingMessage(chat_id, "notice", ref, f"text {ref}"), clock.now() + delay
        )
    row = await db.fetchone("SELECT message_id FROM outbox WHERE ref = ?", (ref,))
    return row["message_id"]


async def test_claim_takes_due_heads_of_chats_in_queue_order(db, clock, outbox):
    a1 = await queue(db, clock, 1, "a1")
    a2 = await queue(db, clock, 1, "a2")
    b1 = await queue(db, clock, 2, "b1")
    await queue(db, clock, 3, "later", delay=timedelta(minutes=5))

    claimed = await outbox.claim("me", limit=10, lease=LEASE)
    # One per chat (a2 waits behind a1), nothing before its time.
    assert [e.outbox_id for e in claimed] == [a1, b1]
    assert {e.state for e in claimed} == {SENDING}
    assert claimed[0].owner == "me" and claimed[0].lease_until == clock.now() + LEASE
    assert await outbox.claim("me", limit=10, lease=LEASE) == []

    await outbox.mark_sent(a1, telegram_message_id=77)
    (next_one,) = await outbox.claim("me", limit=10, lease=LEASE)
    assert next_one.outbox_id == a2
    await outbox.mark_sent(a2, telegram_message_id=78)
    await outbox.mark_sent(b1, telegram_message_id=79)
    clock.advance(timedelta(minutes=5))
    (later,) = await outbox.claim("me", limit=10, lease=LEASE)
    assert later.ref == "later"


async def test_claim_respects_limit_and_skipped_chats(db, clock, outbox):
    for chat_id in (1, 2, 3, -100):
        await queue(db, clock, chat_id, f"m{chat_id}")
    claimed = await outbox.claim("me", limit=2, lease=LEASE, skip_chats={1, -100})
    assert [e.chat_id for e in claimed] == [2, 3]
    rest = await outbox.claim("me", limit=5, lease=LEASE)
    assert sorted(e.chat_id for e in rest) == [-100, 1]
    assert [e.is_group for e in rest if e.chat_id == -100] == [True]
    assert await outbox.claim("me", limit=0, lease=LEASE) == []


async def test_a_dead_owners_claims_are_taken_over_after_the_lease(db, clock, outbox):
    row = await queue(db, clock, 1, "x")
    (claimed,) = await outbox.claim("dead", limit=5, lease=LEASE)
    assert claimed.outbox_id == row
    assert await outbox.claim("alive", limit=5, lease=LEASE) == []  # the lease holds

    clock.advance(LEASE)
    (taken,) = await outbox.claim("alive", limit=5, lease=LEASE)
    assert taken.outbox_id == row and taken.owner == "alive"
    # The dead one, should it wake up, may not send it any more.
    assert not await outbox.confirm(row, "dead", LEASE)
    assert await outbox.confirm(row, "alive", LEASE)
    assert not await outbox.reschedule(row, "dead", clock.now())


async def test_confirm_renews_the_lease(db, clock, outbox):
    row = await queue(db, clock, 1, "x")
    await outbox.claim("me", limit=1, lease=LEASE)
    clock.advance(timedelta(seconds=50))
    assert await outbox.confirm(row, "me", LEASE)
    clock.advance(timedelta(seconds=50))  # past the first lease, within the renewed one
    assert await outbox.claim("other", limit=1, lease=LEASE) == []


async def test_sent_is_final(db, clock, outbox):
    row = await queue(db, clock, 1, "x")
    await outbox.claim("me", limit=1, lease=LEASE)
    await outbox.mark_sent(row, telegram_message_id=42)
    sent_at = clock.now()
    clock.advance(LEASE * 10)
    assert await outbox.claim("other", limit=5, lease=LEASE) == []
    assert not await outbox.confirm(row, "me", LEASE)
    assert not await outbox.drop(row)
    assert await outbox.drop_chat(1) == 0
    entry = await outbox.get(row)
    assert entry is not None
    assert (entry.state, entry.telegram_message_id, entry.sent_at) == (SENT, 42, sent_at)
    assert entry.owner is None and entry.lease_until is None


async def test_reschedule_counts_attempts_unless_told_not_to(db, clock, outbox):
    row = await queue(db, clock, 1, "x")
    await outbox.claim("me", limit=1, lease=LEASE)
    assert await outbox.reschedule(row, "me", clock.now() + timedelta(seconds=30))
    entry = await outbox.get(row)
    assert entry is not None and (entry.state, entry.attempts) == (QUEUED, 1)
    assert await outbox.claim("me", limit=1, lease=LEASE) == []  # not before its time

    clock.advance(timedelta(seconds=30))
    await outbox.claim("me", limit=1, lease=LEASE)
    assert await outbox.reschedule(row, "me", clock.now(), count_attempt=False)
    entry = await outbox.get(row)
    assert entry is not None and entry.attempts == 1
    assert entry.not_before == clock.now()


async def test_drop_and_drop_chat(db, clock, outbox):
    a1 = await queue(db, clock, 1, "a1")
    a2 = await queue(db, clock, 1, "a2")
    b1 = await queue(db, clock, 2, "b1")
    await outbox.claim("me", limit=5, lease=LEASE)  # a1 and b1 sending, a2 queued
    assert await outbox.drop_chat(1) == 2
    assert [e.state for e in await outbox.for_chat(1)] == [DROPPED, DROPPED]
    assert not await outbox.confirm(a1, "me", LEASE)
    assert await outbox.drop(b1)
    assert (await outbox.get(b1)).state == DROPPED  # type: ignore[union-attr]
    assert await outbox.get(a2) is not None
    assert (await outbox.find("notice", "a2")).outbox_id == a2  # type: ignore[union-attr]
    assert await outbox.find("notice", "nope") is None


async def test_enqueue_is_once_per_kind_and_ref(db, clock, outbox):
    message = OutgoingMessage(1, "reminder", "r1", "hello")
    async with db.transaction() as conn:
        assert await enqueue(conn, message, clock.now())
        assert not await enqueue(conn, message, clock.now())
    assert len(await outbox.for_chat(1)) == 1


async def test_purge_forgets_only_old_finished_messages(db, clock, outbox):
    sent = await queue(db, clock, 1, "sent")
    dropped = await queue(db, clock, 2, "dropped")
    waiting = await queue(db, clock, 3, "waiting", delay=timedelta(days=-40))
    await outbox.claim("me", limit=1, lease=LEASE, skip_chats={2, 3})
    await outbox.mark_sent(sent, 1)
    await outbox.drop(dropped)
    clock.advance(timedelta(days=31))
    fresh = await queue(db, clock, 4, "fresh")
    await outbox.drop(fresh)
    assert await outbox.purge_finished(timedelta(days=30)) == 2
    assert await outbox.get(sent) is None and await outbox.get(dropped) is None
    assert await outbox.get(waiting) is not None and await outbox.get(fresh) is not None


async def test_two_processes_never_claim_the_same_row(tmp_path, clock):
    path = tmp_path / "shared.sqlite3"
    first, second = Database(path), Database(path)
    await first.connect()
    await second.connect()
    try:
        for chat_id in range(1, 201):
            await queue(first, clock, chat_id, f"m{chat_id}")
        repos = {"one": OutboxRepository(first, clock), "two": OutboxRepository(second, clock)}

        async def drain(owner: str) -> list[int]:
            got: list[int] = []
            while batch := await repos[owner].claim(owner, limit=7, lease=LEASE):
                got += [e.outbox_id for e in batch]
                await asyncio.sleep(0)
            return got

        one, two = await asyncio.gather(drain("one"), drain("two"))
        assert not set(one) & set(two)
        assert len(one) + len(two) == 200
        # The database agrees on who holds each row (the last claim is the one that counts).
        rows = await first.fetchall("SELECT message_id, owner FROM outbox")
        assert {row["message_id"]: row["owner"] for row in rows} == {
            **dict.fromkeys(one, "one"), **dict.fromkeys(two, "two")
        }
    finally:
        await first.close()
        await second.close()


async def test_driver_errors_come_out_as_storage_errors(db, clock, outbox):
    await db.execute("DROP TABLE outbox")
    with pytest.raises(StorageError, match="outbox: could not claim"):
        await outbox.claim("me", limit=1, lease=LEASE)
    with pytest.raises(StorageError):
        await outbox.mark_sent(1, 1)


async def test_chats_remember_whether_they_are_active(db, clock):
    chats = ChatRepository(db, clock)
    assert not await chats.set_active(5, False)  # unknown chat: nothing to mark
    await chats.link(5, api_key_enc=b"x", api_key_masked="k…", account_email=None, linked_by=5)
    assert (await chats.get(5)).active  # type: ignore[union-attr]
    assert await chats.set_active(5, False)
    assert not (await chats.get(5)).active  # type: ignore[union-attr]
    assert await chats.set_active(5, True)
    assert (await chats.get(5)).active  # type: ignore[union-attr]
