"""Telegram refusing one call must not break what the user asked for.

The fake Bot API fails exactly one method the way Telegram does (5xx, a 429 with a long
retry_after, 403, a 400 with Telegram's text, a dropped connection); every test then
checks the chat as the user sees it in the fake.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
)
from aiogram.types import CallbackQuery, TelegramObject, User
from aiogram.utils.callback_answer import CallbackAnswer

from tests.conftest import BotHarness
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.errors import QUERY_TOO_OLD
from views.best_effort import BestEffortCallbackAnswerMiddleware

TOO_OLD = f"Bad Request: {QUERY_TOO_OLD}"

# How the fake fails one call: fail_next() keyword arguments, named for the test ids.
SERVER_ERROR: dict[str, Any] = {"error_code": 500}
LONG_THROTTLE: dict[str, Any] = {"error_code": 429, "retry_after": 60}
BLOCKED: dict[str, Any] = {"error_code": 403}
CANT_EDIT: dict[str, Any] = {
    "error_code": 400, "description": "Bad Request: message can't be edited"
}
DROPPED: dict[str, Any] = {"disconnect": True}


@pytest.fixture
async def harness(fake_telegram, sandbox, tmp_path):
    """The app with "⏳ Working…" and "typing…" on every tap and command at once
    (WORKING_DELAY=0s): these tests make exactly those cosmetic calls fail."""
    bot_harness = BotHarness(fake_telegram, sandbox, tmp_path, WORKING_DELAY="0s")
    await bot_harness.start()
    try:
        yield bot_harness
        assert not fake_telegram.unanswered_callbacks(), "every tap must be answered"
    finally:
        await bot_harness.stop()


def _callbacks(message) -> list[str]:
    return [b.callback_data for b in message.flat_buttons if b.callback_data]


def _is_balance_screen(message) -> bool:
    return "m:balance" in _callbacks(message) and "Account:" in message.text


def _no_error_shown(chat) -> None:
    shown = [m.text for m in chat.bot_messages()]
    assert not [t for t in shown if "went wrong" in t], shown


async def test_start_up_survives_a_failing_command_menu(harness, caplog):
    for fault in (SERVER_ERROR, LONG_THROTTLE):
        await harness.stop()
        since = harness.tg.current_seq
        # Both languages' menus fail.
        harness.tg.fail_next("setMyCommands", 2, **fault)
        caplog.clear()
        await harness.start()
        chat = await harness.private_chat()
        await chat.send("/help")
        await chat.wait_for_message("Help", timeout=10)
        tried = [r for r in harness.tg.calls("setMyCommands") if r.seq > since]
        assert [r.status for r in tried] == [fault["error_code"]] * 2
        assert {r.params.get("language_code") for r in tried} == {None, "ru"}
        assert any("command menu" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("fault", [SERVER_ERROR, DROPPED], ids=["5xx", "dropped"])
async def test_linking_goes_on_when_typing_fails(harness, fault):
    account = harness.new_account(Decimal("7.50"))
    chat = await harness.private_chat()
    await chat.send("/start")
    await chat.wait_for_message("API key")
    harness.tg.fail_next("sendChatAction", **fault)
    sent = await chat.send(account.api_key)
    reply = await chat.wait_for_message("linked")
    assert "$7.50" in reply.text
    await chat.wait_for_deletion(sent)
    assert harness.tg.calls("sendChatAction", ok=False), "the fault was never hit"
    assert (await harness.app.repos.chats.get(chat.chat_id)).is_linked
    _no_error_shown(chat)


@pytest.mark.parametrize("fault", [SERVER_ERROR, LONG_THROTTLE], ids=["5xx", "429"])
async def test_balance_and_orders_go_on_when_typing_fails(harness, fault):
    chat, account = await harness.linked_chat(Decimal("3.25"))
    harness.tg.fail_next("sendChatAction", **fault)
    await chat.send("/balance")
    screen = await chat.wait_for_message(_is_balance_screen)
    assert "$3.25" in screen.text and account.email in screen.text
    harness.tg.fail_next("sendChatAction", **fault)
    await chat.send("/orders")
    await chat.wait_for_message("Your orders")
    assert len(harness.tg.calls("sendChatAction", ok=False)) == 2
    _no_error_shown(chat)


@pytest.mark.parametrize("fault", [SERVER_ERROR, DROPPED], ids=["5xx", "dropped"])
async def test_deposit_address_stays_when_the_qr_code_fails(harness, fault):
    # More in tests/test_e2e_deposit.py.
    chat, _ = await harness.linked_chat()
    await chat.send("/deposit")
    menu = await chat.wait_for_message("Top up")
    await chat.click(menu, "Other coins")
    coins = await chat.wait_for_message("another coin")
    # The photo fails both ways: edited into the menu, and sent as a new message.
    harness.tg.fail_next("editMessageMedia", **fault)
    harness.tg.fail_next("sendPhoto", **fault)
    await chat.click(coins, "BTC")
    await chat.wait_for_message("QR code could not be sent")
    address = chat.message(menu.message_id)
    assert "bc1" in address.text and "network" in address.text
    assert harness.tg.photos(chat.chat_id) == []
    assert harness.tg.calls("sendPhoto", ok=False)
    _no_error_shown(chat)


async def test_a_tap_queued_while_the_bot_was_down_still_runs(harness):
    chat, _ = await harness.linked_chat(Decimal("4.00"))
    menu = chat.last_bot_message()
    await harness.stop()
    handle = await chat.click(menu, "Balance")
    # Telegram gives up on a tap nobody answered in time; answering it later is a 400.
    assert harness.tg.expire_callback_queries() == [handle.query_id]
    await harness.start()
    screen = await chat.wait_for_message(_is_balance_screen, timeout=10)
    assert "$4.00" in screen.text
    refused = await harness.tg.wait_for_request(
        "answerCallbackQuery", lambda r: r.params["callback_query_id"] == handle.query_id
    )
    assert refused.error == TOO_OLD
    _no_error_shown(chat)


@pytest.mark.parametrize(
    "fault",
    [{"error_code": 400, "description": TOO_OLD}, SERVER_ERROR, DROPPED],
    ids=["too-old", "5xx", "dropped"],
)
async def test_a_tap_whose_answer_fails_still_shows_the_next_screen(harness, fault):
    chat, _ = await harness.linked_chat()
    menu = chat.last_bot_message()
    harness.tg.fail_next("answerCallbackQuery", **fault)
    handle = await chat.click(menu, "Balance")
    await chat.wait_for_message(_is_balance_screen)
    assert not handle.answered
    assert harness.tg.calls("answerCallbackQuery", ok=False)
    _no_error_shown(chat)
    # Telegram stops the spinner of a tap nobody answered after a while.
    harness.tg.expire_callback_queries()


@pytest.mark.parametrize(
    "fault",
    [SERVER_ERROR, LONG_THROTTLE, BLOCKED, CANT_EDIT, DROPPED],
    ids=["5xx", "429", "403", "400", "dropped"],
)
async def test_a_failed_edit_shows_the_screen_as_a_new_message(harness, fault):
    chat, account = await harness.linked_chat(Decimal("1.00"))
    await chat.send("/balance")
    screen = await chat.wait_for_message(_is_balance_screen)
    harness.sandbox.state.credit_deposit(account.id, Decimal("1.50"), "BTC")
    # Both edits fail: "⏳ Working…" (cosmetic) and the refreshed balance itself.
    harness.tg.fail_next("editMessageText", 2, **fault)
    await chat.click(screen, "Refresh")
    fresh = await chat.wait_for_message(_is_balance_screen)
    assert fresh.message_id != screen.message_id and not fresh.is_edited
    assert "$2.50" in fresh.text
    assert len(harness.tg.calls("editMessageText", ok=False)) == 2
    _no_error_shown(chat)


async def test_when_the_fallback_fails_too_the_user_is_told(harness):
    chat, _ = await harness.linked_chat()
    await chat.send("/balance")
    screen = await chat.wait_for_message(_is_balance_screen)
    harness.tg.fail_next("editMessageText", 2, **SERVER_ERROR)
    harness.tg.fail_next("sendMessage", 1, **SERVER_ERROR)
    await chat.click(screen, "Refresh")
    # Not a silent drift: the error handler reports it on the message that was tapped.
    told = await chat.wait_for_message("went wrong")
    assert told.message_id == screen.message_id


# -- the callback-answer middleware on its own, against the fake Bot API ----------------


def _tap(bot: Bot, query_id: str) -> CallbackQuery:
    user = User(id=1001, is_bot=False, first_name="Ann")
    return CallbackQuery(id=query_id, from_user=user, chat_instance="1", data="m:home").as_(bot)


@pytest.mark.parametrize("pre", [True, False], ids=["answer-first", "answer-after"])
async def test_callback_answer_middleware_runs_the_handler_when_the_answer_fails(
    fake_telegram: FakeTelegram, fake_bot: Bot, pre: bool, caplog
) -> None:
    seen: list[CallbackAnswer] = []

    async def handler(event: TelegramObject, data: dict[str, Any]) -> str:
        answer = data["callback_answer"]
        seen.append(answer)
        if not answer.answered:
            answer.text = "done"  # the handler's interface stays aiogram's
        return "handled"

    middleware = BestEffortCallbackAnswerMiddleware(pre=pre)
    # An id Telegram does not know: answering it is "query is too old ...".
    result = await middleware(handler, _tap(fake_bot, "404"), {})
    assert result == "handled" and len(seen) == 1
    assert [r.error for r in fake_telegram.calls("answerCallbackQuery")] == [TOO_OLD]
    if not pre:
        assert fake_telegram.calls("answerCallbackQuery")[0].params["text"] == "done"
    assert any("answer a button tap" in r.getMessage() for r in caplog.records)


async def test_callback_answer_middleware_keeps_the_disabled_flag(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> None:
    async def handler(event: TelegramObject, data: dict[str, Any]) -> None:
        data["callback_answer"].disabled = True

    await BestEffortCallbackAnswerMiddleware(pre=False)(handler, _tap(fake_bot, "1"), {})
    assert fake_telegram.calls("answerCallbackQuery") == []


# -- the fake's faults themselves ------------------------------------------------------


async def test_fake_fails_one_method_the_ways_telegram_does(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> None:
    user = fake_telegram.user(1001, "Ann")
    fake_telegram.fail_next("sendMessage", **BLOCKED)
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await fake_bot.send_message(user.user_id, "x")
    fake_telegram.fail_next("sendChatAction", **DROPPED)
    with pytest.raises(TelegramNetworkError):
        await fake_bot.send_chat_action(user.user_id, "typing")
    dropped = fake_telegram.calls("sendChatAction")[-1]
    assert dropped.status == 0 and not dropped.ok
    # The connection pool recovers: the next call goes through.
    assert (await fake_bot.send_message(user.user_id, "y")).text == "y"


async def test_fake_too_old_answer_expires_the_query(fake_telegram: FakeTelegram) -> None:
    chat = fake_telegram.user(1001, "Ann").private_chat()
    expired = await chat.click_forged("m:home")
    fake_telegram.fail_next("answerCallbackQuery", error_code=400, description=TOO_OLD)
    bot = fake_telegram.make_bot()
    try:
        with pytest.raises(TelegramBadRequest, match="query is too old"):
            await bot.answer_callback_query(expired.query_id)
        # Expired for good, like in Telegram, and no longer a spinner left spinning.
        with pytest.raises(TelegramBadRequest, match="query is too old"):
            await bot.answer_callback_query(expired.query_id)
        assert fake_telegram.unanswered_callbacks() == []
        fresh = await chat.click_forged("m:home")
        assert fake_telegram.unanswered_callbacks() == [fresh.query_id]
        assert fake_telegram.expire_callback_queries() == [fresh.query_id]
        assert fake_telegram.unanswered_callbacks() == []
    finally:
        await bot.session.close()


async def test_the_logs_name_what_was_lost(harness, caplog):
    caplog.set_level(logging.WARNING)
    chat, _ = await harness.linked_chat()
    harness.tg.fail_next("sendChatAction", **SERVER_ERROR)
    await chat.send("/balance")
    await chat.wait_for_message(_is_balance_screen)
    assert any("show typing" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
