"""`make bench` keeps working: its users, scripts, generated databases and table, checked
in this process in a few seconds (the bench itself starts `python -m bot` processes, which
take too long for the test suite).

Timings are never asserted here; the benchmark itself prints them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from bench import dataset, echo_bot, report
from bench.harness import ProcessStats, Replies, User, proc_stats
from bench.scenarios import (
    MenuTaps,
    Pairs,
    ReferenceCalls,
    Wizard,
    fan_out,
    help_messages,
    link_all,
    open_wizard_burst,
    purchases_calls,
    run_load,
)
from core.clock import SystemClock
from core.security import KeyVault, load_vault
from storage import Database, Repositories
from tests.conftest import BotHarness


class InProcess:
    """A bot running in this process, as the bench's loads see one."""

    def __init__(self, replies: Replies) -> None:
        self.replies = replies

    def stats(self) -> ProcessStats:
        return proc_stats(os.getpid())


@pytest.fixture
def replies(harness) -> Replies:
    hooked = Replies(harness.tg)
    hooked.keep_requests = True  # the harness reads them back
    return hooked


async def test_wizard_help_and_menu_scripts_run_against_the_bot(harness, sandbox, replies):
    users = [User(replies, 880_000 + i) for i in range(3)]
    await link_all(users, sandbox)
    references = ReferenceCalls(sandbox)
    opened = await open_wizard_burst(users, references, spread=0.05)
    assert opened and all(n >= 1 for n in opened.values())

    bot = InProcess(replies)
    wizard = Wizard()
    for script in (wizard, help_messages, MenuTaps()):
        load = await run_load(bot, users, script, 0.3, floor=False)
        assert load.failures == 0 and load.updates >= len(users), script
        assert load.polls > 0 and load.cpu >= 0

    orders, calls = await purchases_calls(users[:2], sandbox, rounds=1)
    assert orders == 2 and calls["POST /orders/calc"] >= 2


@pytest.fixture
async def echo(fake_telegram) -> AsyncIterator[Replies]:
    hooked = Replies(fake_telegram)
    hooked.keep_requests = True
    dispatcher = echo_bot.build()
    bot = fake_telegram.make_bot()
    task = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    try:
        yield hooked
    finally:
        await dispatcher.stop_polling()
        await task
        await bot.session.close()


async def test_the_floor_answers_the_same_scripts(echo):
    users = [User(echo, 890_000 + i) for i in range(3)]
    pairs = Pairs()
    for script in (Wizard(), help_messages, MenuTaps()):
        load = await run_load(InProcess(echo), users, script, 0.3, floor=True)
        assert load.failures == 0 and load.updates >= len(users), script
        pairs.bot.append(load)
        pairs.floor.append(load)
    table = report.Table()
    report.load_rows(table, "wizard", pairs, detail=True)
    assert all(row.ratio.startswith("1.00×") for row in table.rows if row.ratio)


async def test_stored_orders_are_the_bots_own_rows(tmp_path):
    path = tmp_path / "bot.sqlite3"
    await dataset.stored_orders(path, KeyVault([Fernet.generate_key().decode()]), 25, "k" * 40)
    db = Database(path)
    await db.connect()
    try:
        repos = Repositories.build(db, SystemClock())
        chats = await repos.chats.all_linked()
        assert len(chats) == 3  # 10 orders a chat
        assert len(await repos.orders.list_for_chat(chats[0].chat_id)) == 10
        due = await repos.reminders.next_due()
        assert due is not None and due > datetime.now(UTC)
    finally:
        await db.close()


async def test_due_reminders_are_delivered_once_each(fake_telegram, sandbox, tmp_path):
    bot = BotHarness(fake_telegram, sandbox, tmp_path)
    vault = load_vault(bot.settings.encryption_key, bot.settings.key_file)
    chat_ids = await dataset.due_reminders(bot.settings.database_path, vault, sandbox, 4)
    for chat_id in chat_ids:
        fake_telegram.user(user_id=chat_id, first_name="Due").private_chat()
    replies = Replies(fake_telegram)
    replies.keep_requests = True
    fake_telegram.enforce_limits()
    await bot.start()
    try:
        result = await fan_out(replies, chat_ids, within=20)
    finally:
        await bot.stop()
    assert (result.delivered, result.doubled) == (4, 0)


def test_the_table_is_written_with_its_figures(tmp_path):
    table = report.Table()
    table.add("start-up (s)", "1.00", "1.20", "+0.20 s")
    table.notes.append("a note")
    path = tmp_path / "RESULTS.md"
    body = report.write(table, "python -m bench --quick", report.now(), 61.0, path)
    assert path.read_text(encoding="utf-8") == body
    assert "| start-up (s) | 1.00 | 1.20 | +0.20 s |" in body and "cores" in body
