"""Group storage: single-use link invitations, requests decided once, screen owners, the
credentials setting, and a chat moved to its supergroup id with everything kept for it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.clock import ManualClock
from storage import Database, Repositories
from storage.errors import DuplicateRequest
from storage.groups import ADMINS, APPROVED, DECLINED, EVERYONE, EXPIRED, ScreenOwner
from storage.orders import LocalOrder

OLD, NEW = -4001, -1004001


@pytest.fixture
async def db(tmp_path):
    database = Database(tmp_path / "groups.sqlite3")
    await database.connect()
    yield database
    await database.close()


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def repos(db, clock):
    return Repositories.build(db, clock)


async def linked(repos, chat_id: int) -> None:
    await repos.chats.link(chat_id, api_key_enc=b"x", api_key_masked="****abcd",
                           account_email="a@example.com", linked_by=1)


async def test_an_invitation_is_spent_once_and_expires(repos, clock):
    invitation = await repos.groups.invite(OLD, "Team", created_by=1, ttl=timedelta(minutes=10))
    assert len(invitation.token) >= 20 and str(OLD) not in invitation.token
    assert await repos.groups.invitation(invitation.token) == invitation
    assert await repos.groups.use_invitation(invitation.token, 1) == invitation
    assert await repos.groups.use_invitation(invitation.token, 2) is None
    assert await repos.groups.invitation(invitation.token) is None

    late = await repos.groups.invite(OLD, "Team", created_by=1, ttl=timedelta(minutes=10))
    clock.advance(timedelta(minutes=10))
    assert await repos.groups.use_invitation(late.token, 1) is None
    assert await repos.groups.invitation("no-such-token") is None


async def test_a_request_is_decided_by_exactly_one_caller(repos, clock):
    await linked(repos, OLD)
    request = await repos.groups.create_request(OLD, 7, "Mila", "op1", timedelta(hours=24))
    assert request.is_open and await repos.groups.open_request_for_op("op1") == request
    assert await repos.groups.decide(request.request_id, APPROVED, by=1, name="Olga")
    assert not await repos.groups.decide(request.request_id, DECLINED, by=2, name="Artem")
    decided = await repos.groups.request(request.request_id)
    assert decided.status == APPROVED and decided.decided_name == "Olga"

    other = await repos.groups.create_request(OLD, 7, "Mila", "op2", timedelta(hours=24))
    # One open request per quote, enforced by the database (any process).
    with pytest.raises(DuplicateRequest):
        await repos.groups.create_request(OLD, 8, "Lev", "op2", timedelta(hours=24))
    assert await repos.groups.expired_requests() == []
    clock.advance(timedelta(hours=24))
    assert [r.request_id for r in await repos.groups.expired_requests()] == [other.request_id]
    assert await repos.groups.decide(other.request_id, EXPIRED)
    assert await repos.groups.expired_requests() == []


async def test_screen_owners_and_the_credentials_setting(repos):
    assert await repos.groups.screen_owner(OLD, 5) is None
    await repos.groups.remember_screen(OLD, 5, ScreenOwner(7, "Mila"))
    assert await repos.groups.screen_owner(OLD, 5) == ScreenOwner(7, "Mila")

    assert await repos.groups.credentials_visibility(OLD) == ADMINS  # unknown chat
    assert not await repos.groups.set_credentials_visibility(OLD, EVERYONE)  # not linked
    await linked(repos, OLD)
    assert await repos.groups.credentials_visibility(OLD) == ADMINS  # the default
    assert await repos.groups.set_credentials_visibility(OLD, EVERYONE)
    assert await repos.groups.credentials_visibility(OLD) == EVERYONE
    with pytest.raises(ValueError):
        await repos.groups.set_credentials_visibility(OLD, "nobody")


async def test_a_group_moves_to_its_supergroup_id_with_everything_kept(repos, clock, db):
    await linked(repos, OLD)
    await repos.groups.set_credentials_visibility(OLD, EVERYONE)
    expires = clock.now() + timedelta(days=7)
    await repos.orders.upsert(LocalOrder(
        order_id="o1", chat_id=OLD, type="ipv4", status="active", quantity=2, country_id=1,
        country_name="Germany", period_id=1, charged=Decimal("2.50"), expires_at=expires,
        created_at=clock.now(),
    ))
    assert await repos.reminders.plan(OLD, "o1", expires, [86400]) == 1
    await repos.operations.create("op1", chat_id=OLD, user_id=7, kind="order", request={})
    request = await repos.groups.create_request(OLD, 7, "Mila", "op1", timedelta(hours=24))
    await repos.groups.remember_screen(OLD, 5, ScreenOwner(7, "Mila"))
    # The new supergroup was seen first (someone sent /start there): an empty row.
    await db.execute("INSERT INTO chats (chat_id, created_at) VALUES (?, ?)",
                     (NEW, clock.now().isoformat()))

    assert await repos.chats.move(OLD, NEW)
    assert not await repos.chats.move(OLD, NEW), "the second notice finds nothing to move"
    assert await repos.chats.get(OLD) is None
    moved = await repos.chats.get(NEW)
    assert moved is not None and moved.is_linked and moved.linked_by == 1
    assert await repos.groups.credentials_visibility(NEW) == EVERYONE
    assert (await repos.orders.get(NEW, "o1")) is not None
    assert (await repos.operations.get("op1")).chat_id == NEW
    assert (await repos.groups.request(request.request_id)).chat_id == NEW
    rows = await db.fetchall("SELECT chat_id FROM reminders")
    assert [row["chat_id"] for row in rows] == [NEW]
    # Its screens were in the old chat, where nobody can tap any more.
    assert await repos.groups.screen_owner(OLD, 5) is None
    assert (await db.fetchone("PRAGMA foreign_key_check")) is None


async def test_unlink_keeps_the_chat_and_is_seen_at_once(repos):
    await linked(repos, OLD)
    assert (await repos.chats.get(OLD)).is_linked  # read once: the repository keeps a copy
    assert await repos.chats.unlink(OLD)
    link = await repos.chats.get(OLD)
    assert link is not None and not link.is_linked and link.linked_by is None
    assert not await repos.chats.unlink(OLD)
