"""A new user on a phone: link a key, see balance and transactions, log out.

Every test drives the real app over HTTP: fake Telegram ⇄ aiogram ⇄ handlers ⇄ client ⇄ sandbox.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from tests.e2e import until

# The main flows run in polling and in webhook mode (tests/conftest.py).
pytestmark = pytest.mark.both_modes


def _has_button(message, text: str) -> bool:
    return any(text in b.text for b in message.flat_buttons)


async def test_link_good_key_deletes_it_and_shows_balance(harness):
    account = harness.new_account(Decimal("45.20"))
    chat = await harness.private_chat()
    await chat.send("/start")
    prompt = await chat.wait_for_message("API key")
    assert _has_button(prompt, "Cancel")
    sent = await chat.send(account.api_key)
    reply = await chat.wait_for_message("linked")
    assert account.email in reply.text and "$45.20" in reply.text
    await chat.wait_for_deletion(sent)
    assert _has_button(reply, "Buy proxies")
    assert all(account.api_key not in (m.text or "") for m in chat.bot_messages())
    link = await harness.app.repos.chats.get(chat.chat_id)
    assert link.is_linked and account.api_key.encode() not in link.api_key_enc


async def test_bad_key_is_refused_deleted_and_nothing_stored(harness):
    chat = await harness.private_chat()
    await chat.send("/start")
    await chat.wait_for_message("API key")
    sent = await chat.send("pk_live_ThisKeyDoesNotExist0123456789")
    reply = await chat.wait_for_message("does not know this key")
    await chat.wait_for_deletion(sent)
    assert _has_button(reply, "Cancel")
    assert await harness.app.repos.chats.get(chat.chat_id) is None
    # Still waiting for a key: a good one now links.
    account = harness.new_account()
    await chat.send(account.api_key)
    await chat.wait_for_message("linked")


async def test_a_question_while_a_key_is_awaited_is_kept_and_answered(harness):
    chat = await harness.private_chat()
    await chat.send("/start")
    await chat.wait_for_message("API key")
    question = await chat.send("hello, how do I buy proxies?")
    reply = await chat.wait_for_message("not an API key")
    assert "Dashboard → API keys" in reply.text
    assert question.message_id not in chat.deleted_ids, "a question is not a secret"
    assert {b.callback_data for b in reply.flat_buttons} == {"m:help", "x:"}
    assert harness.sandbox.state.request_counts.get("GET /account", 0) == 0  # not tried

    # Something that could be a key is still deleted and tried, and a key still links.
    maybe = await chat.send("notarealkey123")
    await chat.wait_for_message("does not know this key")
    await chat.wait_for_deletion(maybe)
    account = harness.new_account()
    await chat.send(account.api_key)
    await chat.wait_for_message("linked")


async def test_a_russian_greeting_while_a_key_is_awaited_is_kept(harness):
    chat = await harness.private_chat(language_code="ru")
    await chat.send("/start")
    await chat.wait_for_message(lambda m: "x:" in [b.callback_data for b in m.flat_buttons])
    greeting = await chat.send("привет")
    reply = await chat.wait_for_message("Это не API-ключ")
    assert reply.button_texts == ["❓ Помощь", "✖️ Отмена"]
    assert greeting.message_id not in chat.deleted_ids
    await chat.click(reply, "❓ Помощь")
    await chat.wait_for_message("/buy")
    # Still waiting for the key after reading the help.
    sent = await chat.send(harness.new_account().api_key)
    await chat.wait_for_message(lambda m: "m:buy" in [b.callback_data for b in m.flat_buttons])
    await chat.wait_for_deletion(sent)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [({"banned": True}, "banned"), ({"verified": False}, "not verified")],
)
async def test_banned_or_unverified_key_is_refused(harness, flags, expected):
    account = harness.new_account(**flags)
    chat = await harness.private_chat()
    await chat.send("/start")
    await chat.wait_for_message("API key")
    await chat.send(account.api_key)
    await chat.wait_for_message(expected)
    assert await harness.app.repos.chats.get(chat.chat_id) is None


async def test_api_unreachable_while_linking_stores_nothing(harness):
    harness.sandbox.state.add_fault("GET /account", "server_error", times=10)
    account = harness.new_account()
    chat = await harness.private_chat()
    await chat.send("/start")
    await chat.wait_for_message("API key")
    await chat.send(account.api_key)
    await chat.wait_for_message("Nothing was saved", timeout=10)
    assert await harness.app.repos.chats.get(chat.chat_id) is None


async def test_key_pasted_into_a_group_is_deleted_and_never_linked(harness):
    account = harness.new_account()
    user = harness.tg.user(user_id=7001, first_name="Bob")
    group = harness.tg.group(chat_id=-1001234567890, title="Team", bot_is_admin=True)
    chat = group.member(user)
    sent = await chat.send(account.api_key)
    await chat.wait_for_message("private chat")
    await chat.wait_for_deletion(sent)
    assert await harness.app.repos.chats.get(group.chat_id) is None


async def test_key_in_group_without_delete_rights_says_so(harness):
    account = harness.new_account()
    user = harness.tg.user(user_id=7002, first_name="Eve")
    group = harness.tg.group(chat_id=-1001234567891, title="Team", bot_is_admin=False)
    chat = group.member(user)
    # With privacy mode on, a bot that is no admin sees a message only when it is a reply
    # to the bot (or a command, or mentions it): a key pasted as a reply, then.
    await chat.send("/start")
    welcome = await chat.wait_for_message("no 1001Proxy account linked")
    await chat.send(account.api_key, reply_to=welcome)
    reply = await chat.wait_for_message("private chat")
    assert "could not delete" in reply.text and "rotate" in reply.text


async def test_balance_command_and_refresh(harness):
    chat, account = await harness.linked_chat(Decimal("12.34"))
    await chat.send("/balance")
    screen = await chat.wait_for_message("Balance")
    assert "$12.34" in screen.text and account.email in screen.text
    # The masked key is plain text: in <code> a tap would copy the useless "****…N3p4".
    assert f"API key: {account.masked_api_key}\n" in screen.html
    await chat.send("/settings")
    settings = await chat.wait_for_message("Settings")
    assert f"Linked account: {account.email} ({account.masked_api_key})" in settings.html
    await chat.send("/balance")
    screen = await chat.wait_for_message("Balance")
    harness.sandbox.state.credit_deposit(account.id, Decimal("0.66"), "BTC")
    await chat.click(screen, "Refresh")
    refreshed = await chat.wait_for_message("$13.00")
    assert refreshed.message_id == screen.message_id  # edited in place


async def test_transactions_pages_and_filters(harness):
    chat, account = await harness.linked_chat(Decimal("0.00"))
    for cents in range(1, 11):
        harness.sandbox.state.credit_deposit(account.id, Decimal(cents) / 100, "USDT_TRC20")
    harness.sandbox.state.update_account(account.id, balance=Decimal("5.00"))  # an adjustment
    await chat.send("/transactions")
    first = await chat.wait_for_message("Transactions")
    assert "Page 1 of 2" in first.text and "11 in all" in first.text
    assert "+$4.45" in first.text  # the adjustment, newest first, signed and exact
    await chat.click(first, "▶️")
    second = await chat.wait_for_message("Page 2 of 2")
    assert "+$0.01" in second.text and "+$0.03" in second.text
    await chat.click(second, "Adjustments")
    adjustments = await chat.wait_for_message("Adjustment")
    assert "1 in all" in adjustments.text and "Deposit" not in adjustments.text
    await chat.click(adjustments, "Deposits")
    deposits = await chat.wait_for_message("10 in all")
    assert "Adjustment ·" not in deposits.text
    await chat.click(deposits, "Refunds")
    await chat.wait_for_message("No transactions yet")


async def test_logout_after_confirmation_forgets_the_key(harness):
    chat, _account = await harness.linked_chat()
    await chat.send("/logout")
    ask = await chat.wait_for_message("Forget the API key")
    await chat.click(ask, "Back")
    settings = await chat.wait_for_message("Settings")
    assert await harness.app.repos.chats.get(chat.chat_id) is not None
    await chat.click(settings, "Log out")
    ask = await chat.wait_for_message("Forget the API key")
    await chat.click(ask, "Yes, forget")
    await chat.wait_for_message("the key is forgotten")
    assert await harness.app.repos.chats.get(chat.chat_id) is None
    await chat.send("/balance")
    await chat.wait_for_message("No API key is linked")


async def test_restart_in_the_middle_of_linking_keeps_waiting_for_the_key(harness):
    account = harness.new_account()
    chat = await harness.private_chat()
    await chat.send("/start")
    await chat.wait_for_message("API key")
    await harness.restart()
    await chat.send(account.api_key)
    await chat.wait_for_message("linked")


async def test_cancel_leaves_linking(harness):
    chat = await harness.private_chat()
    await chat.send("/start")
    prompt = await chat.wait_for_message("API key")
    await chat.click(prompt, "Cancel")
    await chat.wait_for_message("Cancelled")
    await chat.send("just some words")
    await chat.wait_for_message("didn't get that")
    assert await harness.app.repos.chats.get(chat.chat_id) is None


async def test_bad_input_gets_short_hints_and_never_an_error(harness, caplog):
    caplog.set_level(logging.WARNING)
    chat, _ = await harness.linked_chat()
    await chat.send("/frobnicate")
    answer = await chat.wait_for_message("don't know that command")
    assert answer.button_texts == ["🏠 Menu"], "never a dead end"
    await chat.send_sticker()
    answer = await chat.wait_for_message("only understand text")
    assert answer.button_texts == ["🏠 Menu"]
    await chat.click(answer, "🏠 Menu")
    await chat.wait_for_message(lambda m: "m:buy" in [b.callback_data for b in m.flat_buttons])
    await chat.send_photo()
    answer = await chat.wait_for_message("only understand text")
    assert answer.button_texts == ["🏠 Menu"]
    await chat.send("x" * 4096)
    await chat.wait_for_message("didn't get that")
    await chat.send("hello there")
    await chat.wait_for_message("didn't get that")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_sticker_or_unknown_command_gets_the_menu_button_in_russian_too(harness):
    chat = await harness.private_chat(language_code="ru")
    await chat.send("/frobnicate")
    answer = await chat.wait_for_message(lambda m: m.buttons)
    assert answer.button_texts == ["🏠 Меню"]
    await chat.send_sticker()
    answer = await chat.wait_for_message(lambda m: m.buttons)
    assert answer.button_texts == ["🏠 Меню"]
    await chat.click(answer, "🏠 Меню")
    # Not linked: the menu offers to link a key.
    await chat.wait_for_message(lambda m: "m:link" in [b.callback_data for b in m.flat_buttons])


async def test_forged_and_stale_buttons_get_a_fresh_menu(harness):
    chat, _ = await harness.linked_chat()
    for data in ("m:nonsense", "tx:notanumber:", "zz:1:2:3"):
        handle = await chat.click_forged(data)
        await handle.wait_answer()
        await chat.wait_until(
            lambda c: "out of date" in c.last_bot_message().text, what="a fresh menu"
        )
    assert _has_button(chat.last_bot_message(), "Buy proxies")
    handle = await chat.click_forged("st:setlang:xx")
    await handle.wait_answer()
    await chat.wait_for_message("Choose your language")
    assert await harness.app.repos.users.language(chat.user.user_id) is None


async def test_not_linked_user_is_told_how_to_link(harness):
    chat = await harness.private_chat()
    for command in ("/balance", "/transactions", "/deposit"):
        await chat.send(command)
        await chat.wait_for_message("No API key is linked")


async def test_language_follows_telegram_and_settings(harness):
    chat = await harness.private_chat(language_code="ru")
    await chat.send("/help")
    await chat.wait_for_message("Помощь")
    await chat.send("/settings")
    screen = await chat.wait_for_message("Настройки")
    await chat.click(screen, "Язык")
    picker = await chat.wait_for_message(lambda m: "English" in m.button_texts)
    await chat.click(picker, "English")
    await chat.wait_for_message("Settings")
    await chat.send("/help")
    await chat.wait_for_message("Help")


async def test_command_menu_registered_in_both_languages(harness):
    calls = await harness.tg.wait_for(
        lambda: len(harness.tg.calls("setMyCommands")) >= 2 and harness.tg.calls("setMyCommands")
    )
    by_language = {c.params.get("language_code"): c.params["commands"] for c in calls}
    names = {c["command"] for c in by_language[None]}
    assert {"start", "buy", "orders", "balance", "deposit", "settings", "help", "cancel"} <= names
    assert {c["command"] for c in by_language["ru"]} == names


async def test_deposit_address_with_qr_code(harness):
    # More in tests/test_e2e_deposit.py.
    chat, _ = await harness.linked_chat()
    await chat.send("/deposit")
    menu = await chat.wait_for_message("Top up")
    await chat.click(menu, "Other coins")
    coins = await chat.wait_for_message("another coin")
    await chat.click(coins, "BTC")
    qr = await chat.wait_for_message(lambda m: m.photo is not None)
    assert qr.photo.data.startswith(b"\x89PNG") and "bc1" in qr.text and "network" in qr.text


async def test_api_key_never_reaches_the_logs(harness, caplog):
    caplog.set_level(logging.DEBUG)
    chat, account = await harness.linked_chat()
    await chat.send("/balance")
    await chat.wait_for_message("Balance")
    assert caplog.records
    assert all(account.api_key not in r.getMessage() for r in caplog.records)


async def test_commands_while_waiting_for_a_key_are_commands(harness):
    account = harness.new_account()
    chat = await harness.private_chat()
    await chat.send("/start")
    await chat.wait_for_message("API key")
    sent = await chat.send("/help")
    await chat.wait_for_message("Help")
    assert sent.message_id not in chat.deleted_ids
    await chat.send(account.api_key)
    await chat.wait_for_message("linked")


async def test_start_in_an_unlinked_group_never_asks_for_the_key_there(harness):
    user = harness.tg.user(user_id=7003, first_name="Max")
    chat = harness.tg.group(chat_id=-1001234567892, title="Team").member(user)
    await chat.send("/start")
    reply = await chat.wait_for_message("no 1001Proxy account linked")
    assert "/link" in reply.text and "never paste a key" in reply.text
    # The menu's Link button is for private chats: here the tap is refused with an alert
    # and the welcome stays.
    answer = await (await chat.click(reply, "Link API key"))
    assert answer.show_alert and "private chat" in answer.text
    assert chat.message(reply.message_id).text == reply.text


async def test_key_pasted_mid_wizard_is_deleted_and_relinks(harness):
    chat, _ = await harness.linked_chat()
    await chat.send("/buy")
    await chat.wait_for_message(lambda m: bool(m.buttons))
    other = harness.new_account(Decimal("7.00"))
    sent = await chat.send(other.api_key)
    await chat.wait_for_deletion(sent)
    await chat.wait_for_message("$7.00")
    link = await harness.app.repos.chats.get(chat.chat_id)
    assert link.account_email == other.email


async def test_rotated_encryption_key_keeps_chats_linked_and_reencrypts(harness):
    from cryptography.fernet import Fernet

    from core.security import KeyVault

    chat, account = await harness.linked_chat(Decimal("3.00"))
    old_key = harness.settings.encryption_key
    new_key = Fernet.generate_key().decode()
    harness.settings = harness.settings.model_copy(
        update={"encryption_key": f"{new_key},{old_key}"}
    )
    await harness.restart()
    await chat.send("/balance")
    await chat.wait_for_message("$3.00")
    stored = (await harness.app.repos.chats.get(chat.chat_id)).api_key_enc
    assert KeyVault([new_key]).decrypt(stored) == account.api_key  # the old key can go now


async def test_graceful_stop_lets_a_running_handler_answer(harness, caplog):
    chat, _ = await harness.linked_chat(Decimal("8.00"))
    held = harness.sandbox.state.add_fault("GET /account", "hold")
    await chat.send("/balance")
    await until(lambda: held.taken == 1, what="the /balance handler at the API")
    assert harness.app.in_flight()
    with caplog.at_level(logging.INFO, logger="bot.app"):
        restart = asyncio.create_task(harness.restart())  # graceful
        # The stop waits for the handler, which is still held at the API...
        await until(lambda: "waiting for 1 running handler" in caplog.text,
                    what="the stop to wait for the running handler")
        assert not restart.done()
        held.release()  # ...and once the API answers, the handler answers the user.
        await restart
    await chat.wait_for_message("$8.00", timeout=10)


async def test_no_file_the_bot_writes_holds_the_key_in_plaintext(harness):
    chat, account = await harness.linked_chat()
    await chat.send("/buy")
    await chat.wait_for_message(lambda m: bool(m.buttons))
    await harness.restart()  # checkpoints the WAL too
    files = [p for p in harness.data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "bot.sqlite3" for p in files)
    for path in files:
        assert account.api_key.encode() not in path.read_bytes(), path


async def test_a_throttled_reply_is_sent_after_telegrams_retry_after(harness):
    chat = await harness.private_chat()
    harness.tg.fail_next("sendMessage", 1, error_code=429, retry_after=1)
    await chat.send("/help")
    await chat.wait_for_message("Help", timeout=10)
    assert [r.status for r in harness.tg.calls("sendMessage")][-2:] == [429, 200]


async def test_key_inside_a_sentence_is_deleted_and_linked(harness):
    chat = await harness.private_chat()
    account = harness.new_account(Decimal("2.00"))
    await chat.send("/buy")  # not linked: no wizard, just the hint
    await chat.wait_for_message("No API key is linked")
    sent = await chat.send(f"here is my key {account.api_key} thanks")
    await chat.wait_for_deletion(sent)
    await chat.wait_for_message("$2.00")
    assert all(account.api_key not in m.text for m in chat.bot_messages())


async def test_crypto_addresses_in_a_group_are_left_alone(harness):
    user = harness.tg.user(user_id=7004, first_name="Ivy")
    chat = harness.tg.group(chat_id=-1001234567893, title="Team", bot_is_admin=True).member(user)
    for text in ("TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7",
                 "0x" + "ab12" * 10,
                 "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
                 "9f" * 32):
        sent = await chat.send(text)
        await chat.expect_no_message(within=0.3)
        assert sent.message_id not in chat.deleted_ids


async def test_when_asked_any_single_token_is_tried_as_a_key(harness):
    # A key of a shape the heuristics do not know (base64 with +/=) still links.
    account = harness.sandbox.state.create_account(
        "odd@example.com", balance=Decimal("1.50"), api_key="Zm9vYmFy+/Zm9vYmFy=="
    )
    chat = await harness.private_chat()
    await chat.send("/start")
    await chat.wait_for_message("API key")
    sent = await chat.send(account.api_key)
    await chat.wait_for_message("$1.50")
    await chat.wait_for_deletion(sent)


async def test_logout_waits_for_an_order_in_flight(harness):
    chat, _ = await harness.linked_chat()
    await harness.app.repos.operations.create(
        "op-in-flight", chat_id=chat.chat_id, user_id=1, kind="order", request={}
    )
    assert await harness.app.repos.operations.claim("op-in-flight", "this-process") == "pending"
    await chat.send("/logout")
    ask = await chat.wait_for_message("Forget the API key")
    await chat.click(ask, "Yes, forget")
    await chat.wait_for_message("Already processing")
    assert await harness.app.repos.chats.get(chat.chat_id) is not None
    await harness.app.repos.operations.finish("op-in-flight", "done", {})
    await chat.send("/logout")
    ask = await chat.wait_for_message("Forget the API key")
    await chat.click(ask, "Yes, forget")
    await chat.wait_for_message("the key is forgotten")


async def test_failed_link_logs_no_key_even_with_tracebacks(harness, caplog):
    caplog.set_level(logging.DEBUG)
    harness.sandbox.state.add_fault("GET /account", "bad_body", times=10)
    account = harness.new_account()
    chat = await harness.private_chat()
    await chat.send("/start")
    await chat.wait_for_message("API key")
    await chat.send(account.api_key)
    await chat.wait_for_message("Nothing was saved", timeout=10)
    await chat.send("/balance")
    await chat.wait_for_message("No API key is linked")
    import traceback

    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        assert account.api_key not in text
