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


def test_a_place_is_held_until_a_second_after_the_answer_however_early_the_start() -> None:
    # The rule the sender keeps (see SendWindow): a send started at 0.0 and answered at
    # 0.4 may have arrived at 0.4, so a send started before 1.4 could share a second with
    # it. Counting from the start (1.0) would let a 31st message into Telegram's second.
    window = SendWindow(SendLimits(per_second=1))
    window.begin(1)
    assert window.room(5.0) == 0  # in flight: held however long it takes
    assert window.next_change(5.0) is None  # only its answer tells
    window.end(1, 5.4)
    assert window.room(6.3) == 0
    assert window.next_change(6.3) == pytest.approx(0.1)  # the place frees at 6.4
    assert window.room(6.4) == 1


# -- the sender's two paces: claims ahead, starts when a place frees -------------------------


class _Outbox:
    """The outbox as the sender uses it: claims in queue order, settlements recorded."""

    def __init__(self, clock, entries) -> None:
        self._clock = clock
        self.queued = list(entries)
        self.claims: list[int] = []  # the limit of each claim
        self.sent: list[int] = []
        self.given_back: list[tuple[int, object, bool]] = []

    async def claim(self, owner, *, limit, lease, skip_chats=()):
        from dataclasses import replace

        self.claims.append(limit)
        taken = [e for e in self.queued if e.chat_id not in skip_chats][:limit]
        for entry in taken:
            self.queued.remove(entry)
        return [replace(e, state="sending", owner=owner, lease_until=self._clock.now() + lease)
                for e in taken]

    async def mark_sent(self, outbox_id, telegram_message_id) -> None:
        self.sent.append(outbox_id)

    async def reschedule(self, outbox_id, owner, not_before, *, count_attempt=True) -> bool:
        self.given_back.append((outbox_id, not_before, count_attempt))
        return True


class _Bot:
    """Each send waits until the test answers it."""

    def __init__(self) -> None:
        import asyncio

        self.asked: list[int] = []
        self._answers: dict[int, asyncio.Future] = {}
        self._loop = asyncio.get_running_loop()

    async def send_message(self, chat_id, text, **_):
        from types import SimpleNamespace

        self.asked.append(chat_id)
        answer = self._answers[chat_id] = self._loop.create_future()
        await answer
        return SimpleNamespace(message_id=chat_id)

    def answer(self, chat_id: int) -> None:
        self._answers[chat_id].set_result(None)


def _pacing_sender(per_second: int, chats: list[int]):
    from datetime import UTC, datetime

    from bot.sender import OutboxSender
    from core.clock import ManualClock
    from storage.outbox import OutboxEntry

    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    entries = [OutboxEntry(n, chat, "notice", str(n), "hello", None, "queued", 0,
                           clock.now(), clock.now()) for n, chat in enumerate(chats, 1)]
    outbox, bot = _Outbox(clock, entries), _Bot()
    sender = OutboxSender(bot, outbox, None, clock, owner="me",  # type: ignore[arg-type]
                          limits=SendLimits(per_second=per_second))
    return sender, outbox, bot, clock


async def _settle() -> None:
    import asyncio

    for _ in range(5):  # let the tasks just started run up to their next wait
        await asyncio.sleep(0)


async def test_a_claimed_message_starts_the_moment_a_place_frees_without_a_claim_between():
    sender, outbox, bot, clock = _pacing_sender(2, [11, 12, 13])
    assert sender._round() > 0  # nothing claimed yet: the claim goes first
    await _settle()
    assert outbox.claims == [2] and sender.ready == 2  # a second's worth, ahead
    sender._round()
    await _settle()
    assert bot.asked == [11, 12]  # both places taken at once
    # Half of the second's worth has left: the next claim is taken while they fly.
    assert outbox.claims == [2, 2] and sender.ready == 1

    clock.advance(0.3)
    bot.answer(11)
    bot.answer(12)
    await _settle()
    assert outbox.sent == [1, 2]
    clock.advance(0.9)  # 1.2: both answers (0.3) are still within the last second
    assert sender._round() == pytest.approx(0.1)  # wait for the place to free at 1.3
    await _settle()
    assert bot.asked == [11, 12]
    clock.advance(0.1)
    sender._round()
    await _settle()
    assert bot.asked == [11, 12, 13]  # the claimed one, at once
    assert outbox.claims == [2, 2]  # and no claim in between
    bot.answer(13)
    await _settle()
    assert outbox.sent == [1, 2, 3]


async def test_a_message_claimed_twice_by_the_same_sender_goes_out_once():
    sender, outbox, bot, clock = _pacing_sender(1, [11, 12])
    sender._round()
    await _settle()
    sender._round()
    await _settle()
    assert bot.asked == [11] and sender.ready == 1  # 12 waits for the one place
    # Its lease ran out while it waited (the clock moved far) and this sender's next claim
    # took it again: the copy already held is the only one.
    again = list(sender._ready)
    sender._take(again)
    assert sender.ready == 1

    clock.advance(0.2)
    bot.answer(11)
    await _settle()
    clock.advance(1.0)
    sender._round()
    await _settle()
    bot.answer(12)
    await _settle()
    assert bot.asked == [11, 12] and outbox.sent == [1, 2]


async def test_claims_not_started_go_back_to_the_queue_in_their_place():
    sender, outbox, bot, _ = _pacing_sender(1, [11, 12])
    sender._round()
    await _settle()
    sender._round()
    await _settle()
    waiting = sender._ready[0]
    await sender._give_back()
    # Not a failed attempt, and its place in the queue kept: a restart sends it first.
    assert outbox.given_back == [(waiting.outbox_id, waiting.not_before, False)]
    assert sender.ready == 0
    bot.answer(11)
    await _settle()
