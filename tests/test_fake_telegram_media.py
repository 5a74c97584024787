"""editMessageMedia in the fake Bot API: a text message becomes a photo (as the Bot API
allows), a photo another photo, never the other way; photos() counts what was edited in."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
)

from tests.fake_telegram import FakeTelegram, tiny_png

USER_ID = 1001


def _keyboard(data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Back", callback_data=data)]]
    )


async def test_a_text_message_becomes_a_photo_with_caption_and_keyboard(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> None:
    chat = fake_telegram.user(USER_ID, "Ann").private_chat()
    menu = await fake_bot.send_message(USER_ID, "Pick one", reply_markup=_keyboard("a"))
    png = tiny_png(3, 3)
    edited = await fake_bot.edit_message_media(
        InputMediaPhoto(media=BufferedInputFile(png, "qr.png"), caption="<code>T123</code>"),
        chat_id=USER_ID,
        message_id=menu.message_id,
        reply_markup=_keyboard("b"),
    )
    assert edited.message_id == menu.message_id and edited.text is None  # type: ignore[union-attr]
    shown = chat.message(menu.message_id)
    assert shown is not None and shown.photo is not None and shown.photo.data == png
    assert shown.text == "T123" and shown.entities[0]["type"] == "code"
    assert shown.button_texts == ["Back"] and shown.button("Back").callback_data == "b"
    assert shown.is_edited and len(chat.bot_messages()) == 1
    assert [p.data for p in fake_telegram.photos(USER_ID)] == [png]

    # A photo → another photo; the same file again is "not modified".
    other = tiny_png(4, 4)
    await fake_bot.edit_message_media(
        InputMediaPhoto(media=BufferedInputFile(other, "qr2.png"), caption="again"),
        chat_id=USER_ID,
        message_id=menu.message_id,
    )
    assert [p.data for p in fake_telegram.photos(USER_ID)] == [png, other]
    current = chat.message(menu.message_id)
    assert current is not None and current.buttons == []  # no markup given: none kept
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await fake_bot.edit_message_media(
            InputMediaPhoto(media=current.photo.file_id, caption="again"),  # type: ignore[union-attr]
            chat_id=USER_ID,
            message_id=menu.message_id,
        )
    # Only the caption changes: not a new photo.
    await fake_bot.edit_message_caption(
        chat_id=USER_ID, message_id=menu.message_id, caption="caption only"
    )
    assert len(fake_telegram.photos(USER_ID)) == 2


async def test_a_photo_cannot_become_text_and_user_messages_cannot_be_edited(
    fake_telegram: FakeTelegram, fake_bot: Bot
) -> None:
    chat = fake_telegram.user(USER_ID, "Ann").private_chat()
    photo = await fake_bot.send_photo(USER_ID, BufferedInputFile(tiny_png(), "p.png"))
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await fake_bot.edit_message_text("text", chat_id=USER_ID, message_id=photo.message_id)
    said = await chat.send("hello")
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await fake_bot.edit_message_media(
            InputMediaPhoto(media=BufferedInputFile(tiny_png(), "p.png")),
            chat_id=USER_ID,
            message_id=said.message_id,
        )
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await fake_bot.edit_message_media(
            InputMediaPhoto(media=BufferedInputFile(b"not an image", "p.png")),
            chat_id=USER_ID,
            message_id=photo.message_id,
        )


async def test_a_photo_becomes_a_document(fake_telegram: FakeTelegram, fake_bot: Bot) -> None:
    chat = fake_telegram.user(USER_ID, "Ann").private_chat()
    photo = await fake_bot.send_photo(USER_ID, BufferedInputFile(tiny_png(), "p.png"))
    await fake_bot.edit_message_media(
        InputMediaDocument(media=BufferedInputFile(b"a,b\n", "list.csv"), caption="list"),
        chat_id=USER_ID,
        message_id=photo.message_id,
    )
    shown = chat.message(photo.message_id)
    assert shown is not None and shown.photo is None and shown.document is not None
    assert shown.document.filename == "list.csv" and shown.text == "list"
    assert [d.data for d in fake_telegram.documents(USER_ID)] == [b"a,b\n"]
