"""Files the bot writes are owner-only; existing ones others can read are reported at start."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.app import build_app
from bot.settings import load_settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask():
    old = os.umask(0o022)  # what most systems give a service
    try:
        yield
    finally:
        os.umask(old)


async def test_data_directory_and_database_files_are_owner_only(tmp_path, usual_umask, caplog):
    data = tmp_path / "data"
    settings = load_settings(
        BOT_TOKEN="123456:ABCDEFGHIJKLmnop", DATABASE_PATH=str(data / "bot.sqlite3")
    )
    app = await build_app(settings)
    try:
        files = sorted(p.name for p in data.iterdir())
        assert files == ["bot.sqlite3", "bot.sqlite3-shm", "bot.sqlite3-wal", "encryption.key"]
        assert _mode(data) == 0o700
        assert {name: _mode(data / name) for name in files} == dict.fromkeys(files, 0o600)
    finally:
        await app.close()
    assert "readable by other users" not in caplog.text


async def test_start_warns_when_others_can_read_the_data(tmp_path, usual_umask, caplog):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    database = data / "bot.sqlite3"
    database.touch(mode=0o644)
    os.chmod(data, 0o755)
    settings = load_settings(
        BOT_TOKEN="123456:ABCDEFGHIJKLmnop",
        DATABASE_PATH=str(database),
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    with caplog.at_level(logging.WARNING, logger="core.files"):
        app = await build_app(settings)
        await app.close()
    warning = next(r.getMessage() for r in caplog.records if r.name == "core.files")
    assert f"{data} (mode 0755)" in warning and f"{database} (mode 0644)" in warning
    assert _mode(data) == 0o755  # reported, not changed behind the operator's back
