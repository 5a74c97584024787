"""REMINDER_OFFSETS and ORDER_SYNC_INTERVAL: defaults, parsing, and one clear line."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from bot.settings import SettingsError, load_settings
from core.durations import format_duration, parse_duration, parse_durations

TOKEN = "123456:ABCDEFGHIJKLmnop"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in ("REMINDER_OFFSETS", "ORDER_SYNC_INTERVAL", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults():
    settings = load_settings()
    assert settings.reminder_offsets == (
        timedelta(days=3), timedelta(days=1), timedelta(hours=3)
    )
    assert settings.order_sync_interval == timedelta(minutes=10)


def test_offsets_are_deduplicated_and_largest_first(monkeypatch):
    monkeypatch.setenv("REMINDER_OFFSETS", " 1h, 2d ,30m,1h,60m ")
    assert load_settings().reminder_offsets == (
        timedelta(days=2), timedelta(hours=1), timedelta(minutes=30)
    )


def test_sync_interval_reads_a_duration(monkeypatch):
    monkeypatch.setenv("ORDER_SYNC_INTERVAL", "1.5h")
    assert load_settings().order_sync_interval == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("REMINDER_OFFSETS", "3d,2x", 'REMINDER_OFFSETS is invalid: "2x" is not a duration'),
        ("REMINDER_OFFSETS", "3d,,1h", 'REMINDER_OFFSETS is invalid: "" is not a duration'),
        ("REMINDER_OFFSETS", "3", 'REMINDER_OFFSETS is invalid: "3" is not a duration'),
        ("REMINDER_OFFSETS", "", "REMINDER_OFFSETS is invalid: expected durations"),
        ("REMINDER_OFFSETS", "30s", 'REMINDER_OFFSETS is invalid: "30s" is shorter than 1'),
        ("REMINDER_OFFSETS", "31d", 'REMINDER_OFFSETS is invalid: "31d" is longer than 30'),
        ("REMINDER_OFFSETS", "1h,2h,3h,4h,5h,6h,7h", "at most 6 reminder times"),
        ("ORDER_SYNC_INTERVAL", "10", "ORDER_SYNC_INTERVAL is invalid: expected a duration"),
        ("ORDER_SYNC_INTERVAL", "30s", "ORDER_SYNC_INTERVAL is invalid: expected at least 1m"),
    ],
)
def test_bad_value_names_the_setting_and_the_part(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=expected):
        load_settings()


def test_durations_helpers():
    assert parse_duration("10m") == timedelta(minutes=10)
    assert parse_durations("3d, 90m") == (timedelta(days=3), timedelta(minutes=90))
    assert [format_duration(timedelta(seconds=s)) for s in (259200, 5400, 45, 0.25)] == [
        "3d", "90m", "45s", "250ms"
    ]


def test_start_with_bad_offsets_prints_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "BOT_TOKEN": TOKEN, "REMINDER_OFFSETS": "3d,2x"}
    result = subprocess.run(
        [sys.executable, "-m", "bot"], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith('bot: REMINDER_OFFSETS is invalid: "2x" is not a duration (')
