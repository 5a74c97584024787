"""The fake Telegram server, proven against a real aiogram Bot + Dispatcher over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from html import escape

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonCommands,
    Message,
    ReplyKeyboardMarkup,
)

from tests.fake_telegram import FakeTelegram, parse_html, tiny_png
from tests.fake_telegram.fixtures import fake_bot, fake_telegram
from tests.fake_telegram.html import EntityParseError

__all__ = ["fake_bot", "fake_telegram"]  # fixtures, re-exported so pytest finds them here

USER_ID = 1001


def _keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Balance", callback_data="balance"),
                InlineKeyboardButton(text="Report", callback_data="doc"),
            ],
            [
                InlineKeyboardButton(text="Delete me", callback_data="del"),
                InlineKeyboardButton(text="Ignore", callback_data="noanswer"),
            ],
            [InlineKeyboardButton(text="Site", url="https://example.com")],
        ]
    )


def build_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        name = escape(message.from_user.first_name if message.from_user else "?")
        await message.answer(f"Welcome, <b>{name}</b>!", reply_markup=_keyboard())

    @router.message(Command("menu"))
    async def menu(message: Message) -> None:
        keyboard = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Prices")]])
        await message.answer("Pick one", reply_markup=keyboard)

    @router.message(Command("bad"))
    async def bad(message: Message) -> None:
        await message.answer("<b>unclosed")

    @router.message(F.sticker)
    async def sticker(message: Message) -> None:
        await message.answer("No stickers, please")

    @router.message(F.document)
    async def document(message: Message) -> None:
        name = message.document.file_name if message.document else "?"
        await message.answer(f"Got {escape(name or '?')}")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(escape(message.text or ""))

    @router.callback_query(F.data == "balance")
    async def balance(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("Balance: <b>5</b>", reply_markup=query.message.reply_markup)
        await query.answer("ok")

    @router.callback_query(F.data == "doc")
    async def report(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.answer_document(
            BufferedInputFile(b"report-bytes", filename="report.txt"), caption="<i>report</i>"
        )
        await query.answer()

    @router.callback_query(F.data == "del")
    async def delete(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.delete()
        await query.answer("deleted", show_alert=True)

    @router.callback_query(F.data == "noanswer")
    async def ignore(query: CallbackQuery) -> None:
        return None

    @router.callback_query()
    async def unknown(query: CallbackQuery) -> None:
        await query.answer("Unknown button", show_alert=True)

    return router


@pytest.fixture
async def polling(fake_telegram: FakeTelegram, fake_bot: Bot) -> AsyncIterator[FakeTelegram]:
    dp = Dispatcher()
    dp.include_router(build_router())
    task = asyncio.create_task(dp.start_polling(fake_bot, handle_signals=False))
    await fake_telegram.wait_for_request("getMe")
    yield fake_telegram
    await dp.stop_polling()
    await task  # surfaces anything that crashed the polling loop


# ---------------------------------------------------------------------- end to end


async def test_start_reply_has_entities_and_buttons(polling: FakeTelegram) -> None:
    chat = polling.user(USER_ID, "Ann & Co").private_chat()
    sent = await chat.send("/start")
    assert sent.raw["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]

    reply = await chat.wait_for_message("Welcome")
    assert reply.text == "Welcome, Ann & Co!"
    assert reply.raw_text == "Welcome, <b>Ann &amp; Co</b>!"
    assert reply.entities == [{"type": "bold", "offset": 9, "length": 8}]
    assert reply.html == "Welcome, <b>Ann &amp; Co</b>!"
    assert reply.button_texts == ["Balance", "Report", "Delete me", "Ignore", "Site"]
    assert reply.button("Site").url == "https://example.com"
    last = chat.last_bot_message()
    assert last is not None and (last.message_id, last.text) == (reply.message_id, reply.text)
    assert [m.from_bot for m in chat.messages] == [False, True]

    await chat.send("hello <there>")
    echo = await chat.wait_for_message()
    assert echo.text == "hello <there>"
    await chat.expect_no_message(within=0.05)


async def test_click_edits_message_and_answers(polling: FakeTelegram) -> None:
    chat = polling.user(USER_ID, "Ann").private_chat()
    await chat.send("/start")
    menu = await chat.wait_for_message("Welcome")

    answer = await (await chat.click(menu, "Balance"))
    assert answer.text == "ok" and not answer.show_alert
    edited = await chat.wait_for_message(lambda m: m.is_edited)
    assert edited.message_id == menu.message_id
    assert edited.event == "edited"
    assert edited.html == "Balance: <b>5</b>"
    assert edited.button_texts == menu.button_texts
    assert chat.message(menu.message_id).text == "Balance: 5"  # type: ignore[union-attr]

    # Pressing again makes the bot send identical content: Telegram refuses, the handler
    # crashes before answering, and the harness shows exactly that.
    again = await chat.click(menu, data="balance")
    with pytest.raises(AssertionError, match="was not answered"):
        await again.wait_answer(timeout=0.3)
    assert "message is not modified" in (polling.calls("editMessageText", ok=False)[0].error or "")
    assert polling.unanswered_callbacks() == [again.query_id]


async def test_document_delete_and_unanswered(polling: FakeTelegram) -> None:
    chat = polling.user(USER_ID, "Ann").private_chat()
    await chat.send("/start")
    menu = await chat.wait_for_message("Welcome")

    await (await chat.click(menu, "Report"))
    doc_message = await chat.wait_for_message(lambda m: m.document is not None)
    assert doc_message.text == "report" and doc_message.entities[0]["type"] == "italic"
    [doc] = polling.documents(USER_ID)
    assert (doc.filename, doc.data, doc.mime_type) == ("report.txt", b"report-bytes", "text/plain")

    ignored = await chat.click(menu, "Ignore")
    alert = await (await chat.click(menu, "Delete"))
    assert (alert.text, alert.show_alert) == ("deleted", True)
    await chat.wait_for_deletion(menu)
    assert menu.message_id in chat.deleted_ids
    assert chat.message(menu.message_id) is None
    assert polling.unanswered_callbacks() == [ignored.query_id]
    with pytest.raises(AssertionError, match="not in chat"):
        await chat.click(menu, "Balance")


async def test_forged_callback_and_raw_updates(polling: FakeTelegram) -> None:
    chat = polling.user(USER_ID, "Ann").private_chat()
    forged = await chat.click_forged("price:-1")
    answer = await forged
    assert (answer.text, answer.show_alert) == ("Unknown button", True)

    # The dispatcher asked only for the update types it handles; others are dropped by
    # Telegram, and so by the fake.
    polling.inject_update(
        {"edited_message": {"message_id": 1, "date": 0, "chat": {"id": USER_ID, "type": "private"}}}
    )
    raw = polling.inject_update(
        {
            "callback_query": {
                "id": "777",
                "from": {"id": USER_ID, "is_bot": False, "first_name": "Ann"},
                "chat_instance": "1",
                "data": "anything",
            }
        }
    )
    await polling.wait_consumed(raw["update_id"])
    assert [u.get("edited_message") is not None for u in polling.dropped_updates] == [True]
    answered = await polling.wait_for_request(
        "answerCallbackQuery", lambda r: r.params["callback_query_id"] == "777"
    )
    assert answered.ok and polling.answered_callbacks["777"].text == "Unknown button"


async def test_other_content_and_reply_keyboard(polling: FakeTelegram) -> None:
    chat = polling.user(USER_ID, "Ann").private_chat()
    await chat.send_sticker()
    assert (await chat.wait_for_message()).text == "No stickers, please"
    await chat.send_document("list.csv", b"a,b")
    assert (await chat.wait_for_message()).text == "Got list.csv"
    photo = await chat.send_photo(caption="look")
    assert photo.photo is not None and photo.text == "look"

    await chat.send("/menu")
    await chat.wait_for_message("Pick one")
    assert chat.reply_keyboard == [["Prices"]]
    await chat.press_reply_button("Prices")
    assert (await chat.wait_for_message()).text == "Prices"


async def test_wait_failure_lists_what_the_bot_did(polling: FakeTelegram) -> None:
    chat = polling.user(USER_ID, "Ann").private_chat()
    await chat.send("/bad")
    with pytest.raises(AssertionError) as failure:
        await chat.wait_for_message(timeout=0.3)
    report = str(failure.value)
    assert "FAILED" in report
    assert "can't parse entities: Can't find end tag corresponding to start tag" in report


# ---------------------------------------------------------------------- validation via a Bot


async def test_text_length_counts_after_entity_parsing(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> None:
    fake_telegram.user(USER_ID, "Ann")
    ok = await fake_bot.send_message(USER_ID, "<b>" + "a" * 4096 + "</b>")
    assert len(ok.text or "") == 4096
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await fake_bot.send_message(USER_ID, "a" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await fake_bot.send_message(USER_ID, "<b> </b>\n ")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await fake_bot.send_document(USER_ID, BufferedInputFile(b"x", "x.txt"), caption="c" * 1025)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await fake_bot.send_message(42, "hi")


async def test_bad_html_is_rejected_like_telegram(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> None:
    fake_telegram.user(USER_ID, "Ann")
    with pytest.raises(TelegramBadRequest) as exc:
        await fake_bot.send_message(USER_ID, "Price <b>5 <i>USD</b></i>")
    assert exc.value.message == (
        "Bad Request: can't parse entities: Unmatched end tag at byte offset 17, "
        'expected "</i>", found "</b>"'
    )
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
        await fake_bot.send_message(USER_ID, "a<br>b")
    # The same text is fine without parse_mode.
    plain = await fake_bot.send_message(USER_ID, "a<br>b", parse_mode=None)
    assert plain.text == "a<br>b"


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("x <b", "Unclosed start tag at byte offset 2"),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<a ="x">y</a>', 'Empty attribute name in the tag "a" at byte offset 0'),
        ("<a href=x/>y</a>", "Unexpected end of name token at byte offset 8"),
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        ('<tg-emoji emoji-id="x">y</tg-emoji>', "Invalid custom emoji identifier specified"),
        ("&#xDFDF;", "unmatched surrogate code units"),
    ],
)
def test_html_parser_errors(markup: str, error: str) -> None:
    with pytest.raises(EntityParseError) as exc:
        parse_html(markup)
    assert error in str(exc.value)


def test_html_parser_entities() -> None:
    text, entities = parse_html(
        "🏟 <b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>"
        '<strike>k</strike><del>d</del><span class="tg-spoiler">p</span><tg-spoiler>q'
        '</tg-spoiler><a href="https://t.me/x">l</a><code>c</code>'
        '<pre><code class="language-python">x=1</code></pre><blockquote>q</blockquote>'
        '<blockquote expandable>w</blockquote><tg-emoji emoji-id="5368324170671202286">👍'
        "</tg-emoji> &amp;&quot;&#65;&#x42;&nbsp;&lt"
    )
    assert text == '🏟 bsieunskdpqlcx=1qw👍 &"AB&nbsp;<'
    kinds = [(e["type"], e["offset"], e["length"]) for e in entities]
    assert kinds[:3] == [("bold", 3, 1), ("bold", 4, 1), ("italic", 5, 1)]
    assert ("spoiler", 12, 1) in kinds and ("spoiler", 13, 1) in kinds
    assert {"type": "text_link", "offset": 14, "length": 1, "url": "https://t.me/x"} in entities
    assert {"type": "pre", "offset": 16, "length": 3, "language": "python"} in entities
    assert ("expandable_blockquote", 20, 1) in kinds
    assert ("custom_emoji", 21, 2) in kinds  # UTF-16: the emoji is two code units


async def test_callback_data_limits_and_keyboard_shape(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> None:
    fake_telegram.user(USER_ID, "Ann")

    def markup(data: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="x", callback_data=data)]]
        )

    await fake_bot.send_message(USER_ID, "ok", reply_markup=markup("d" * 64))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await fake_bot.send_message(USER_ID, "no", reply_markup=markup("d" * 65))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await fake_bot.send_message(USER_ID, "no", reply_markup=markup("я" * 33))  # 66 bytes
    text_only = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="x")]])
    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed"):
        await fake_bot.send_message(USER_ID, "no", reply_markup=text_only)


async def test_edit_rules(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    chat = fake_telegram.user(USER_ID, "Ann").private_chat()
    kb = _keyboard()
    sent = await fake_bot.send_message(USER_ID, "<b>Hi</b>", reply_markup=kb)
    with pytest.raises(TelegramBadRequest) as exc:
        await fake_bot.edit_message_text(
            "<strong>Hi</strong>", chat_id=USER_ID, message_id=sent.message_id, reply_markup=kb
        )
    assert exc.value.message == (
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message"
    )
    # Omitting reply_markup removes the keyboard, so that is a modification.
    edited = await fake_bot.edit_message_text(
        "<b>Hi</b>", chat_id=USER_ID, message_id=sent.message_id
    )
    assert edited.reply_markup is None and edited.edit_date is not None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await fake_bot.edit_message_reply_markup(chat_id=USER_ID, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await fake_bot.edit_message_text("x", chat_id=USER_ID, message_id=999)
    with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
        await fake_bot.edit_message_caption(
            chat_id=USER_ID, message_id=sent.message_id, caption="c"
        )
    user_message = await chat.send("mine")
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await fake_bot.edit_message_text("x", chat_id=USER_ID, message_id=user_message.message_id)
    [event] = [e for e in fake_telegram.history(USER_ID) if e.kind == "edited"]
    assert event.snapshot is not None and "reply_markup" not in event.snapshot


async def test_delete_rules_and_clock(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    chat = fake_telegram.user(USER_ID, "Ann").private_chat()
    old = await fake_bot.send_message(USER_ID, "old")
    fake_telegram.clock.advance(timedelta(hours=47))
    recent = await fake_bot.send_message(USER_ID, "recent")
    fake_telegram.clock.advance(timedelta(hours=2))  # old is now 49 h old
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await fake_bot.delete_message(USER_ID, old.message_id)
    assert await fake_bot.delete_message(USER_ID, recent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await fake_bot.delete_message(USER_ID, recent.message_id)
    third = await fake_bot.send_message(USER_ID, "third")
    assert await fake_bot.delete_messages(USER_ID, [third.message_id, 12345])
    assert chat.deleted_ids == [recent.message_id, third.message_id]
    assert [m.text for m in chat.messages] == ["old"]


async def test_answer_callback_rules(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    chat = fake_telegram.user(USER_ID, "Ann").private_chat()
    handle = await chat.click_forged("x")
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await fake_bot.answer_callback_query(handle.query_id, text="t" * 201)
    assert await fake_bot.answer_callback_query(handle.query_id, text="t" * 200)
    with pytest.raises(TelegramBadRequest, match="query is too old and response timeout"):
        await fake_bot.answer_callback_query(handle.query_id)
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await fake_bot.answer_callback_query("nope")
    assert fake_telegram.unanswered_callbacks() == []
    assert fake_telegram.answered_callbacks[handle.query_id].text == "t" * 200


async def test_unknown_token(fake_telegram: FakeTelegram) -> None:
    bot = Bot("654321:WRONG", session=AiohttpSession(api=fake_telegram.api_server))
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await bot.get_me()
    finally:
        await bot.session.close()
    assert fake_telegram.requests[-1].status == 401


async def test_fault_injection(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    fake_telegram.user(USER_ID, "Ann")
    fake_telegram.fail_next("sendMessage", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as exc:
        await fake_bot.send_message(USER_ID, "x")
    assert exc.value.retry_after == 7
    fake_telegram.fail_next("*", error_code=502, description="Bad Gateway")
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await fake_bot.get_me()
    assert (await fake_bot.send_message(USER_ID, "x")).text == "x"


async def test_forbidden_and_chat_members(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    ann = fake_telegram.user(USER_ID, "Ann")
    bob = fake_telegram.user(1002, "Bob", started=False)
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await fake_bot.send_message(bob.user_id, "hi")
    ann.block_bot()
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await fake_bot.send_message(USER_ID, "hi")
    await ann.private_chat().send("/start")  # restarting unblocks
    await fake_bot.send_message(USER_ID, "welcome back")

    group = fake_telegram.group(-1001234567890, "Admins", owner=ann, admins=[bob])
    admins = await fake_bot.get_chat_administrators(group.chat_id)
    assert [(a.status, a.user.id) for a in admins] == [
        ("creator", USER_ID),
        ("administrator", 1002),
    ]
    stranger = await fake_bot.get_chat_member(group.chat_id, 5555)
    assert stranger.status == "left"
    info = await fake_bot.get_chat(group.chat_id)
    assert (info.type, info.title) == ("supergroup", "Admins")
    member_chat = group.member(ann)
    await member_chat.send("/start@fake_shop_bot")
    assert fake_telegram.pending_updates[-1]["message"]["chat"]["id"] == group.chat_id


async def test_commands_menu_and_files(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    fake_telegram.user(USER_ID, "Ann")
    await fake_bot.set_my_commands([BotCommand(command="start", description="Start")])
    assert fake_telegram.bot_commands() == [{"command": "start", "description": "Start"}]
    assert [c.command for c in await fake_bot.get_my_commands()] == ["start"]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await fake_bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])
    assert await fake_bot.delete_my_commands()
    assert fake_telegram.bot_commands() == []
    assert await fake_bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert fake_telegram.menu_buttons[None] == {"type": "commands"}
    assert await fake_bot.delete_webhook(drop_pending_updates=True)
    assert await fake_bot.send_chat_action(USER_ID, "upload_document")

    photo = await fake_bot.send_photo(USER_ID, BufferedInputFile(tiny_png(4, 3), "qr.png"))
    assert (photo.photo[-1].width, photo.photo[-1].height) == (4, 3)  # type: ignore[index]
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await fake_bot.send_photo(USER_ID, BufferedInputFile(b"not an image", "x.png"))
    doc = await fake_bot.send_document(USER_ID, BufferedInputFile(b"\x00\x01", "k.bin"))
    assert doc.document is not None
    again = await fake_bot.send_document(USER_ID, doc.document.file_id)
    assert again.document is not None and again.document.file_name == "k.bin"
    with pytest.raises(TelegramBadRequest, match="can't use file of type Photo as Document"):
        await fake_bot.send_document(USER_ID, photo.photo[-1].file_id)  # type: ignore[index]
    downloaded = await fake_bot.download(doc.document.file_id)
    assert downloaded is not None and downloaded.read() == b"\x00\x01"
    assert [d.data for d in fake_telegram.documents(USER_ID)] == [b"\x00\x01", b"\x00\x01"]


async def test_get_updates_semantics(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    chat = fake_telegram.user(USER_ID, "Ann").private_chat()
    await chat.send("one")
    first = await fake_bot.get_updates(timeout=0)
    assert [u.message.text for u in first if u.message] == ["one"]
    # Not confirmed yet: delivered again until the offset moves past it.
    assert len(await fake_bot.get_updates(timeout=0)) == 1
    assert await fake_bot.get_updates(offset=first[-1].update_id + 1, timeout=0) == []

    # A long poll returns as soon as something is queued.
    poll = asyncio.create_task(fake_bot.get_updates(offset=first[-1].update_id + 1, timeout=20))
    await fake_telegram.wait_for(lambda: fake_telegram.long_polls_waiting == 1)
    await chat.send("two")
    second = await asyncio.wait_for(poll, 3)
    assert [u.message.text for u in second if u.message] == ["two"]

    # A second poller terminates the parked one, as with two bot instances on one token.
    parked = asyncio.create_task(fake_bot.get_updates(offset=second[-1].update_id + 1, timeout=20))
    await fake_telegram.wait_for(lambda: fake_telegram.long_polls_waiting == 1)
    assert await fake_bot.get_updates(offset=second[-1].update_id + 1, timeout=0) == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(parked, 3)

    fake_telegram.inject_update({"message_reaction": {}})  # not in the default set
    await fake_bot.get_updates(offset=second[-1].update_id + 1, timeout=0, allowed_updates=[])
    assert fake_telegram.dropped_updates[-1] == {
        "message_reaction": {},
        "update_id": second[-1].update_id + 1,
    }


async def test_raw_http_json_get_and_unknown_method(fake_telegram: FakeTelegram) -> None:
    fake_telegram.user(USER_ID, "Ann")
    base = f"{fake_telegram.base_url}/bot{fake_telegram.token}"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/sendMessage",
            json={"chat_id": USER_ID, "text": "<i>j</i>", "parse_mode": "HTML"},
        ) as resp:
            body = await resp.json()
        assert body["ok"] and body["result"]["entities"][0]["type"] == "italic"
        async with session.get(f"{base}/GETME") as resp:
            assert (await resp.json())["result"]["username"] == "fake_shop_bot"
        async with session.post(f"{base}/sendTeleport") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_default_parse_mode_none_bot(fake_telegram: FakeTelegram) -> None:
    fake_telegram.user(USER_ID, "Ann")
    bot = Bot(
        fake_telegram.token,
        session=AiohttpSession(api=fake_telegram.api_server),
        default=DefaultBotProperties(),
    )
    try:
        sent = await bot.send_message(USER_ID, "<b>raw</b>")
    finally:
        await bot.session.close()
    assert sent.text == "<b>raw</b>" and sent.entities is None
