"""The sender's own book of Telegram's limits, and the markup it reads from the outbox.

Times are plain numbers (seconds of a monotonic clock); the end-to-end behaviour is in
tests/test_e2e_outbox.py.
"""

from __future__ import annotations

import pytest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardRemove

from bot.sender import SendLimits, SendWindow, parse_markup


def test_a_send_holds_its_place_from_start_until_a_second_after_it_ended() -> None:
    window = SendWindow(SendLimits(per_second=3))
    assert window.room(0.0) == 3
    window.begin(1)
    window.begin(2)
    assert window.room(0.0) == 1
    assert window.blocked(0.0) == {1, 2}  # in flight
    window.end(1, 0.5)
    # Ended, but still counted: Telegram may have counted it as late as 0.5.
    assert window.room(1.0) == 1
    assert window.blocked(1.0) == {1, 2}
    assert window.next_change(1.0) == pytest.approx(0.5)
    assert window.room(1.5) == 2 and window.blocked(1.5) == {2}
    window.end(2, 1.5)
    assert window.next_change(2.0) == pytest.approx(0.5)
    assert window.room(2.5) == 3 and window.blocked(2.5) == set()
    assert window.next_change(2.5) is None


def test_a_group_gets_twenty_a_minute() -> None:
    window = SendWindow(SendLimits(per_second=30, group_per_minute=20))
    group = -100123
    for n in range(20):
        window.begin(group)
        window.end(group, float(n * 2))
    now = 39.0  # 1 s after the last: the per-chat second has passed, the minute has not
    assert group in window.blocked(now)
    assert window.next_change(now) == pytest.approx(21.0)  # when the first leaves the minute
    assert group not in window.blocked(60.0)
    # A user's chat is not a group: one a second is all it takes.
    window.begin(7)
    window.end(7, 60.0)
    assert 7 in window.blocked(60.5)
    assert 7 not in window.blocked(61.0)


def test_markup_comes_back_as_the_keyboard_it_was() -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Extend", callback_data="r:x:1")]]
    )
    parsed = parse_markup(markup.model_dump_json(exclude_none=True))
    assert parsed == markup
    assert isinstance(parse_markup('{"remove_keyboard": true}'), ReplyKeyboardRemove)
    assert parse_markup(None) is None
    for wrong in ("[]", '{"what": 1}', "not json", '{"inline_keyboard": 5}'):
        with pytest.raises(ValueError):
            parse_markup(wrong)


def test_only_a_claim_about_to_run_out_is_renewed_before_the_send() -> None:
    from datetime import UTC, datetime, timedelta

    from bot.sender import OutboxSender
    from core.clock import ManualClock
    from storage.outbox import OutboxEntry

    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    sender = OutboxSender(None, None, None, clock, owner="me",  # type: ignore[arg-type]
                          lease=timedelta(seconds=60), request_timeout=20)

    def entry(lease_left: timedelta | None) -> OutboxEntry:
        until = None if lease_left is None else clock.now() + lease_left
        return OutboxEntry(1, 7, "reminder", "1", "text", None, "sending", 0, clock.now(),
                           clock.now(), owner="me", lease_until=until)

    # Just claimed (60 s left): the send ends long before the lease, no renewal needed.
    assert sender._fresh(entry(timedelta(seconds=60)))
    # Less than a request's timeout plus a margin left, or unknown: renewed (and checked
    # still ours) first.
    assert not sender._fresh(entry(timedelta(seconds=29)))
    assert not sender._fresh(entry(None))
    assert not sender._fresh(entry(timedelta(seconds=-1)))


def test_only_the_sender_s_own_chats_make_it_look_again_when_room_was_left() -> None:
    window = SendWindow(SendLimits(per_second=30))
    # A handler's reply: it takes a place in the second, but blocks no chat of the outbox.
    window.begin_other()
    window.end_other(0.0)
    assert window.next_change(0.5) == pytest.approx(0.5)
    assert window.next_unblock(0.5) is None
    window.begin(7)
    window.end(7, 0.2)
    assert window.next_unblock(0.5) == pytest.approx(0.7)  # chat 7 may get the next at 1.2
    assert window.next_unblock(1.3) is None
