"""A few smoke tests of `python -m bot` as a real process (most e2e tests run in-process)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {
        "BOT_TOKEN", "TELEGRAM_API_URL", "PROXY_API_URL", "DATABASE_PATH", "ENCRYPTION_KEY",
        "LOG_LEVEL"}}
    env.update({"DATABASE_PATH": str(tmp_path / "data" / "bot.sqlite3"), "LOG_LEVEL": "INFO"})
    env.update(settings)
    return env


async def _run_bot(tmp_path: Path, **settings: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=_env(tmp_path, **settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_process_serves_a_user_and_stops_cleanly_on_sigterm(
    fake_telegram, sandbox, tmp_path
):
    account = sandbox.state.create_account("smoke@example.com")
    process = await _run_bot(
        tmp_path, BOT_TOKEN=fake_telegram.token, TELEGRAM_API_URL=fake_telegram.base_url,
        PROXY_API_URL=sandbox.base_url,
    )
    try:
        await fake_telegram.wait_for_request("setMyCommands", timeout=60)
        chat = fake_telegram.user(user_id=4242, first_name="Zoe").private_chat()
        await chat.send("/start")
        await chat.wait_for_message("API key", timeout=20)
        await chat.send(account.api_key)
        await chat.wait_for_message("linked", timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "stopped" in log
    assert account.api_key not in log and fake_telegram.token not in log
    # No ENCRYPTION_KEY was given: one was generated, owner-only, and the log said so.
    key_file = tmp_path / "data" / "encryption.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "generated a new key" in log


async def test_process_with_rejected_token_says_so_in_one_line(fake_telegram, tmp_path):
    process = await _run_bot(
        tmp_path, BOT_TOKEN="999999:WRONG-TOKEN-VALUE", TELEGRAM_API_URL=fake_telegram.base_url
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    last = stderr.decode().strip().splitlines()[-1]
    assert last.startswith("bot: Telegram rejected BOT_TOKEN")
    assert "Traceback" not in stderr.decode()


async def test_process_with_unreachable_bot_api_says_so_in_one_line(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}"
    process = await _run_bot(tmp_path, BOT_TOKEN="123456:ABCDEFGHIJKLMN", TELEGRAM_API_URL=url)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    text = stderr.decode()
    assert text.strip().splitlines()[-1].startswith(f"bot: Bot API unreachable at {url}")
    assert "Traceback" not in text


@pytest.mark.parametrize("bad_key", ["not-a-fernet-key"])
async def test_process_with_bad_encryption_key_says_so(tmp_path, bad_key):
    process = await _run_bot(tmp_path, BOT_TOKEN="123456:ABCDEFGHIJKLMN", ENCRYPTION_KEY=bad_key)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert stderr.decode().strip().splitlines()[-1].startswith("bot: ENCRYPTION_KEY is invalid")
