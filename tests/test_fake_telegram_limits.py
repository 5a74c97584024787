"""The fake Bot API's opt-in Telegram limits and its my_chat_member updates.

The limits' timer is a number the test moves, so nothing here depends on real time.
"""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from tests.fake_telegram import FakeTelegram


class Timer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_limits_are_off_unless_asked(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    fake_telegram.user(1001, "Ann")
    for n in range(40):
        await fake_bot.send_message(1001, f"m{n}")
    assert fake_telegram.limit_refusals == 0


async def test_thirty_a_second_in_all(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    timer = Timer()
    fake_telegram.enforce_limits(timer=timer)
    for user_id in range(2001, 2032):
        fake_telegram.user(user_id, "U")
    for user_id in range(2001, 2031):
        await fake_bot.send_message(user_id, "hi")
    with pytest.raises(TelegramRetryAfter) as refused:
        await fake_bot.send_message(2031, "hi")
    assert refused.value.retry_after == 1
    assert fake_telegram.limit_refusals == 1
    assert fake_telegram.calls("sendMessage", ok=False)[-1].status == 429
    timer.now += 1.0
    await fake_bot.send_message(2031, "hi")


async def test_one_a_second_per_chat_after_a_short_burst(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> None:
    timer = Timer()
    fake_telegram.enforce_limits(timer=timer)
    fake_telegram.user(1001, "Ann")
    for n in range(3):  # the burst
        await fake_bot.send_message(1001, f"m{n}")
    with pytest.raises(TelegramRetryAfter):
        await fake_bot.send_message(1001, "one too many")
    timer.now += 1.0
    await fake_bot.send_message(1001, "after a second")
    with pytest.raises(TelegramRetryAfter):
        await fake_bot.send_message(1001, "again too soon")
    assert fake_telegram.limit_refusals == 2


async def test_twenty_a_minute_per_group(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    timer = Timer()
    fake_telegram.enforce_limits(timer=timer)
    group = fake_telegram.group(-1001000000777, "Team")
    for _ in range(20):
        await fake_bot.send_message(group.chat_id, "hi")
        timer.now += 1.0  # within the per-chat limit, so only the group's one counts
    with pytest.raises(TelegramRetryAfter) as refused:
        await fake_bot.send_message(group.chat_id, "hi")
    assert refused.value.retry_after == 40  # the first of the 20 leaves the minute then
    timer.now += 40.0
    await fake_bot.send_message(group.chat_id, "hi")


async def test_blocking_and_removing_the_bot_send_my_chat_member(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> None:
    ann = fake_telegram.user(1001, "Ann")
    ann.block_bot()
    ann.block_bot()  # already blocked: no second update
    await ann.private_chat().send("/start")  # pressing Start again unblocks
    group = fake_telegram.group(-1001000000778, "Team", owner=ann)
    group.remove_bot()
    group.add_bot()
    ann.block_bot(notify=False)

    updates = await fake_bot.get_updates(timeout=0)
    changes = [
        (u.my_chat_member.chat.id, u.my_chat_member.old_chat_member.status,
         u.my_chat_member.new_chat_member.status, u.my_chat_member.from_user.id)
        for u in updates
        if u.my_chat_member is not None
    ]
    assert changes == [
        (1001, "member", "kicked", 1001),
        (1001, "kicked", "member", 1001),
        (group.chat_id, "member", "kicked", 1001),
        (group.chat_id, "kicked", "member", 1001),
    ]
    # The unblock comes before the message that caused it, as in Telegram.
    kinds = [next(k for k in ("my_chat_member", "message") if getattr(u, k)) for u in updates]
    assert kinds == ["my_chat_member", "my_chat_member", "message", "my_chat_member",
                     "my_chat_member"]
