"""Storage: PRAGMAs, migrations, repositories, the FSM storage and keys at rest."""

from __future__ import annotations

import dataclasses
import os
import stat
from datetime import timedelta
from decimal import Decimal

import pytest
from aiogram.fsm.storage.base import StorageKey
from cryptography.fernet import Fernet

from bot.clock import ManualClock
from bot.security import KEY_FILE_NAME, KeyVault, KeyVaultError, load_vault
from storage import Database, Repositories
from storage.fsm import SQLiteStorage
from storage.operations import DONE, FAILED, IN_FLIGHT, PENDING, UNKNOWN
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


async def test_operation_claim_is_exclusive_and_interruptions_are_marked(repos):
    await repos.chats.link(3, api_key_enc=b"x", api_key_masked=None, account_email=None,
                           linked_by=None)
    await repos.operations.create("k1", chat_id=3, user_id=1, kind="order", request={})
    assert (await repos.operations.get("k1")).status == PENDING
    assert await repos.operations.claim("k1") is True
    assert await repos.operations.claim("k1") is False
    assert (await repos.operations.get("k1")).status == IN_FLIGHT
    assert await repos.operations.mark_interrupted() == 1
    assert (await repos.operations.get("k1")).status == UNKNOWN
    assert await repos.operations.claim("k1", (PENDING, UNKNOWN)) is True
    await repos.operations.finish("k1", DONE, {"orderId": "o9"}, order_id="o9")
    done = await repos.operations.get("k1")
    assert done.status == DONE and done.result == {"orderId": "o9"} and done.order_id == "o9"


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
    vault = load_vault(None, tmp_path / "data")
    key_file = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert "generated a new key" in caplog.text
    again = load_vault(None, tmp_path / "data")
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


async def test_find_unresolved_is_the_newest_in_flight_or_unknown_of_its_chat_and_kind(
    repos, clock
):
    ops = repos.operations
    for chat_id in (5, 6):
        await repos.chats.link(chat_id, api_key_enc=b"x", api_key_masked=None,
                               account_email=None, linked_by=None)
    assert await ops.find_unresolved(5, "order") is None
    for op_id, status in [
        ("done", DONE), ("failed", FAILED), ("pending", PENDING), ("older", UNKNOWN)
    ]:
        await ops.create(op_id, chat_id=5, user_id=1, kind="order", request={})
        if status != PENDING:
            await ops.finish(op_id, status)
        clock.advance(timedelta(seconds=1))
    await ops.create("extend", chat_id=5, user_id=1, kind="extend", request={})
    await ops.finish("extend", UNKNOWN)
    await ops.create("elsewhere", chat_id=6, user_id=1, kind="order", request={})
    await ops.finish("elsewhere", UNKNOWN)
    assert (await ops.find_unresolved(5, "order")).op_id == "older"

    clock.advance(timedelta(seconds=1))
    await ops.create("newer", chat_id=5, user_id=1, kind="order", request={})
    assert await ops.claim("newer")
    assert (await ops.find_unresolved(5, "order")).op_id == "newer"  # in flight counts too
    await ops.finish("newer", DONE)
    await ops.finish("older", PENDING)
    assert await ops.find_unresolved(5, "order") is None
