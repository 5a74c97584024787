"""End-to-end harness: the real app polls the fake Telegram Bot API and calls the sandbox.

Everything runs in-process on 127.0.0.1 over real HTTP; only a few smoke tests start
`python -m bot` as a subprocess (importing aiogram costs seconds per process).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import socket
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.app import App, build_app
from bot.settings import Settings, load_settings
from core.clock import OffsetClock

pytest_plugins = ["tests.fake_telegram.fixtures", "tests.sandbox_fixture"]

_user_ids = itertools.count(5001)

# Tests type and tap far faster than a person, so the harness lifts the per-user flood
# limits; tests/test_e2e_flood.py runs the real defaults.
FAST_TESTER_SETTINGS = {"THROTTLE_USER_LIMIT": "1000", "THROTTLE_CHAT_LIMIT": "1000"}


def _callbacks(message) -> list[str]:
    return [b.callback_data for b in message.flat_buttons if b.callback_data]


# Modules marked `both_modes` run every test twice: the app polling, and the app behind a
# webhook the fake Bot API POSTs updates to (tests/fake_telegram/server.py).
MODES = ("polling", "webhook")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_modes: run the module's harness tests in polling and in webhook mode"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bot_mode" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_modes"
    ):
        metafunc.parametrize("bot_mode", MODES, indirect=True)


@pytest.fixture
def bot_mode(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "polling")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def webhook_settings(port: int | None = None) -> dict[str, str]:
    """Settings of a bot listening for the fake Bot API's deliveries on 127.0.0.1."""
    port = port or free_port()
    return {
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/tg/webhook",
        "WEBHOOK_SECRET": secrets.token_urlsafe(16),
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
    }


class BotHarness:
    def __init__(
        self, tg, sandbox, data_dir: Path, mode: str = "polling", **settings: str
    ) -> None:
        self.tg = tg
        self.sandbox = sandbox
        self.data_dir = data_dir
        self.mode = mode
        self.clock = OffsetClock()
        sandbox.state.clock = self.clock.now
        if mode == "webhook":
            # One port for the harness's life: a restart listens where Telegram delivers.
            settings = {**webhook_settings(), **settings}
        defaults = {
            "BOT_TOKEN": tg.token,
            "TELEGRAM_API_URL": tg.base_url,
            "PROXY_API_URL": sandbox.base_url,
            "DATABASE_PATH": str(data_dir / "bot.sqlite3"),
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "LOG_LEVEL": "DEBUG",
        }
        # Any default can be overridden (e.g. an unreachable PROXY_API_URL).
        self.settings: Settings = load_settings(
            **{**defaults, **FAST_TESTER_SETTINGS, **settings}
        )
        self.app: App | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.app = await build_app(self.settings, clock=self.clock)
        seen = len(self.tg.requests)
        task = asyncio.create_task(self.app.run(handle_signals=False))
        self._task = task

        def started() -> bool:
            if task.done():
                task.result()  # start-up failed: raise its error here
            # setMyCommands runs in the start-up hook, right before polling begins; in
            # webhook mode setWebhook comes once the bot listens.
            names = {r.name for r in self.tg.requests[seen:]}
            return "setmycommands" in names and (
                self.mode != "webhook" or "setwebhook" in names
            )

        await self.tg.wait_for(started, timeout=15, failure="the app did not start polling")

    async def stop(self) -> None:
        if self.app is None or self._task is None:
            return
        await self.app.stop()
        await asyncio.wait_for(self._task, timeout=20)
        self.app, self._task = None, None

    async def restart(self, kill: bool = False) -> None:
        """Graceful: running handlers finish. kill=True: they die mid-request, like a crash."""
        assert self.app is not None
        if kill:
            # A crash, from the outside: handlers and background work die where they stand.
            # The stop then finds nothing left to wait for.
            self.app.updates.cancel_all()
            self.app.background.cancel_all()
        await self.stop()
        await self.start()

    async def private_chat(self, user_id: int | None = None, language_code: str = "en"):
        user = self.tg.user(
            user_id=user_id or next(_user_ids), first_name="Ann", language_code=language_code
        )
        return user.private_chat()

    def new_account(self, balance: Decimal = Decimal("100.00"), **flags: bool):
        uid = next(_user_ids)
        return self.sandbox.state.create_account(
            f"buyer{uid}@example.com", name="Test Buyer", balance=balance, **flags
        )

    async def linked_chat(
        self, balance: Decimal = Decimal("100.00"), language_code: str = "en"
    ):
        """A private chat whose key was linked through the real /start flow."""
        account = self.new_account(balance)
        chat = await self.private_chat(language_code=language_code)
        await chat.send("/start")
        # Matched by callback data, not words, so it works in every language.
        await chat.wait_for_message(lambda m: "x:" in _callbacks(m), timeout=10)
        await chat.send(account.api_key)
        await chat.wait_for_message(lambda m: "m:buy" in _callbacks(m), timeout=10)
        return chat, account


@pytest.fixture
async def harness(fake_telegram, sandbox, tmp_path, bot_mode):
    bot_harness = BotHarness(fake_telegram, sandbox, tmp_path, mode=bot_mode)
    await bot_harness.start()
    try:
        yield bot_harness
        assert not fake_telegram.unanswered_callbacks(), "every tap must be answered"
    finally:
        await bot_harness.stop()
