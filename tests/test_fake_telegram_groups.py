"""Groups in the fake Telegram, proven against a real aiogram Bot + Dispatcher over HTTP:
privacy mode, ForceReply, admin rights and member statuses, supergroup migration, deep
links, per-member handles and callback queries from groups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramMigrateToChat
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.fixtures import fake_bot, fake_telegram

__all__ = ["fake_bot", "fake_telegram"]  # fixtures, re-exported so pytest finds them here

GROUP = -1001500000001
BASIC_GROUP = -4001500001


def build_router(seen: list[Message]) -> Router:
    router = Router()

    @router.message(CommandStart(deep_link=True))
    async def start_with_payload(message: Message, command: CommandObject) -> None:
        await message.answer(f"payload={command.args}")

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("plain start")

    @router.message(Command("ask"))
    async def ask(message: Message) -> None:
        prompt = ForceReply(input_field_placeholder="Amount", selective=True)
        await message.answer("How much?", reply_markup=prompt)

    @router.message(Command("menu"))
    async def menu(message: Message) -> None:
        link = f"https://t.me/fake_shop_bot?start=grp_{abs(message.chat.id)}"
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text="Tap", callback_data="tap")],
                [InlineKeyboardButton(text="Open in private", url=link)],
                [InlineKeyboardButton(text="Site", url="https://example.com/")],
            ]
        )
        await message.answer("Menu", reply_markup=keyboard)

    @router.callback_query(F.data == "tap")
    async def tap(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.answer(f"from={query.from_user.id} chat={query.message.chat.id}")
        await query.message.answer(f"tapped by {query.from_user.first_name}")

    @router.message()
    async def anything(message: Message) -> None:
        seen.append(message)
        if message.text:
            await message.answer(f"got: {message.text}")

    return router


@pytest.fixture
async def polling(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> AsyncIterator[tuple[FakeTelegram, list[Message]]]:
    seen: list[Message] = []
    dp = Dispatcher()
    dp.include_router(build_router(seen))
    task = asyncio.create_task(dp.start_polling(fake_bot, handle_signals=False))
    await fake_telegram.wait_for_request("getMe")
    yield fake_telegram, seen
    await dp.stop_polling()
    await task  # surfaces anything that crashed the polling loop


# ---------------------------------------------------------------------- privacy mode


async def test_privacy_mode_withholds_group_chatter(
    polling: tuple[FakeTelegram, list[Message]],
) -> None:
    tg, seen = polling
    ann, bob = tg.user(2001, "Ann"), tg.user(2002, "Bob")
    group = tg.group(GROUP, "Team", owner=ann)
    ann_chat, bob_chat = group.member(ann), group.member(bob)

    chatter = await ann_chat.send("hello all")
    for_other_bot = await ann_chat.send("/help@other_bot")
    assert chatter.text == "hello all"  # send still returns the message
    assert tg.is_withheld(chatter) and tg.is_withheld(for_other_bot)
    assert [u["message"]["text"] for u in tg.withheld_updates] == ["hello all", "/help@other_bot"]
    assert [m.text for m in tg.withheld_messages(GROUP)] == ["hello all", "/help@other_bot"]
    # Everyone in the group sees them; only the bot does not.
    assert [m.text for m in bob_chat.messages] == ["hello all", "/help@other_bot"]

    for text in ("/help", "/help@fake_shop_bot", "/help@FAKE_SHOP_BOT now", "hi @Fake_Shop_Bot!"):
        sent = await ann_chat.send(text)
        assert not tg.is_withheld(sent)
        await ann_chat.wait_for_message(f"got: {text}")

    # A reply to the bot's message reaches it, from any member; a reply to a person does not.
    bot_message = ann_chat.last_bot_message()
    assert bot_message is not None
    thanks = await bob_chat.reply(bot_message, "thanks")
    assert thanks.reply_to_message_id == bot_message.message_id
    await bob_chat.wait_for_message("got: thanks")
    to_ann = await bob_chat.reply(chatter, "hi Ann")
    assert tg.is_withheld(to_ann)
    with pytest.raises(AssertionError, match="did NOT give the bot"):
        await bob_chat.wait_for_message(timeout=0.05)  # the failure says why

    # "@fake_shop_botx" is someone else.
    assert tg.is_withheld(await ann_chat.send("ask @fake_shop_botx"))

    private = ann.private_chat()
    await private.send("plain words")  # private chats: everything
    await private.wait_for_message("got: plain words")

    texts = [m.text for m in seen]
    assert "hello all" not in texts and "/help@other_bot" not in texts and "hi Ann" not in texts
    assert tg.calls("sendMessage", ok=False) == []


async def test_privacy_off_and_bot_admins_get_everything(
    polling: tuple[FakeTelegram, list[Message]], fake_bot: Bot
) -> None:
    tg, _ = polling
    assert tg.privacy_mode
    assert (await fake_bot.get_me()).can_read_all_group_messages is False
    chat = tg.group(GROUP, "Team").member(tg.user(2001, "Ann"))

    tg.privacy_mode = False
    assert (await fake_bot.get_me()).can_read_all_group_messages is True
    await chat.send("chatter one")
    await chat.wait_for_message("got: chatter one")

    tg.privacy_mode = True
    chat_group = tg.groups[GROUP]
    chat_group.set_bot_admin()  # Telegram gives admin bots every message
    await chat.send("chatter two")
    await chat.wait_for_message("got: chatter two")

    chat_group.set_bot_admin(False)
    assert tg.is_withheld(await chat.send("chatter three"))

    chat_group.remove_bot(notify=False)  # not in the group: not even commands
    assert tg.is_withheld(await chat.send("/help"))
    assert FakeTelegram(privacy_mode=False).privacy_mode is False


# ---------------------------------------------------------------------- ForceReply


async def test_force_reply_prompt_and_the_reply_in_a_group(
    polling: tuple[FakeTelegram, list[Message]], fake_bot: Bot
) -> None:
    tg, seen = polling
    chat = tg.group(GROUP, "Team").member(tg.user(2001, "Ann"))
    await chat.send("/ask")
    prompt = await chat.wait_for_message("How much?")
    assert prompt.force_reply and prompt.input_field_placeholder == "Amount"
    assert prompt.sent_reply_markup == {
        "force_reply": True,
        "input_field_placeholder": "Amount",
        "selective": True,
    }
    assert "reply_markup" not in prompt.raw  # not part of the Message, as in Telegram

    answer = await chat.reply(prompt, "42")
    assert answer.raw["reply_to_message"]["message_id"] == prompt.message_id
    assert not tg.is_withheld(answer)
    await chat.wait_for_message("got: 42")
    [received] = [m for m in seen if m.text == "42"]
    assert received.reply_to_message is not None
    assert received.reply_to_message.message_id == prompt.message_id
    assert received.reply_to_message.from_user is not None
    assert received.reply_to_message.from_user.is_bot

    with pytest.raises(TelegramBadRequest, match="placeholder is too long"):
        await fake_bot.send_message(
            GROUP, "x", reply_markup=ForceReply(input_field_placeholder="p" * 65)
        )
    await fake_bot.send_message(
        GROUP, "ok", reply_markup=ForceReply(input_field_placeholder="p" * 64)
    )
    base = f"{tg.base_url}/bot{tg.token}/sendMessage"
    async with aiohttp.ClientSession() as session:
        for markup in ({"force_reply": False}, {"force_reply": "yes"}):
            async with session.post(
                base, json={"chat_id": GROUP, "text": "x", "reply_markup": markup}
            ) as resp:
                assert resp.status == 400
                assert "force_reply" in (await resp.json())["description"]
    with pytest.raises(AssertionError, match="not in"):
        await chat.reply(12345, "to nothing")


# ---------------------------------------------------------------------- admin rights


async def test_member_statuses_and_admin_rights(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    tg = fake_telegram
    ann, bob, cid, dan, eve, fay, gus = (
        tg.user(2000 + n, name)
        for n, name in enumerate(("Ann", "Bob", "Cid", "Dan", "Eve", "Fay", "Gus"))
    )
    group = tg.group(GROUP, "Team", owner=ann, admins=[bob])
    for user in (cid, dan, eve, fay, gus):
        group.member(user)
    group.promote(cid, can_manage_chat=False, custom_title="Helper")
    group.restrict(eve, can_send_messages=False)
    group.kick(fay, by=ann)
    group.leave(gus)

    async def member(user_id: int):
        return await fake_bot.get_chat_member(GROUP, user_id)

    assert isinstance(await member(ann.user_id), ChatMemberOwner)
    full = await member(bob.user_id)
    assert isinstance(full, ChatMemberAdministrator)
    assert full.can_manage_chat and full.can_delete_messages and full.can_restrict_members
    limited = await member(cid.user_id)
    assert isinstance(limited, ChatMemberAdministrator)
    assert not limited.can_manage_chat and limited.can_delete_messages
    assert limited.custom_title == "Helper"
    group.set_admin_rights(cid, can_delete_messages=False)  # keeps can_manage_chat=False
    limited = await member(cid.user_id)
    assert isinstance(limited, ChatMemberAdministrator)
    assert (limited.can_manage_chat, limited.can_delete_messages) == (False, False)
    assert isinstance(await member(dan.user_id), ChatMemberMember)
    restricted = await member(eve.user_id)
    assert isinstance(restricted, ChatMemberRestricted)
    assert restricted.is_member and not restricted.can_send_messages
    assert restricted.can_send_photos
    assert isinstance(await member(fay.user_id), ChatMemberBanned)
    assert isinstance(await member(gus.user_id), ChatMemberLeft)
    assert isinstance(await member(9999), ChatMemberLeft)  # never in the group
    assert len(tg.calls("getChatMember")) == 9

    admins = await fake_bot.get_chat_administrators(GROUP)
    assert [(a.status, a.user.id) for a in admins] == [
        ("creator", ann.user_id),
        ("administrator", bob.user_id),
        ("administrator", cid.user_id),
    ]
    group.demote(cid)
    assert isinstance(await member(cid.user_id), ChatMemberMember)
    assert group.status(cid) == "member" and group.status(fay) == "kicked"
    with pytest.raises(TypeError, match="can_fly"):
        group.promote(dan, can_fly=True)

    # What people who are not (fully) in the group can do in their app.
    with pytest.raises(AssertionError, match="can_send_messages"):
        await group.member(eve).send("/help")
    with pytest.raises(AssertionError, match="kicked"):
        await group.member(fay).send("/help")
    with pytest.raises(AssertionError, match="join"):
        await group.member(gus).send("/help")

    # Joins and leaves are service messages: the bot gets them despite privacy mode.
    rejoined = group.join(gus)
    assert group.status(gus) == "member"
    await rejoined.send("back again")  # now allowed (and withheld: plain chatter)
    kinds = [
        next(k for k in u["message"] if k.endswith("chat_member") or k.endswith("members"))
        for u in tg.pending_updates
    ]
    assert kinds == ["left_chat_member", "left_chat_member", "new_chat_members"]
    kicked_update = tg.pending_updates[0]["message"]
    assert kicked_update["from"]["id"] == ann.user_id
    assert kicked_update["left_chat_member"]["id"] == fay.user_id
    assert [e.kind for e in tg.history(GROUP)] == ["service", "service", "service", "user_sent"]


async def test_bot_admin_rights_decide_what_it_may_delete(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> None:
    tg = fake_telegram
    group = tg.group(GROUP, "Team")
    group.set_bot_admin(can_delete_messages=False)
    me = await fake_bot.get_chat_member(GROUP, tg.bot_id)
    assert isinstance(me, ChatMemberAdministrator) and not me.can_delete_messages
    chat = group.member(tg.user(2001, "Ann"))
    sent = await chat.send("a key, maybe")
    assert not tg.is_withheld(sent)  # an admin bot sees everything
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await fake_bot.delete_message(GROUP, sent.message_id)
    group.set_bot_admin()
    assert await fake_bot.delete_message(GROUP, sent.message_id)
    await chat.wait_for_deletion(sent)


# ---------------------------------------------------------------------- migration


async def test_basic_group_upgraded_to_a_supergroup(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> None:
    tg = fake_telegram
    ann, bob = tg.user(2001, "Ann"), tg.user(2002, "Bob")
    basic = tg.group(BASIC_GROUP, "Team", owner=ann, admins=[bob])
    basic.promote(bob, can_manage_chat=False)
    old_chat = basic.member(ann)
    before = await fake_bot.send_message(BASIC_GROUP, "before")
    assert before.chat.type == "group"

    group = basic.migrate_to_supergroup(by=bob)
    new_id = group.chat_id
    assert str(new_id).startswith("-100") and len(str(new_id)) == 14
    assert tg.groups[BASIC_GROUP] is basic and tg.groups[new_id] is group
    assert basic.migrated_to is group and group.migrated_from is basic

    updates = await fake_bot.get_updates(timeout=0)
    old_side, new_side = (u.message for u in updates)
    assert old_side is not None and new_side is not None
    assert (old_side.chat.id, old_side.migrate_to_chat_id) == (BASIC_GROUP, new_id)
    assert (new_side.chat.id, new_side.chat.type) == (new_id, "supergroup")
    assert new_side.migrate_from_chat_id == BASIC_GROUP
    assert old_side.from_user is not None and old_side.from_user.id == bob.user_id
    assert new_side.from_user is not None and new_side.from_user.id == bob.user_id

    with pytest.raises(TelegramMigrateToChat) as migrated:
        await fake_bot.send_message(BASIC_GROUP, "after")
    assert migrated.value.migrate_to_chat_id == new_id
    assert "group chat was upgraded to a supergroup chat" in migrated.value.message
    with pytest.raises(TelegramMigrateToChat):
        await fake_bot.edit_message_text(
            "edited", chat_id=BASIC_GROUP, message_id=before.message_id
        )
    with pytest.raises(TelegramMigrateToChat):
        await fake_bot.get_chat_member(BASIC_GROUP, ann.user_id)
    assert (await fake_bot.get_chat(BASIC_GROUP)).type == "group"  # still readable

    info = await fake_bot.get_chat(new_id)
    assert (info.type, info.title) == ("supergroup", "Team")
    assert isinstance(await fake_bot.get_chat_member(new_id, ann.user_id), ChatMemberOwner)
    admin = await fake_bot.get_chat_member(new_id, bob.user_id)
    assert isinstance(admin, ChatMemberAdministrator) and not admin.can_manage_chat
    after = await fake_bot.send_message(new_id, "after")

    # Old messages stay in the old chat; the old handle can no longer act.
    assert [m.text for m in old_chat.messages] == ["before", ""]
    assert old_chat.messages[-1].raw["migrate_to_chat_id"] == new_id
    with pytest.raises(AssertionError, match="upgraded"):
        await old_chat.send("/help")
    new_chat = group.member(ann)
    assert [m.message_id for m in new_chat.messages] == [1, after.message_id]
    assert await new_chat.wait_for_message("after")
    await new_chat.send("/help")
    assert tg.pending_updates[-1]["message"]["chat"]["id"] == new_id
    with pytest.raises(ValueError, match="not a basic group"):
        group.migrate_to_supergroup()


# ---------------------------------------------------------------------- deep links


async def test_deep_links_send_start_with_payload(
    polling: tuple[FakeTelegram, list[Message]],
) -> None:
    tg, _ = polling
    ann = tg.user(2001, "Ann", started=False)
    chat = ann.private_chat()
    assert tg.deep_link("ref_42-x") == "https://t.me/fake_shop_bot?start=ref_42-x"

    sent = await ann.open_deep_link(tg.deep_link("ref_42-x"))
    assert (sent.chat_id, sent.text) == (ann.user_id, "/start ref_42-x")
    assert sent.entities == [{"type": "bot_command", "offset": 0, "length": 6}]
    await chat.wait_for_message("payload=ref_42-x")  # it opened the chat: the bot may write

    for link in ("t.me/fake_shop_bot?start=abc", "tg://resolve?domain=fake_shop_bot&start=abc"):
        assert (await ann.open_deep_link(link)).text == "/start abc"
        await chat.wait_for_message("payload=abc")
    assert (await ann.open_deep_link("bare_payload")).text == "/start bare_payload"
    await chat.wait_for_message("payload=bare_payload")

    invalid = (
        "https://t.me/fake_shop_bot?start=has%20space",
        f"https://t.me/fake_shop_bot?start={'x' * 65}",
        "https://t.me/fake_shop_bot?start=%C3%BC",
        "https://t.me/fake_shop_bot?start=",
        "https://t.me/fake_shop_bot",
    )
    for link in invalid:
        assert (await ann.open_deep_link(link)).text == "/start"
        await chat.wait_for_message("plain start")
    assert (await ann.open_deep_link("x" * 64)).text == f"/start {'x' * 64}"
    await chat.wait_for_message("payload=")

    with pytest.raises(AssertionError, match="not this bot"):
        await ann.open_deep_link("https://t.me/other_bot?start=abc")
    with pytest.raises(AssertionError, match="not a Telegram link"):
        await ann.open_deep_link("https://example.com/?start=abc")
    assert (await chat.start()).text == "/start"
    await chat.wait_for_message("plain start")


async def test_url_button_in_a_group_leads_to_the_private_chat(
    polling: tuple[FakeTelegram, list[Message]],
) -> None:
    tg, _ = polling
    ann, mila = tg.user(2001, "Ann"), tg.user(2003, "Mila")
    group = tg.group(GROUP, "Team", owner=ann)
    await group.member(ann).send("/menu")
    member_chat = group.member(mila)
    menu = await member_chat.wait_for_message("Menu")  # she did nothing: sees it all

    sent = await member_chat.open_url_button(menu, "Open in private")
    assert (sent.chat_id, sent.text) == (mila.user_id, f"/start grp_{abs(GROUP)}")
    await mila.private_chat().wait_for_message(f"payload=grp_{abs(GROUP)}")
    with pytest.raises(AssertionError, match="not a Telegram link"):
        await member_chat.open_url_button(menu, "Site")
    with pytest.raises(AssertionError, match="not a url button"):
        await member_chat.open_url_button(menu, "Tap")

    # In a group, start() is the startgroup form, addressed to this bot.
    started = await member_chat.start("grp")
    assert started.text == "/start@fake_shop_bot grp"
    assert started.entities == [{"type": "bot_command", "offset": 0, "length": 20}]
    await member_chat.wait_for_message("payload=grp")


# ---------------------------------------------------------------------- members' handles


async def test_every_member_sees_bot_messages_and_taps_carry_the_tapper(
    polling: tuple[FakeTelegram, list[Message]],
) -> None:
    tg, _ = polling
    olga, artem, mila = tg.user(2001, "Olga"), tg.user(2002, "Artem"), tg.user(2003, "Mila")
    group = tg.group(GROUP, "Team", owner=olga, admins=[artem])
    owner, admin, member = group.member(olga), group.member(artem), group.member(mila)

    await admin.send("/help")
    await admin.wait_for_message("got: /help")
    await owner.send("/menu")  # the owner acts; everyone sees the answer
    menus = [await h.wait_for_message("Menu") for h in (owner, admin, member)]
    assert len({m.message_id for m in menus}) == 1
    # The admin's handle starts after his own last action, so his /help answer is not
    # offered again; the member never acted, so hers starts at the beginning.
    await admin.expect_no_message("got: /help", within=0.05)
    assert (await member.wait_for_message("got:")).text == "got: /help"

    tap = await member.click(menus[0], "Tap")
    answer = await tap
    assert answer.text == f"from={mila.user_id} chat={GROUP}"
    record = tg.callback_queries[tap.query_id]
    assert (record.user_id, record.chat_id) == (mila.user_id, GROUP)
    for handle in (owner, admin, member):
        assert (await handle.wait_for_message("tapped by")).text == "tapped by Mila"
