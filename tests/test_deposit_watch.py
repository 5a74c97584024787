"""The deposit watch without Telegram: which deposits are news, the currency of one, the
migration's baseline for chats linked before it, pending deposits, and a 429's Retry-After."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.clock import ManualClock
from proxy_api import Page, RateLimited, Transaction
from services.deposit_watch import ANNOUNCE, SKIP, WAIT, DepositWatch, classify, deposit_currency
from storage import Database, Repositories
from storage.outbox import OutgoingMessage

CHAT = 42
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def tx(
    tx_id: str = "tx1",
    *,
    status: str = "completed",
    amount: str = "50.00",
    at: datetime = T0,
    description: str | None = "Crypto deposit (BTC)",
    method: str | None = "oxapay",
) -> Transaction:
    return Transaction.model_validate({
        "id": tx_id, "type": "deposit", "amount": amount, "description": description,
        "paymentMethod": method, "status": status, "createdAt": at.isoformat(),
    })


# -- which deposits are news ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("deposit", "known", "expected"),
    [
        (tx(at=T0), None, ANNOUNCE),  # at the baseline: after the link
        (tx(at=T0 - timedelta(seconds=1)), None, SKIP),  # there before the link
        (tx(at=T0 - timedelta(days=9)), "pending", ANNOUNCE),  # seen pending, completed now
        (tx(), "announced", None),
        (tx(), "skipped", None),
        (tx(status="pending"), None, WAIT),
        (tx(status="pending", at=T0 - timedelta(days=1)), None, WAIT),
        (tx(status="pending"), "pending", None),
        (tx(status="failed"), None, None),
        (tx(amount="0"), None, SKIP),
    ],
)
def test_classify(deposit, known, expected):
    assert classify(deposit, known, T0) == expected


def test_without_a_baseline_nothing_unseen_is_announced():
    assert classify(tx(), None, None) == SKIP
    assert classify(tx(), "pending", None) == ANNOUNCE


@pytest.mark.parametrize(
    ("description", "method", "expected"),
    [
        ("Crypto deposit (BTC)", "oxapay", "BTC"),
        ("Crypto deposit (USDT_TRC20)", "oxapay", "USDT_TRC20"),
        ("Crypto deposit (usdt trc20)", "oxapay", "USDT_TRC20"),
        ("Deposit of ETH on Base", "oxapay", "ETH"),
        ("Crypto deposit", "oxapay", None),
        ("Manual credit", "admin", None),
        (None, None, None),
        ("Crypto deposit (WHATEVER)", "oxapay", None),
    ],
)
def test_deposit_currency(description, method, expected):
    assert deposit_currency(tx(description=description, method=method)) == expected


# -- with storage ---------------------------------------------------------------------------


class FakeApi:
    def __init__(self) -> None:
        self.deposits: list[Transaction] = []
        self.error: Exception | None = None
        self.reads = 0

    async def list_transactions(self, page=1, per_page=20, type=None) -> Page[Transaction]:
        self.reads += 1
        if self.error is not None:
            raise self.error
        items = sorted(self.deposits, key=lambda t: t.created_at, reverse=True)
        chunk = items[(page - 1) * per_page : page * per_page]
        pages = max(1, -(-len(items) // per_page))
        return Page[Transaction].model_validate({
            "items": chunk,
            "meta": {"page": page, "perPage": per_page, "total": len(items), "totalPages": pages},
        })

    async def get_account(self):
        class _Account:
            balance = Decimal("99.00")

        return _Account()


class FakeAccounts:
    def __init__(self, api: FakeApi) -> None:
        self.api = api

    async def api_for(self, chat_id: int) -> FakeApi:
        return self.api

    async def read_account(self, api: FakeApi) -> object:
        return await api.get_account()


@pytest.fixture
def clock():
    return ManualClock(T0)


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


@pytest.fixture
def api():
    return FakeApi()


@pytest.fixture
def watch(repos, clock, api):
    return DepositWatch(
        FakeAccounts(api), repos, clock,  # type: ignore[arg-type]
        poll_interval=timedelta(seconds=20), slow_interval=timedelta(minutes=10),
    )


async def _read(watch: DepositWatch, clock: ManualClock) -> list:
    clock.advance(watch.poll_interval)
    return await watch.poll_due()


async def test_a_pending_deposit_is_announced_once_it_completes(watch, clock, api, repos):
    api.deposits = [tx("old", status="pending", at=T0 - timedelta(hours=2))]
    await watch.watch(CHAT)
    assert await _read(watch, clock) == []
    assert await repos.deposits.states_of(CHAT) == {"old": "pending"}

    api.deposits = [tx("old", at=T0 - timedelta(hours=2), amount="30.00")]
    (arrival,) = await _read(watch, clock)
    assert (arrival.tx_id, arrival.amount, arrival.currency) == ("old", Decimal("30.00"), "BTC")
    assert arrival.balance == Decimal("99.00")
    message = OutgoingMessage(CHAT, "deposit", f"{CHAT}:old", "+$30.00")
    assert await watch.hand_off(arrival, message)
    assert not await watch.hand_off(arrival, message)  # once
    assert await _read(watch, clock) == []


async def test_only_the_pages_that_may_hold_news_are_read(watch, clock, api):
    # Fifty deposits from before the link: the first read records a page and stops there.
    api.deposits = [tx(f"h{i}", at=T0 - timedelta(days=1, minutes=i)) for i in range(50)]
    await watch.watch(CHAT)
    assert await _read(watch, clock) == []
    assert api.reads == 1
    # Twenty-five new ones: the first page is all news, so the next one is read too.
    new = [tx(f"n{i}", at=clock.now() + timedelta(seconds=i)) for i in range(25)]
    api.deposits += new
    clock.advance(timedelta(seconds=30))
    arrivals = await _read(watch, clock)
    assert [a.tx_id for a in arrivals] == [t.id for t in new]  # oldest first
    assert api.reads == 3


async def test_chats_linked_before_the_upgrade_start_at_the_migration(tmp_path, clock):
    # A database of version 3 (before 0004) with a linked chat, built from the migrations
    # themselves, then upgraded: later migrations never need undoing here.
    from storage.db import _migrations

    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    for version, script in _migrations()[:3]:
        raw.executescript(f"{script}\nPRAGMA user_version={version};")
    raw.execute(
        "INSERT INTO chats (chat_id, api_key_enc, linked_at, created_at) VALUES (?, ?, ?, ?)",
        (CHAT, b"x", T0.isoformat(), T0.isoformat()),
    )
    raw.commit()
    raw.close()
    database = Database(path)
    await database.connect()
    try:
        repos = Repositories.build(database, clock)
        target = await repos.deposits.target(CHAT)
        assert target is not None and target.since is not None
        assert target.next_poll_at is not None
        # The migration runs on the real clock: the moment of the upgrade.
        assert abs(target.since - datetime.now(UTC)) < timedelta(minutes=1)
        assert target.baseline == max(target.since, T0)
    finally:
        await database.close()


async def test_a_429_waits_at_least_its_retry_after(watch, clock, api, repos):
    await watch.watch(CHAT)
    api.error = RateLimited("slow down", retry_after=300)
    assert await _read(watch, clock) == []
    target = await repos.deposits.target(CHAT)
    assert target is not None and target.failures == 1
    assert target.next_poll_at == clock.now() + timedelta(seconds=300)
    reads = api.reads
    clock.advance(timedelta(seconds=299))
    assert await watch.poll_due() == []
    assert api.reads == reads


# -- DEPOSIT_POLL_INTERVAL --------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.delenv("DEPOSIT_POLL_INTERVAL", raising=False)
    monkeypatch.setenv("BOT_TOKEN", "123456:ABCDEFGHIJKLmnop")
    monkeypatch.chdir(tmp_path)  # no stray .env
    return monkeypatch


def test_poll_interval_setting(env):
    from bot.settings import load_settings

    assert load_settings().deposit_poll_interval == timedelta(seconds=20)
    env.setenv("DEPOSIT_POLL_INTERVAL", "1m")
    assert load_settings().deposit_poll_interval == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20", "DEPOSIT_POLL_INTERVAL is invalid: expected a duration"),
        ("2s", "DEPOSIT_POLL_INTERVAL is invalid: expected at least 5s"),
    ],
)
def test_bad_poll_interval_names_the_setting(env, value, expected):
    from bot.settings import SettingsError, load_settings

    env.setenv("DEPOSIT_POLL_INTERVAL", value)
    with pytest.raises(SettingsError, match=expected):
        load_settings()
