"""Flood control without Telegram: the throttle's verdicts, the key-check budget and the
settings that tune them. Time is a ManualClock moved by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.flood import Throttle, Verdict
from bot.settings import SettingsError, load_settings, parse_duration
from core.clock import ManualClock
from services.key_checks import KeyCheckLimiter

TOKEN = "123456:ABCDEFGHIJKLmnop"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# -- throttle ------------------------------------------------------------------


def test_a_burst_passes_up_to_the_limit_then_one_notice_then_silence(clock):
    throttle = Throttle(clock, user_limit=5, chat_limit=20, window=1.0)
    verdicts = [throttle.admit(1) for _ in range(50)]
    assert verdicts[:5] == [Verdict.PASS] * 5
    assert verdicts[5] is Verdict.DROP_AND_NOTIFY
    assert set(verdicts[6:]) == {Verdict.DROP}


def test_a_sustained_flood_is_one_burst_with_one_notice(clock):
    throttle = Throttle(clock, user_limit=5, chat_limit=20, window=1.0)
    verdicts = []
    for _ in range(300):  # 30 updates a second for 10 s
        verdicts.append(throttle.admit(1))
        clock.advance(1 / 30)
    assert verdicts.count(Verdict.DROP_AND_NOTIFY) == 1
    # Only the refill gets through: 5 at once plus 5 a second.
    assert 5 + 45 <= verdicts.count(Verdict.PASS) <= 5 + 51


def test_after_a_quiet_window_a_new_burst_gets_a_new_notice(clock):
    throttle = Throttle(clock, user_limit=5, chat_limit=20, window=1.0)
    for _ in range(10):
        throttle.admit(1)
    clock.advance(0.5)  # half refilled: still the same burst
    assert [throttle.admit(1) for _ in range(3)] == [Verdict.PASS, Verdict.PASS, Verdict.DROP]
    clock.advance(1.0)  # a whole window without a drop: the allowance is full again
    verdicts = [throttle.admit(1) for _ in range(6)]
    assert verdicts == [Verdict.PASS] * 5 + [Verdict.DROP_AND_NOTIFY]


def test_users_are_throttled_apart_and_a_group_as_a_whole(clock):
    throttle = Throttle(clock, user_limit=5, chat_limit=8, window=1.0)
    for _ in range(20):
        throttle.admit(1)
    assert throttle.admit(2) is Verdict.PASS  # another person is not slowed by user 1
    group = -100
    verdicts = [throttle.admit(user, group) for user in range(10, 20)]  # one each
    assert verdicts[:8] == [Verdict.PASS] * 8
    assert verdicts[8] is Verdict.DROP_AND_NOTIFY and verdicts[9] is Verdict.DROP
    assert throttle.admit(30) is Verdict.PASS  # the same people elsewhere are fine


def test_idle_senders_are_forgotten(clock, monkeypatch):
    monkeypatch.setattr("bot.flood._PRUNE_THRESHOLD", 100)
    throttle = Throttle(clock, user_limit=5, chat_limit=20, window=1.0)
    for user in range(1000):
        throttle.admit(user)
        clock.advance(0.01)
    assert throttle.tracked() <= 101


# -- key checks -------------------------------------------------------------------


def test_key_checks_per_window(clock):
    limiter = KeyCheckLimiter(clock, limit=3, window=60.0)
    for _ in range(3):  # at 0 s, 10 s and 20 s
        assert limiter.try_check(1) is None
        clock.advance(10)
    assert limiter.try_check(1) == pytest.approx(30.0)  # the check at 0 s leaves at 60 s
    assert limiter.try_check(2) is None  # someone else
    clock.advance(30)
    assert limiter.try_check(1) is None
    assert limiter.try_check(1) == pytest.approx(10.0)  # the one at 10 s is next to leave
    assert limiter.try_check(1) == pytest.approx(10.0)  # a refusal is not counted


# -- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("1.5h", 5400), ("250ms", 0.25), ("2d", 172800), (" 5 S ", 5)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["60", "0s", "ten seconds", "5x", "-1m", ""])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_flood_settings_defaults_and_errors(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("THROTTLE_USER_LIMIT", "THROTTLE_CHAT_LIMIT", "THROTTLE_WINDOW",
                 "KEY_CHECK_LIMIT", "KEY_CHECK_WINDOW", "MAX_CONCURRENT_UPDATES"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(BOT_TOKEN=TOKEN)
    assert settings.throttle_user_limit == 5 and settings.throttle_chat_limit == 20
    assert settings.throttle_window == timedelta(seconds=1)
    assert settings.key_check_limit == 5 and settings.key_check_window == timedelta(minutes=1)
    assert settings.max_concurrent_updates == 100
    tuned = load_settings(BOT_TOKEN=TOKEN, THROTTLE_WINDOW="2s", KEY_CHECK_WINDOW="10m")
    assert tuned.throttle_window == timedelta(seconds=2)
    assert tuned.key_check_window == timedelta(minutes=10)
    with pytest.raises(SettingsError, match="THROTTLE_WINDOW is invalid: expected a duration"):
        load_settings(BOT_TOKEN=TOKEN, THROTTLE_WINDOW="1")
    with pytest.raises(SettingsError, match="MAX_CONCURRENT_UPDATES is invalid"):
        load_settings(BOT_TOKEN=TOKEN, MAX_CONCURRENT_UPDATES="0")
