"""Settings: fixed names, defaults, and one clear line for a bad value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.settings import SettingsError, load_settings

TOKEN = "123456:ABCDEFGHIJKLmnop"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in ("BOT_TOKEN", "TELEGRAM_API_URL", "PROXY_API_URL", "DATABASE_PATH",
                 "ENCRYPTION_KEY", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults(monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    settings = load_settings()
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.proxy_api_url == "https://api.1001proxy.io/api/v1"
    assert str(settings.database_path) == "data/bot.sqlite3"
    assert settings.encryption_key is None
    assert settings.log_level == "INFO"
    assert TOKEN not in repr(settings)


def test_reads_dotenv(tmp_path):
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nLOG_LEVEL=debug\n")
    settings = load_settings()
    assert settings.bot_token == TOKEN and settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "BOT_TOKEN is not set"),
        ({"BOT_TOKEN": "nope"}, "BOT_TOKEN is invalid"),
        ({"BOT_TOKEN": TOKEN, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL is invalid"),
        ({"BOT_TOKEN": TOKEN, "PROXY_API_URL": "ftp://x"}, "PROXY_API_URL is invalid"),
        ({"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": "not a url"}, "TELEGRAM_API_URL is invalid"),
    ],
)
def test_bad_setting_names_itself(monkeypatch, env, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=expected):
        load_settings()


def test_start_with_bad_setting_prints_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "BOT_TOKEN": TOKEN, "LOG_LEVEL": "LOUD"}
    result = subprocess.run(
        [sys.executable, "-m", "bot"], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "bot: LOG_LEVEL is invalid: expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
    ]
