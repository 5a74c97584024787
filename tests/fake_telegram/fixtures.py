"""Pytest fixtures for the fake Telegram server.

Enable them with ``pytest_plugins = ["tests.fake_telegram.fixtures"]`` in the root conftest, or
import the fixture names into a test module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from aiogram import Bot

from playground.emulator.client import FakeTelegram
from playground.emulator.server import DEFAULT_TOKEN

TEST_TOKEN = DEFAULT_TOKEN  # "123456:TEST-TOKEN"


@pytest_asyncio.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A started FakeTelegram for token ``123456:TEST-TOKEN``, stopped after the test."""
    tg = FakeTelegram(token=TEST_TOKEN)
    await tg.start()
    try:
        yield tg
    finally:
        await tg.stop()


@pytest_asyncio.fixture
async def fake_bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    """A real aiogram Bot (parse_mode=HTML) talking to ``fake_telegram``; session closed after."""
    bot = fake_telegram.make_bot()
    try:
        yield bot
    finally:
        await bot.session.close()
