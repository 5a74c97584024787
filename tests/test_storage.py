"""Storage: PRAGMAs, migrations, repositories, the FSM storage and keys at rest."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import stat
from datetime import timedelta
from decimal import Decimal

import pytest
from aiogram.fsm.storage.base import StorageKey
from cryptography.fernet import Fernet

from core.clock import ManualClock
from core.security import KEY_FILE_NAME, KeyVault, KeyVaultError, load_vault
from storage import Database, Repositories
from storage.fsm import SQLiteStorage
from storage.operations import DONE, FAILED, IN_FLIGHT, PENDING, UNKNOWN, ChatBusy
from storage.orders import LocalOrder


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
def repos(db, clock):
    return Repositories.build(db, clock)


async def test_connection_pragmas_and_version(db):
    assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"
    assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
    assert (await db.fetchone("PRAGMA busy_timeout"))[0] == 5000
    version = (await db.fetchone("PRAGMA user_version"))[0]
    assert version >= 1
    assert await db.migrate() == version  # idempotent: nothing applied twice


async def test_plain_statements_take_one_hop_to_the_database_thread(db, monkeypatch):
    """fetchone/fetchall/execute each reach aiosqlite's thread once, with its answer exact.

    They serve every update; aiosqlite's cursor API took three hops per statement.
    """
    hops = []
    real = db.conn._execute

    async def counted(fn, *args, **kwargs):
        hops.append(fn)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(db.conn, "_execute", counted)
    await db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    assert await db.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'b')") == 3
    assert await db.execute("UPDATE t SET v = 'c' WHERE v = 'b'") == 2
    assert await db.execute("UPDATE t SET v = 'c' WHERE k = 9") == 0
    row = await db.fetchone("SELECT k, v FROM t WHERE v = ? ORDER BY k", ("c",))
    assert (row["k"], row["v"]) == (2, "c")
    assert await db.fetchone("SELECT k FROM t WHERE k = 9") is None
    assert [r["k"] for r in await db.fetchall("SELECT k FROM t ORDER BY k DESC")] == [3, 2, 1]
    assert len(hops) == 7
    with pytest.raises(sqlite3.IntegrityError):
        await db.execute("INSERT INTO t VALUES (1, 'again')")


async def test_fsm_state_survives_reconnect(tmp_path, clock):
    key = StorageKey(bot_id=1, chat_id=10, user_id=20)
    first = Database(tmp_path / "fsm.sqlite3")
    await first.connect()
    storage = SQLiteStorage(first, clock)
    await storage.set_state(key, "Buy:country")
    await storage.update_data(key, {"type": "ipv4", "page": 2})
    await first.close()

    second = Database(tmp_path / "fsm.sqlite3")
    await second.connect()
    storage = SQLiteStorage(second, clock)
    assert await storage.get_state(key) == "Buy:country"
    assert await storage.get_data(key) == {"type": "ipv4", "page": 2}
    other = StorageKey(bot_id=1, chat_id=10, user_id=21)
    assert await storage.get_state(other) is None
    assert await storage.get_data(other) == {}
    await storage.set_state(key, None)
    assert await storage.get_state(key) is None
    await second.close()


async def test_chat_link_and_forget_cascades(repos, db, clock):
    vault = KeyVault([Fernet.generate_key().decode()])
    await repos.chats.link(
        5, api_key_enc=vault.encrypt("pk_secret_123456789012345"), api_key_masked="****2345",
        account_email="a@b.c", linked_by=7,
    )
    link = await repos.chats.get(5)
    assert link.is_linked and vault.decrypt(link.api_key_enc) == "pk_secret_123456789012345"
    assert "pk_secret" not in repr(link)
    await repos.orders.upsert(LocalOrder(
        order_id="o1", chat_id=5, type="ipv4", status="active", quantity=2, country_id=1,
        country_name="Germany", period_id=1, charged=Decimal("2.50"),
        expires_at=clock.now() + timedelta(days=7), created_at=clock.now(),
    ))
    await repos.operations.create("op1", chat_id=5, user_id=7, kind="order", request={"a": 1})
    await repos.chats.forget(5)
    assert await repos.chats.get(5) is None
    assert await repos.orders.get(5, "o1") is None
    assert await repos.operations.get("op1") is None


async def test_key_never_on_disk_in_plaintext(tmp_path, clock):
    database = Database(tmp_path / "k.sqlite3")
    await database.connect()
    repos = Repositories.build(database, clock)
    vault = KeyVault([Fernet.generate_key().decode()])
    secret = "pk_live_ThisIsTheSecretKey0123456789"
    await repos.chats.link(1, api_key_enc=vault.encrypt(secret), api_key_masked=None,
                           account_email=None, linked_by=None)
    await database.close()
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes()


async def test_order_upsert_keeps_known_country_name(repos, clock):
    base = LocalOrder(
        order_id="o1", chat_id=9, type="ipv4", status="active", quantity=2, country_id=1,
        country_name="Germany", period_id=1, charged=Decimal("2.50"), expires_at=None,
        created_at=clock.now(),
    )
    await repos.chats.link(9, api_key_enc=b"x", api_key_masked=None, account_email=None,
                           linked_by=None)
    await repos.orders.upsert(base)
    refreshed = dataclasses.replace(base, country_name=None, status="expired")
    await repos.orders.upsert(refreshed)
    stored = await repos.orders.get(9, "o1")
    assert stored.country_name == "Germany" and stored.status == "expired"
    assert stored.charged == Decimal("2.50")


async def _linked(repos, *chat_ids: int) -> None:
    for chat_id in chat_ids:
        await repos.chats.link(chat_id, api_key_enc=b"x", api_key_masked=None,
                               account_email=None, linked_by=None)


async def test_operation_claim_is_exclusive_and_keeps_the_message(repos):
    ops = repos.operations
    await _linked(repos, 3)
    await ops.create("k1", chat_id=3, user_id=1, kind="order", request={})
    assert (await ops.get("k1")).status == PENDING
    assert await ops.claim("k1", "me", message_id=42) == PENDING
    assert await ops.claim("k1", "me") is None
    claimed = await ops.get("k1")
    assert claimed.status == IN_FLIGHT and claimed.owner == "me"
    assert claimed.message_id == 42 and claimed.sent_at is None and claimed.claimed_at
    await ops.mark_sent("k1", {"note": 1})
    sent = await ops.get("k1")
    assert sent.sent_at is not None and sent.result == {"note": 1}
    await ops.finish("k1", DONE, {"orderId": "o9"}, order_id="o9")
    done = await ops.get("k1")
    assert done.status == DONE and done.result == {"orderId": "o9"} and done.order_id == "o9"
    assert done.message_id == 42


async def test_one_open_paid_action_per_chat(repos):
    ops = repos.operations
    await _linked(repos, 3, 4)
    for op_id, chat_id in (("a", 3), ("b", 3), ("c", 4)):
        await ops.create(op_id, chat_id=chat_id, user_id=1, kind="order", request={})
    assert await ops.claim("a", "me") == PENDING
    with pytest.raises(ChatBusy) as busy:
        await ops.claim("b", "me")
    assert busy.value.other.op_id == "a"
    assert (await ops.get("b")).status == PENDING  # untouched
    assert await ops.claim("c", "me") == PENDING  # another chat is not affected
    await ops.finish("a", UNKNOWN)  # unresolved blocks as much as in flight
    with pytest.raises(ChatBusy):
        await ops.claim("b", "me")
    assert (await ops.open_for_chat(3)).op_id == "a"
    await ops.finish("a", DONE, {})
    assert await ops.claim("b", "me") == PENDING
    # The index holds even if a writer skipped the claim's check.
    await ops.create("d", chat_id=3, user_id=1, kind="order", request={})
    with pytest.raises(sqlite3.IntegrityError):
        await repos.operations._db.execute(
            "UPDATE operations SET status = 'in_flight' WHERE op_id = 'd'"
        )


async def test_recovery_splits_claims_by_whether_they_were_sent(repos):
    ops = repos.operations
    await _linked(repos, 1, 2, 3)
    for op_id, chat_id in (("never", 1), ("maybe", 2), ("mine", 3)):
        await ops.create(op_id, chat_id=chat_id, user_id=1, kind="order", request={})
    await ops.claim("never", "dead")
    await ops.claim("maybe", "dead")
    await ops.mark_sent("maybe")
    await ops.claim("mine", "alive")
    found = await ops.recover_interrupted("alive")
    assert [op.op_id for op in found.never_sent] == ["never"]
    assert [op.op_id for op in found.maybe_sent] == ["maybe"]
    assert (await ops.get("never")).status == PENDING
    assert (await ops.get("maybe")).status == UNKNOWN
    assert (await ops.get("mine")).status == IN_FLIGHT
    # An unknown claimed for investigation keeps the time it was first sent.
    first_sent = (await ops.get("maybe")).sent_at
    assert await ops.claim("maybe", "alive", (UNKNOWN,)) == UNKNOWN
    assert (await ops.get("maybe")).sent_at == first_sent
    # A quote released to pending and claimed again starts with no sent_at.
    await ops.finish("maybe", PENDING)
    assert await ops.claim("maybe", "alive") == PENDING
    assert (await ops.get("maybe")).sent_at is None


async def test_fail_pending_only_ends_unsent_quotes(repos):
    ops = repos.operations
    await _linked(repos, 3)
    await ops.create("q", chat_id=3, user_id=1, kind="order", request={})
    await ops.create("r", chat_id=3, user_id=1, kind="order", request={})
    await ops.claim("r", "me")
    assert await ops.fail_pending("q", {"failure": "superseded"}) is True
    assert await ops.fail_pending("r", {"failure": "superseded"}) is False
    assert (await ops.get("q")).status == FAILED
    assert (await ops.get("r")).status == IN_FLIGHT


async def test_vault_rotation_keeps_old_ciphertexts_readable():
    old = Fernet.generate_key().decode()
    new = Fernet.generate_key().decode()
    token = KeyVault([old]).encrypt("pk_rotate_me_0123456789")
    rotated_vault = KeyVault([new, old])
    assert rotated_vault.decrypt(token) == "pk_rotate_me_0123456789"
    fresh = rotated_vault.rotate(token)
    assert KeyVault([new]).decrypt(fresh) == "pk_rotate_me_0123456789"
    with pytest.raises(KeyVaultError):
        KeyVault([Fernet.generate_key().decode()]).decrypt(token)
    with pytest.raises(KeyVaultError):
        KeyVault(["not-a-key"])


def test_generated_key_file_is_owner_only(tmp_path, caplog):
    key_file = tmp_path / "data" / KEY_FILE_NAME
    vault = load_vault(None, key_file)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert "generated a new key" in caplog.text
    again = load_vault(None, key_file)
    assert again.decrypt(vault.encrypt("pk_abc_0123456789012345")) == "pk_abc_0123456789012345"


async def test_purge_keeps_recent_and_unresolved_operations(repos, clock):
    await repos.chats.link(4, api_key_enc=b"x", api_key_masked=None, account_email=None,
                           linked_by=None)
    for op_id, status in [("old-done", DONE), ("old-pending", PENDING), ("old-unknown", UNKNOWN)]:
        await repos.operations.create(op_id, chat_id=4, user_id=1, kind="order", request={})
        if status != PENDING:
            await repos.operations.finish(op_id, status)
    clock.advance(timedelta(days=31))
    await repos.operations.create("fresh", chat_id=4, user_id=1, kind="order", request={})
    assert await repos.operations.purge_older_than(timedelta(days=30)) == 2
    assert await repos.operations.get("old-unknown") is not None
    assert await repos.operations.get("fresh") is not None
    assert await repos.operations.get("old-done") is None


async def test_migration_stairway_keeps_data_and_settles_old_claims(tmp_path):
    """Each migration applied to a database of the version before it, with data in it."""
    from storage.db import _migrations

    path = tmp_path / "stairway.sqlite3"
    migrations = _migrations()
    assert [version for version, _ in migrations] == list(range(1, len(migrations) + 1))
    raw = sqlite3.connect(path)
    raw.executescript(migrations[0][1] + "\nPRAGMA user_version=1;")
    now = "2026-01-01T00:00:00+00:00"
    raw.execute("INSERT INTO chats (chat_id, created_at) VALUES (7, ?)", (now,))
    for op_id, status in (("flying", "in_flight"), ("lost", "unknown"), ("quote", "pending")):
        raw.execute(
            "INSERT INTO operations (op_id, chat_id, user_id, kind, request, status,"
            " created_at, updated_at) VALUES (?, 7, 1, 'order', '{}', ?, ?, ?)",
            (op_id, status, now, now),
        )
    raw.commit()
    raw.close()

    db = Database(path)
    await db.connect()
    try:
        assert (await db.fetchone("PRAGMA user_version"))[0] == migrations[-1][0]
        repos = Repositories.build(db, ManualClock())
        # A claim of the old version may have been sent: it is unknown, with a send time.
        flying = await repos.operations.get("flying")
        assert flying.status == UNKNOWN and flying.sent_at is not None
        lost = await repos.operations.get("lost")
        assert lost.status == UNKNOWN and lost.sent_at is not None
        quote = await repos.operations.get("quote")
        assert quote.status == PENDING and quote.sent_at is None
        assert (await repos.chats.get(7)) is not None
    finally:
        await db.close()


def test_encryption_key_file_has_its_own_setting(tmp_path):
    from bot.settings import load_settings

    token = "123456:ABCDEFGHIJKLmnopqrstuvwxyz012345678"
    default = load_settings(BOT_TOKEN=token, DATABASE_PATH=str(tmp_path / "db" / "bot.sqlite3"))
    assert default.key_file == tmp_path / "db" / KEY_FILE_NAME
    elsewhere = tmp_path / "secrets" / "bot.key"
    chosen = load_settings(
        BOT_TOKEN=token,
        DATABASE_PATH=str(tmp_path / "db" / "bot.sqlite3"),
        ENCRYPTION_KEY_FILE=str(elsewhere),
    )
    assert chosen.key_file == elsewhere
    vault = load_vault(None, chosen.key_file)
    assert elsewhere.exists() and not (tmp_path / "db").exists()
    assert stat.S_IMODE(os.stat(elsewhere).st_mode) == 0o600
    # A rotated file: the newest key first, the old one still decrypts.
    old_token = vault.encrypt("pk_old_0123456789012345678")
    elsewhere.write_text(Fernet.generate_key().decode() + "\n" + elsewhere.read_text())
    assert load_vault(None, elsewhere).decrypt(old_token) == "pk_old_0123456789012345678"
