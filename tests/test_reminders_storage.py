"""ReminderRepository on a real SQLite file: planning rules, exclusive claims (two
processes on one database), leases, and the one-transaction hand-off to the outbox."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

import storage.reminders as reminders_module
from core.clock import ManualClock
from storage import Database, Repositories
from storage.outbox import OutgoingMessage
from storage.reminders import CLAIMED, PLANNED, SENT, SKIPPED, ReminderRepository

CHAT = 42
ORDER = "cmorder0000000000000000001"
DAY = 86400
HOUR = 3600
OFFSETS = (3 * DAY, DAY, 3 * HOUR)


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
async def db(tmp_path):
    database = Database(tmp_path / "bot.sqlite3")
    await database.connect()
    yield database
    await database.close()


@pytest.fixture
async def repos(db, clock):
    repos = Repositories.build(db, clock)
    await repos.chats.link(
        CHAT, api_key_enc=b"x", api_key_masked=None, account_email=None, linked_by=None
    )
    return repos


def message(reminder_id: int) -> OutgoingMessage:
    return OutgoingMessage(chat_id=CHAT, kind="reminder", ref=str(reminder_id), text="soon")


async def outbox_rows(db: Database) -> list:
    return await db.fetchall("SELECT * FROM outbox WHERE kind = 'reminder'")


async def states(repos, order_id: str = ORDER) -> dict[int, str]:
    return {
        int(r.offset.total_seconds()): r.state
        for r in await repos.reminders.for_order(CHAT, order_id)
    }


async def test_plan_adds_one_row_per_offset_due_at_expiry_minus_offset(repos, clock):
    expires = clock.now() + timedelta(days=7)
    assert await repos.reminders.plan(CHAT, ORDER, expires, OFFSETS) == 3
    rows = await repos.reminders.for_order(CHAT, ORDER)
    assert [r.due_at for r in rows] == [expires - timedelta(seconds=s) for s in OFFSETS]
    assert {r.state for r in rows} == {PLANNED}
    # Planning again changes nothing.
    assert await repos.reminders.plan(CHAT, ORDER, expires, OFFSETS) == 0


@pytest.mark.parametrize(
    ("left", "planned"),
    [
        (timedelta(days=2), {3 * DAY, DAY, 3 * HOUR}),  # 3d is past: it is the latest past one
        (timedelta(hours=20), {DAY, 3 * HOUR}),  # 3d and 1d past: only 1d, once
        (timedelta(hours=2), {3 * HOUR}),  # all past: only the most recent
        (timedelta(seconds=-1), set()),  # expired: nothing at all
    ],
)
async def test_past_offsets_only_the_most_recent_while_not_expired(repos, clock, left, planned):
    await repos.reminders.plan(CHAT, ORDER, clock.now() + left, OFFSETS)
    assert set(await states(repos)) == planned


async def test_fired_reminders_are_never_planned_again(repos, clock):
    expires = clock.now() + timedelta(days=7)
    await repos.reminders.plan(CHAT, ORDER, expires, OFFSETS)
    clock.advance(timedelta(days=6, hours=1))  # 1d is due (3d too, superseded by it)
    (due,) = await repos.reminders.claim_due("a", timedelta(minutes=5))
    assert due.offset == timedelta(days=1)
    assert await repos.reminders.hand_off(due.reminder_id, "a", message(due.reminder_id))
    assert await states(repos) == {3 * DAY: SKIPPED, DAY: SENT, 3 * HOUR: PLANNED}
    # The chat drops 1d: 3d is past and fell due before the one already sent: not again.
    await repos.reminders.plan(CHAT, ORDER, expires, (3 * DAY, 3 * HOUR))
    assert await states(repos) == {3 * DAY: SKIPPED, DAY: SENT, 3 * HOUR: PLANNED}
    # A new, later time that is already past is a reminder not yet given: once.
    await repos.reminders.plan(CHAT, ORDER, expires, (3 * DAY, 20 * HOUR, 3 * HOUR))
    assert (await states(repos))[20 * HOUR] == PLANNED


async def test_another_expiry_replaces_planned_rows_and_keeps_sent_ones(repos, clock):
    expires = clock.now() + timedelta(days=7)
    await repos.reminders.plan(CHAT, ORDER, expires, OFFSETS)
    clock.advance(timedelta(days=4, hours=1))
    (due,) = await repos.reminders.claim_due("a", timedelta(minutes=5))
    await repos.reminders.hand_off(due.reminder_id, "a", message(due.reminder_id))
    extended = expires + timedelta(days=30)
    assert await repos.reminders.plan(CHAT, ORDER, extended, OFFSETS) == 3
    rows = await repos.reminders.for_order(CHAT, ORDER)
    old = [(r.offset, r.state) for r in rows if r.expires_at == expires]
    assert old == [(timedelta(days=3), SENT)]
    assert {r.state for r in rows if r.expires_at == extended} == {PLANNED}


async def test_claim_is_exclusive_between_two_processes(tmp_path, clock):
    """Two processes = two connections with their own locks, on one database file."""
    first, second = Database(tmp_path / "shared.sqlite3"), Database(tmp_path / "shared.sqlite3")
    await first.connect()
    await second.connect()
    try:
        repos = Repositories.build(first, clock)
        await repos.chats.link(
            CHAT, api_key_enc=b"x", api_key_masked=None, account_email=None, linked_by=None
        )
        for n in range(30):
            await repos.reminders.plan(
                CHAT, f"order{n}", clock.now() + timedelta(days=7), OFFSETS
            )
        clock.advance(timedelta(days=4, hours=1))  # the 3d reminder of every order is due
        a, b = ReminderRepository(first, clock), ReminderRepository(second, clock)
        for _ in range(3):  # a few rounds, so the two really race
            rounds = await asyncio.gather(
                *(repo.claim_due(owner, timedelta(minutes=5), limit=7)
                  for repo, owner in ((a, "a"), (b, "b"), (a, "a2"), (b, "b2")))
            )
            ids = [r.reminder_id for claimed in rounds for r in claimed]
            assert len(ids) == len(set(ids)), "a reminder was claimed twice"
        rows = await first.fetchall("SELECT state, owner FROM reminders WHERE offset_seconds = ?",
                                    (3 * DAY,))
        assert {row["state"] for row in rows} == {CLAIMED}
        assert len(rows) == 30
    finally:
        await first.close()
        await second.close()


async def test_one_due_row_two_owners_one_gets_it(repos, clock):
    await repos.reminders.plan(CHAT, ORDER, clock.now() + timedelta(hours=2), OFFSETS)
    got = await asyncio.gather(
        repos.reminders.claim_due("a", timedelta(minutes=5)),
        repos.reminders.claim_due("b", timedelta(minutes=5)),
    )
    assert sorted(len(claimed) for claimed in got) == [0, 1]


async def test_an_expired_lease_is_reclaimable_and_the_old_owner_loses_it(repos, clock):
    await repos.reminders.plan(CHAT, ORDER, clock.now() + timedelta(hours=2), OFFSETS)
    (due,) = await repos.reminders.claim_due("a", timedelta(minutes=1))
    assert await repos.reminders.claim_due("b", timedelta(minutes=1)) == []
    clock.advance(timedelta(minutes=2))  # "a" died or hung
    (again,) = await repos.reminders.claim_due("b", timedelta(minutes=1))
    assert again.reminder_id == due.reminder_id and again.owner == "b"
    assert not await repos.reminders.hand_off(due.reminder_id, "a", message(due.reminder_id))
    assert await repos.reminders.hand_off(due.reminder_id, "b", message(due.reminder_id))
    assert len(await outbox_rows(repos.reminders._db)) == 1


async def test_hand_off_marks_sent_and_queues_once(repos, db, clock):
    await repos.reminders.plan(CHAT, ORDER, clock.now() + timedelta(hours=2), OFFSETS)
    (due,) = await repos.reminders.claim_due("a", timedelta(minutes=5))
    assert await repos.reminders.hand_off(due.reminder_id, "a", message(due.reminder_id))
    assert not await repos.reminders.hand_off(due.reminder_id, "a", message(due.reminder_id))
    (row,) = await outbox_rows(db)
    assert (row["chat_id"], row["ref"], row["state"]) == (CHAT, str(due.reminder_id), "queued")
    (sent,) = await repos.reminders.for_order(CHAT, ORDER)
    assert sent.state == SENT and sent.sent_at == clock.now()
    # Sent stays sent: neither claimable nor planned again.
    clock.advance(timedelta(hours=1))
    assert await repos.reminders.claim_due("a", timedelta(minutes=5)) == []


async def test_hand_off_is_one_transaction(repos, db, clock, monkeypatch):
    await repos.reminders.plan(CHAT, ORDER, clock.now() + timedelta(hours=2), OFFSETS)
    (due,) = await repos.reminders.claim_due("a", timedelta(minutes=5))

    async def broken(conn, message, now):
        raise RuntimeError("disk full")

    monkeypatch.setattr(reminders_module, "enqueue", broken)
    with pytest.raises(RuntimeError):
        await repos.reminders.hand_off(due.reminder_id, "a", message(due.reminder_id))
    (row,) = await repos.reminders.for_order(CHAT, ORDER)
    assert row.state == CLAIMED  # not sent without its message
    monkeypatch.undo()
    assert await repos.reminders.hand_off(due.reminder_id, "a", message(due.reminder_id))


async def test_release_and_skip(repos, clock):
    await repos.reminders.plan(CHAT, ORDER, clock.now() + timedelta(hours=2), OFFSETS)
    (due,) = await repos.reminders.claim_due("a", timedelta(minutes=5))
    assert not await repos.reminders.release(due.reminder_id, "b")  # not b's to give back
    assert await repos.reminders.release(due.reminder_id, "a")
    (again,) = await repos.reminders.claim_due("b", timedelta(minutes=5))
    assert await repos.reminders.skip(again.reminder_id, "b")
    assert await states(repos) == {3 * HOUR: SKIPPED}


async def test_settings_and_mutes_live_with_the_chat(repos, clock):
    assert await repos.reminders.offsets(CHAT) is None
    await repos.reminders.set_offsets(CHAT, (DAY, HOUR))
    assert await repos.reminders.offsets(CHAT) == (DAY, HOUR)
    await repos.reminders.set_offsets(CHAT, ())
    assert await repos.reminders.offsets(CHAT) == ()
    await repos.reminders.plan(CHAT, ORDER, clock.now() + timedelta(days=7), OFFSETS)
    assert await repos.reminders.mute(CHAT, ORDER)
    assert not await repos.reminders.mute(CHAT, ORDER)
    assert await repos.reminders.muted(CHAT) == [ORDER]
    assert await repos.reminders.for_order(CHAT, ORDER) == []  # planned ones dropped
    assert await repos.reminders.unmute(CHAT, ORDER)
    assert await repos.reminders.muted(CHAT) == []
    # Logging out forgets them with the chat.
    await repos.reminders.mute(CHAT, ORDER)
    await repos.chats.forget(CHAT)
    assert await repos.reminders.muted(CHAT) == []


async def test_planning_with_no_offsets_drops_the_planned_ones(repos, clock):
    await repos.reminders.plan(CHAT, ORDER, clock.now() + timedelta(days=7), OFFSETS)
    assert await repos.reminders.plan(CHAT, ORDER, clock.now() + timedelta(days=7), ()) == 0
    assert await repos.reminders.for_order(CHAT, ORDER) == []


async def test_next_due_is_the_earliest_planned_time_or_lease_end(repos, clock):
    assert await repos.reminders.next_due() is None
    expires = clock.now() + timedelta(days=7)
    await repos.reminders.plan(CHAT, ORDER, expires, OFFSETS)
    assert await repos.reminders.next_due() == expires - timedelta(days=3)
    clock.advance(timedelta(days=6, hours=2))  # 3d and 1d due; the 1d one is claimed
    (due,) = await repos.reminders.claim_due("a", timedelta(minutes=5))
    assert await repos.reminders.next_due() == clock.now() + timedelta(minutes=5)
    await repos.reminders.hand_off(due.reminder_id, "a", message(due.reminder_id))
    assert await repos.reminders.next_due() == expires - timedelta(hours=3)
