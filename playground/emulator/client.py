"""The test-facing side of the fake: users and chats a test drives, and what they see.

A test injects updates as a person would produce them (a text, a button press, a sticker) and
then waits, with a bounded timeout, for what the bot did in response. Every wait is woken by
the server on each state change; nothing sleeps for a fixed time.
"""

# Bounded waits take an explicit ``timeout=`` so failures name the condition that never came.
# ruff: noqa: ASYNC109

from __future__ import annotations

import binascii
import copy
import json
import mimetypes
import re
import struct
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from .html import render_html
from .server import ADMIN_RIGHTS, DEFAULT_TOKEN, MEMBER_PERMISSIONS, FakeBotApi
from .state import (
    AnsweredCallback,
    ChatEvent,
    ChatRecord,
    ClockLike,
    MessageMeta,
    RecordedRequest,
    StoredFile,
)

T = TypeVar("T")
Match = Callable[["TgMessage"], bool] | str | None
_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
# What Telegram passes on from a t.me/<bot>?start=<payload> link (else: a plain /start).
START_PAYLOAD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LINK_HOSTS = frozenset({"t.me", "telegram.me", "telegram.dog"})


def tiny_png(width: int = 1, height: int = 1) -> bytes:
    """A valid PNG (white pixels), for photo uploads that must pass Telegram's image checks."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = binascii.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass
class TgMessage:
    """A message as the user sees it (snapshot at the time it was read)."""

    message_id: int
    chat_id: int
    from_bot: bool
    from_id: int | None
    date: datetime
    text: str  # text, or caption for media; "" when there is neither
    raw_text: str | None  # as sent: HTML source for bot messages, typed text for users
    parse_mode: str | None
    entities: list[dict[str, Any]]
    buttons: list[list[Button]]
    document: StoredFile | None
    photo: StoredFile | None
    sticker: dict[str, Any] | None
    edit_date: datetime | None
    reply_to_message_id: int | None
    raw: dict[str, Any]
    event: str | None = None  # "sent" / "edited" when returned by wait_for_message
    # The reply_markup the bot sent with the message, of any kind (ForceReply, reply
    # keyboards, inline keyboards); None for users' messages.
    sent_reply_markup: dict[str, Any] | None = None

    @property
    def force_reply(self) -> bool:
        """Sent with a ForceReply markup (the user's app opens a reply to it)."""
        return bool(self.sent_reply_markup and self.sent_reply_markup.get("force_reply") is True)

    @property
    def input_field_placeholder(self) -> str | None:
        """The placeholder of the ForceReply / reply keyboard it was sent with."""
        markup = self.sent_reply_markup or {}
        return markup.get("input_field_placeholder")

    @property
    def html(self) -> str:
        """Text re-rendered from entities, e.g. ``"<b>Balance</b>: 5"``."""
        return render_html(self.text, self.entities)

    @property
    def is_edited(self) -> bool:
        return self.edit_date is not None

    @property
    def flat_buttons(self) -> list[Button]:
        return [button for row in self.buttons for button in row]

    @property
    def button_texts(self) -> list[str]:
        return [button.text for button in self.flat_buttons]

    def button(self, text: str | None = None, *, data: str | None = None) -> Button:
        """The inline button with this exact text (or unique substring) or callback_data."""
        buttons = self.flat_buttons
        if data is not None:
            found = [b for b in buttons if b.callback_data == data]
        else:
            if text is None:
                raise ValueError("give the button text or data=")
            found = [b for b in buttons if b.text == text] or [b for b in buttons if text in b.text]
        if len(found) != 1:
            wanted = f"data={data!r}" if data is not None else repr(text)
            problem = "no" if not found else "more than one"
            raise AssertionError(
                f"{problem} button matching {wanted} on message #{self.message_id} "
                f"({self.text[:60]!r}); buttons: {self._describe_buttons()}"
            )
        return found[0]

    def _describe_buttons(self) -> str:
        return repr([[(b.text, b.callback_data or b.url) for b in row] for row in self.buttons])

    def __str__(self) -> str:
        who = "bot" if self.from_bot else f"user {self.from_id}"
        parts = [f"#{self.message_id} {who}: {self.text[:120]!r}"]
        if self.document is not None:
            parts.append(f"document={self.document.filename!r}")
        if self.photo is not None:
            parts.append("photo")
        if self.buttons:
            parts.append(f"buttons={self._describe_buttons()}")
        if self.edit_date is not None:
            parts.append("(edited)")
        return " ".join(parts)


class CallbackHandle:
    """A pressed button; await it (or ``wait_answer``) for the bot's answerCallbackQuery."""

    def __init__(
        self, tg: FakeTelegram, query_id: str, data: str | None, message_id: int | None
    ) -> None:
        self.tg = tg
        self.query_id = query_id
        self.data = data
        self.message_id = message_id

    @property
    def answer(self) -> AnsweredCallback | None:
        return self.tg.callback_queries[self.query_id].answer

    @property
    def answered(self) -> bool:
        return self.answer is not None

    async def wait_answer(self, timeout: float = 5.0) -> AnsweredCallback:
        def failure() -> str:
            return (
                f"callback query {self.query_id} (data={self.data!r}) was not answered; "
                f"bot requests since the press:\n{self.tg.describe_requests(limit=15)}"
            )

        return await self.tg.wait_for(lambda: self.answer, timeout=timeout, failure=failure)

    def __await__(self) -> Generator[Any, None, AnsweredCallback]:
        return self.wait_answer().__await__()


class ChatHandle:
    """One chat seen by one user: what they send and what the bot shows them."""

    def __init__(self, tg: FakeTelegram, chat_id: int, user: FakeUser) -> None:
        self.tg = tg
        self.chat_id = chat_id
        self.user = user
        # Events with seq <= _mark happened before the user's latest action.
        self._mark = 0
        self._consumed: set[int] = set()

    # ------------------------------------------------------------------ state

    @property
    def record(self) -> ChatRecord:
        return self.tg.chats[self.chat_id]

    @property
    def messages(self) -> list[TgMessage]:
        """Visible messages (user's and bot's), edits applied, deleted ones gone."""
        record = self.record
        return [
            self.tg.to_message(record.messages[mid], record.meta.get(mid))
            for mid in sorted(record.messages)
        ]

    def bot_messages(self) -> list[TgMessage]:
        return [m for m in self.messages if m.from_bot]

    def last_bot_message(self) -> TgMessage | None:
        bot_messages = self.bot_messages()
        return bot_messages[-1] if bot_messages else None

    def message(self, message_id: int) -> TgMessage | None:
        record = self.record
        if message_id not in record.messages:
            return None
        return self.tg.to_message(record.messages[message_id], record.meta.get(message_id))

    @property
    def deleted_ids(self) -> list[int]:
        return list(self.record.deleted)

    @property
    def reply_keyboard(self) -> list[list[str]] | None:
        """Labels of the reply keyboard currently shown under the input field."""
        markup = self.record.reply_keyboard
        if markup is None:
            return None
        return [
            [b["text"] if isinstance(b, dict) else str(b) for b in row]
            for row in markup["keyboard"]
        ]

    @property
    def actions(self) -> list[str]:
        """Chat actions (typing, upload_document, ...) the bot sent, in order."""
        return list(self.record.actions)

    def mark(self) -> None:
        """Treat everything the bot did so far as already seen by ``wait_for_message``."""
        self._mark = self.tg.current_seq

    # ------------------------------------------------------------------ user actions

    async def send(
        self,
        text: str,
        *,
        reply_to: TgMessage | int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> TgMessage:
        """The user sends a text message; a leading /command gets its bot_command entity."""
        content: dict[str, Any] = {"text": text}
        if entities is None:
            command = _COMMAND_RE.match(text)
            entities = (
                [{"type": "bot_command", "offset": 0, "length": len(command.group(0))}]
                if command
                else []
            )
        if entities:
            content["entities"] = entities
        return await self.send_content(content, reply_to=reply_to)

    async def send_sticker(self, emoji: str = "👍") -> TgMessage:
        file_id, unique_id = self.tg.new_file_ids("sticker")
        self.tg.register_file(StoredFile(file_id, unique_id, "sticker", width=512, height=512))
        sticker = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return await self.send_content({"sticker": sticker})

    async def send_photo(
        self, data: bytes | None = None, *, caption: str | None = None
    ) -> TgMessage:
        data = tiny_png() if data is None else data
        file_id, unique_id = self.tg.new_file_ids("photo")
        stored = self.tg.register_file(
            StoredFile(file_id, unique_id, "photo", data=data, width=1, height=1)
        )
        content: dict[str, Any] = {"photo": self.tg.photo_json(stored)}
        if caption:
            content["caption"] = caption
        return await self.send_content(content)

    async def send_document(
        self,
        filename: str = "file.txt",
        data: bytes = b"hello",
        *,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> TgMessage:
        file_id, unique_id = self.tg.new_file_ids("document")
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self.tg.register_file(
            StoredFile(file_id, unique_id, "document", filename=filename, data=data, mime_type=mime)
        )
        content: dict[str, Any] = {"document": self.tg.document_json(stored)}
        if caption:
            content["caption"] = caption
        return await self.send_content(content)

    async def send_content(
        self, content: dict[str, Any], *, reply_to: TgMessage | int | None = None
    ) -> TgMessage:
        """The user sends a message with arbitrary Message fields (contact, location, ...).

        In a group the message is stored (every member sees it) but reaches the bot only if
        Telegram would give it to the bot (privacy mode: see ``FakeBotApi.bot_receives``);
        ``tg.is_withheld(message)`` tells.
        """
        self._check_can_act(posting=True)
        self.mark()
        record = self.record
        if record.type == "private":
            if record.blocked:
                # Pressing Start again unblocks the bot; Telegram tells it before the message.
                self.tg.bot_membership_changed(record, "kicked", "member", self.user.as_dict())
            # Writing to a bot (or pressing Start) is what lets it message you, and unblocks it.
            record.started = True
            record.blocked = False
        message_id = record.allocate_message_id()
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self.user.as_dict(),
            "chat": record.as_dict(),
            "date": self.tg.now_ts(),
            **copy.deepcopy(content),
        }
        if reply_to is not None:
            target_id = reply_to if isinstance(reply_to, int) else reply_to.message_id
            if target_id in record.messages:
                target = record.snapshot(target_id)
                target.pop("reply_to_message", None)
                message["reply_to_message"] = target
        record.messages[message_id] = message
        raw_text = content.get("text", content.get("caption"))
        record.meta[message_id] = MessageMeta(
            from_bot=False, raw_text=raw_text, sent_at=self.tg.clock.now()
        )
        self.tg.record_chat_event(record, "user_sent", message_id)
        self.tg.deliver_message(record, message)
        return self.tg.to_message(message, record.meta[message_id])

    def _check_can_act(self, *, posting: bool) -> None:
        """Refuse (AssertionError) what the person could not do in their app."""
        record = self.record
        if record.type not in ("group", "supergroup"):
            return
        if record.migrated_to is not None:
            raise AssertionError(
                f"group {record.id} was upgraded to the supergroup {record.migrated_to}: "
                f"act in tg.groups[{record.migrated_to}].member(user)"
            )
        status = self.tg.member_status(record, self.user.user_id)
        if status in ("left", "kicked"):
            raise AssertionError(
                f"user {self.user.user_id} is not in group {record.id} (status {status!r}); "
                "group.join(user) first"
            )
        permissions = record.restricted.get(self.user.user_id, {})
        if posting and status == "restricted" and not permissions.get("can_send_messages", True):
            raise AssertionError(
                f"user {self.user.user_id} is restricted in group {record.id} "
                "(can_send_messages=False)"
            )

    async def reply(
        self,
        message: TgMessage | int,
        text: str,
        *,
        entities: list[dict[str, Any]] | None = None,
    ) -> TgMessage:
        """The user replies to ``message`` of this chat (``reply_to_message`` is set).

        A reply to one of the bot's messages reaches the bot even in privacy mode (that is
        how a ForceReply prompt gets its answer in a group).
        """
        message_id = message if isinstance(message, int) else message.message_id
        if not isinstance(message, int) and message.chat_id != self.chat_id:
            raise AssertionError(
                f"message #{message_id} is in chat {message.chat_id}, not in {self.chat_id}"
            )
        if message_id not in self.record.messages:
            raise AssertionError(f"message #{message_id} is not in chat {self.chat_id}")
        return await self.send(text, reply_to=message_id, entities=entities)

    async def start(self, payload: str | None = None) -> TgMessage:
        """Press Start, or follow a deep link with ``payload``: sends ``/start <payload>``
        (``/start@<bot> <payload>`` in a group, as a startgroup link does). A payload
        Telegram would not pass on (not 1..64 of ``A-Za-z0-9_-``) gives a plain /start.
        The bot_command entity covers the command only."""
        command = "/start" if self.record.type == "private" else f"/start@{self.tg.bot_username}"
        text = command
        if payload is not None and START_PAYLOAD_RE.match(payload):
            text = f"{command} {payload}"
        entities = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self.send(text, entities=entities)

    async def open_url_button(
        self, message: TgMessage | int, text: str | None = None, *, url: str | None = None
    ) -> TgMessage:
        """Tap a url button of a bot message that deep-links to this bot
        (``https://t.me/<bot>?start=<payload>``): the user's private chat with the bot
        gets ``/start <payload>``, which is returned. Wait for the answer on
        ``self.user.private_chat()``. Fails if the button opens anything else."""
        message_id = message if isinstance(message, int) else message.message_id
        current = self.message(message_id)
        if current is None or not current.from_bot:
            raise AssertionError(f"no bot message #{message_id} in chat {self.chat_id}")
        if url is not None:
            found = [b for b in current.flat_buttons if b.url == url]
            if len(found) != 1:
                raise AssertionError(f"no button with url {url!r}: {current._describe_buttons()}")
            button = found[0]
        else:
            button = current.button(text)
        if button.url is None:
            raise AssertionError(f"button {button.text!r} is not a url button: {button}")
        self._check_can_act(posting=False)
        return await self.user.open_deep_link(button.url)

    async def press_reply_button(self, text: str) -> TgMessage:
        """Tap a button of the reply keyboard (it sends its label as a text message)."""
        keyboard = self.reply_keyboard
        labels = [label for row in keyboard or [] for label in row]
        if text not in labels:
            raise AssertionError(f"no reply-keyboard button {text!r}; keyboard: {keyboard!r}")
        return await self.send(text, entities=[])

    async def click(
        self, message: TgMessage | int, text: str | None = None, *, data: str | None = None
    ) -> CallbackHandle:
        """Press an inline button as it is *now* on ``message`` (by text or callback_data)."""
        message_id = message if isinstance(message, int) else message.message_id
        current = self.message(message_id)
        if current is None:
            raise AssertionError(
                f"message #{message_id} is not in chat {self.chat_id} (deleted: "
                f"{message_id in self.record.deleted}); can't press its buttons"
            )
        if not current.from_bot:
            raise AssertionError(f"message #{message_id} is not a bot message")
        button = current.button(text, data=data)
        if button.callback_data is None:
            raise AssertionError(f"button {button.text!r} is not a callback button: {button}")
        return self._press(button.callback_data, message_id)

    async def click_forged(
        self, data: str, *, message: TgMessage | int | None = None
    ) -> CallbackHandle:
        """Send a callback query with arbitrary data, as a tampering client could."""
        if message is None:
            last = self.last_bot_message()
            message_id = last.message_id if last else None
        else:
            message_id = message if isinstance(message, int) else message.message_id
        return self._press(data, message_id)

    def _press(self, data: str | None, message_id: int | None) -> CallbackHandle:
        self._check_can_act(posting=False)
        self.mark()
        record = self.record
        query_id = self.tg.new_callback_query(self.user.user_id, self.chat_id, message_id, data)
        query: dict[str, Any] = {
            "id": query_id,
            "from": self.user.as_dict(),
            "chat_instance": str(abs(self.chat_id) * 7919 + self.tg.bot_id),
        }
        if message_id is not None:
            if message_id in record.messages:
                query["message"] = record.snapshot(message_id)
            else:
                # What Telegram sends for a message the bot can no longer access.
                query["message"] = {"chat": record.as_dict(), "message_id": message_id, "date": 0}
        if data is not None:
            query["data"] = data
        self.tg.enqueue_update({"callback_query": query})
        return CallbackHandle(self.tg, query_id, data, message_id)

    # ------------------------------------------------------------------ waiting

    async def wait_for_message(
        self, match: Match = None, *, timeout: float = 5.0, since: int | None = None
    ) -> TgMessage:
        """The first bot message sent or edited after the user's last action that matches.

        ``match`` is a predicate or a substring of the text. Each returned event is consumed,
        so repeated calls walk through the bot's messages in order. ``since`` (a seq from
        ``tg.current_seq``) overrides the starting point; 0 searches the whole history.

        In a group every member sees every bot message to the group, whoever caused it:
        a member's handle finds the bot's messages after *that member's* last action (the
        whole history if they never acted; ``mark()`` to skip it), and consumes them for
        that handle only.
        """
        start = self._mark if since is None else since
        predicate = _as_predicate(match)

        def find() -> TgMessage | None:
            for event in self.record.events:
                if event.seq <= start or event.seq in self._consumed:
                    continue
                if event.kind not in ("sent", "edited") or event.snapshot is None:
                    continue
                message = self.tg.to_message(event.snapshot, event.meta, event=event.kind)
                if predicate(message):
                    self._consumed.add(event.seq)
                    return message
            return None

        return await self.tg.wait_for(
            find, timeout=timeout, failure=lambda: self._describe_failure(match, start)
        )

    async def expect_no_message(
        self, match: Match = None, *, within: float = 0.3, since: int | None = None
    ) -> None:
        """Fail as soon as a matching bot message appears within ``within`` seconds."""
        try:
            found = await self.wait_for_message(match, timeout=within, since=since)
        except AssertionError:
            return
        raise AssertionError(f"bot unexpectedly sent {found}")

    async def wait_until(
        self,
        predicate: Callable[[ChatHandle], T],
        *,
        timeout: float = 5.0,
        what: str = "chat condition",
    ) -> T:
        """Wait for any condition on this chat (e.g. a message to be deleted)."""
        return await self.tg.wait_for(
            lambda: predicate(self),
            timeout=timeout,
            failure=lambda: f"{what} not met; {self.describe()}",
        )

    async def wait_for_deletion(self, message: TgMessage | int, *, timeout: float = 5.0) -> None:
        message_id = message if isinstance(message, int) else message.message_id
        await self.wait_until(
            lambda chat: message_id in chat.record.deleted,
            timeout=timeout,
            what=f"deletion of message #{message_id}",
        )

    def describe(self) -> str:
        lines = [f"chat {self.chat_id} now shows:"]
        lines += [f"  {m}" for m in self.messages] or ["  (nothing)"]
        return "\n".join(lines)

    def _describe_failure(self, match: Match, start: int) -> str:
        what = (
            match
            if isinstance(match, str) or match is None
            else getattr(match, "__name__", repr(match))
        )
        lines = [f"no bot message matching {what!r} in chat {self.chat_id}."]
        lines.append("Bot messages sent/edited since the user's last action:")
        events = [
            e
            for e in self.record.events
            if e.seq > start and e.kind in ("sent", "edited", "deleted")
        ]
        for event in events:
            if event.snapshot is not None:
                shown = self.tg.to_message(event.snapshot, event.meta)
                lines.append(f"  [{event.kind}] {shown}")
            else:
                lines.append(f"  [{event.kind}] #{event.message_id}")
        if not events:
            lines.append("  (none)")
        withheld = [
            m
            for m in self.tg.withheld_messages(self.chat_id)
            if any(e.seq > start and e.message_id == m.message_id for e in self.record.events)
        ]
        if withheld:
            lines.append("Messages Telegram did NOT give the bot (privacy mode, see README):")
            lines += [f"  {m}" for m in withheld[-10:]]
        failed = [r for r in self.tg.requests if r.seq > start and not r.ok]
        if failed:
            lines.append("Bot API calls that FAILED since then:")
            lines += [f"  {r}" for r in failed[-10:]]
        lines.append(self.describe())
        return "\n".join(lines)


def _as_predicate(match: Match) -> Callable[[TgMessage], bool]:
    if match is None:
        return lambda message: True
    if isinstance(match, str):
        return lambda message: match in message.text
    return match


@dataclass
class FakeUser:
    tg: FakeTelegram = field(repr=False, compare=False)
    user_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_premium: bool = False
    _private: ChatHandle | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                user[key] = value
        if self.is_premium:
            user["is_premium"] = True
        return user

    def private_chat(self) -> ChatHandle:
        if self._private is None:
            self._private = ChatHandle(self.tg, self.user_id, self)
        return self._private

    def block_bot(self, *, notify: bool = True) -> None:
        """Further sends to this user fail with 403 "bot was blocked by the user".

        ``notify``: the bot gets the ``my_chat_member`` update (member → kicked) Telegram
        sends; False: it finds out only from the 403 of its next send.
        """
        record = self.tg.chats[self.user_id]
        if notify and not record.blocked:
            self.tg.bot_membership_changed(record, "member", "kicked", self.as_dict())
        record.blocked = True

    def unblock_bot(self, *, notify: bool = True) -> None:
        """As pressing Start again, without a message (``my_chat_member`` kicked → member)."""
        record = self.tg.chats[self.user_id]
        if notify and record.blocked:
            self.tg.bot_membership_changed(record, "kicked", "member", self.as_dict())
        record.blocked = False

    async def open_deep_link(self, link: str) -> TgMessage:
        """The user opens ``https://t.me/<bot>?start=<payload>`` (also ``t.me/...``,
        ``telegram.me``, ``tg://resolve?domain=<bot>&start=...``) or, given a bare payload,
        a link with it: their private chat sends ``/start <payload>`` (as pressing Start
        does; it also unblocks a blocked bot). An invalid payload, or none, gives a plain
        ``/start``. A link to another bot or site fails the test. Returns the sent message.
        """
        payload = parse_start_link(link, self.tg.bot_username)
        return await self.private_chat().start(payload)


def parse_start_link(link: str, bot_username: str) -> str | None:
    """The start payload of a deep link to ``bot_username`` (None: none given); a string
    that is not a link is taken as the payload itself."""
    if link.startswith(("t.me/", "telegram.me/", "telegram.dog/")):
        link = f"https://{link}"
    parts = urlsplit(link)
    if parts.scheme in ("http", "https") and (parts.hostname or "").lower() in _LINK_HOSTS:
        name = parts.path.strip("/")
    elif parts.scheme == "tg" and parts.netloc == "resolve":
        name = parse_qs(parts.query).get("domain", [""])[0]
    elif parts.scheme:
        raise AssertionError(f"{link!r} is not a Telegram link to a bot")
    else:
        return link
    if name.lower() != bot_username.lower():
        raise AssertionError(f"{link!r} opens {name!r}, not this bot @{bot_username}")
    query = parse_qs(parts.query, keep_blank_values=True)
    if "startgroup" in query or "startchannel" in query:
        raise AssertionError(f"{link!r} adds the bot to a group: not emulated")
    return query["start"][0] if "start" in query else None


class FakeGroup:
    """A group or supergroup and the people in it (see the README's "Groups" section)."""

    def __init__(self, tg: FakeTelegram, chat_id: int) -> None:
        self.tg = tg
        self.chat_id = chat_id
        self._handles: dict[int, ChatHandle] = {}

    @property
    def record(self) -> ChatRecord:
        return self.tg.chats[self.chat_id]

    @property
    def migrated_to(self) -> FakeGroup | None:
        """The supergroup this basic group became (``migrate_to_supergroup``), if any."""
        target = self.record.migrated_to
        return None if target is None else self.tg.groups[target]

    @property
    def migrated_from(self) -> FakeGroup | None:
        source = self.record.migrated_from
        return None if source is None else self.tg.groups[source]

    def member(self, user: FakeUser) -> ChatHandle:
        """This group as ``user`` sees it (they become a member unless they left or were
        kicked: then the handle can only read)."""
        record = self.record
        uid = user.user_id
        if uid not in record.member_ids and uid not in record.left_ids + record.kicked_ids:
            record.member_ids.append(uid)
        if uid not in self._handles:
            self._handles[uid] = ChatHandle(self.tg, self.chat_id, user)
        return self._handles[uid]

    def status(self, user: FakeUser | int) -> str:
        """What getChatMember would say: creator, administrator, member, restricted, left,
        kicked."""
        return self.tg.member_status(self.record, _uid(user))

    def set_owner(self, user: FakeUser) -> None:
        self.record.owner_id = user.user_id

    def set_admins(self, *users: FakeUser) -> None:
        """Replace the admin list getChatAdministrators/getChatMember report (owner aside);
        each with full rights (``ADMIN_RIGHTS``)."""
        record = self.record
        record.admin_ids = [u.user_id for u in users]
        record.admin_rights = {}
        for user in users:
            self._make_present(user.user_id)

    def promote(self, user: FakeUser, *, custom_title: str | None = None, **rights: bool) -> None:
        """Make ``user`` an administrator with full rights except those given, e.g.
        ``promote(bob, can_manage_chat=False)`` (replaces earlier overrides)."""
        record = self.record
        uid = user.user_id
        if uid == record.owner_id:
            raise ValueError("the owner is the creator, not an administrator")
        overrides: dict[str, Any] = _check_keys(rights, ADMIN_RIGHTS, "can_manage_topics")
        if custom_title is not None:
            overrides["custom_title"] = custom_title
        self._make_present(uid)
        if uid not in record.admin_ids:
            record.admin_ids.append(uid)
        record.admin_rights[uid] = overrides

    def set_admin_rights(self, user: FakeUser, **rights: Any) -> None:
        """Change some rights of an administrator (promoting them if need be), keeping the
        other overrides: ``set_admin_rights(bob, can_manage_chat=False)``."""
        current = dict(self.record.admin_rights.get(user.user_id, {}))
        title = current.pop("custom_title", None)
        title = rights.pop("custom_title", title)
        self.promote(user, custom_title=title, **{**current, **rights})

    def demote(self, user: FakeUser) -> None:
        """An administrator goes back to being a plain member."""
        record = self.record
        uid = user.user_id
        if uid == record.owner_id:
            raise ValueError("the owner can't be demoted")
        if uid in record.admin_ids:
            record.admin_ids.remove(uid)
        record.admin_rights.pop(uid, None)
        self._make_present(uid)

    def restrict(self, user: FakeUser, **permissions: bool) -> None:
        """getChatMember says ``restricted`` (still a member) with these permissions (the
        rest: ``MEMBER_PERMISSIONS``); ``can_send_messages=False`` stops their sends."""
        record = self.record
        uid = user.user_id
        if uid == record.owner_id:
            raise ValueError("the owner can't be restricted")
        given = _check_keys(permissions, MEMBER_PERMISSIONS)
        self.demote(user)
        record.restricted[uid] = {
            "is_member": True,
            **MEMBER_PERMISSIONS,
            **given,
            "until_date": 0,
        }

    def unrestrict(self, user: FakeUser) -> None:
        self.record.restricted.pop(user.user_id, None)

    def kick(self, user: FakeUser, by: FakeUser | None = None, *, notify: bool = True) -> None:
        """Ban ``user`` (status ``kicked``); ``notify``: the group shows, and the bot gets,
        the ``left_chat_member`` service message from ``by`` (default: the owner)."""
        uid = user.user_id
        if uid == self.record.owner_id:
            raise ValueError("the owner can't be kicked")
        self._remove(uid)
        self.record.kicked_ids.append(uid)
        if notify:
            self._post_service(self._actor(by), {"left_chat_member": user.as_dict()})

    def unban(self, user: FakeUser) -> None:
        """A kicked user may join again (status ``left``)."""
        record = self.record
        if user.user_id in record.kicked_ids:
            record.kicked_ids.remove(user.user_id)
            record.left_ids.append(user.user_id)

    def leave(self, user: FakeUser, *, notify: bool = True) -> None:
        """``user`` leaves (status ``left``); ``notify``: with the ``left_chat_member``
        service message."""
        uid = user.user_id
        self._remove(uid)
        if uid == self.record.owner_id:
            self.record.owner_id = None
        self.record.left_ids.append(uid)
        if notify:
            self._post_service(user.as_dict(), {"left_chat_member": user.as_dict()})

    def join(
        self, user: FakeUser, by: FakeUser | None = None, *, notify: bool = True
    ) -> ChatHandle:
        """``user`` joins (or is added by ``by``): status ``member``; ``notify``: with the
        ``new_chat_members`` service message. Returns their handle."""
        record = self.record
        uid = user.user_id
        if uid in record.kicked_ids:
            raise AssertionError(f"user {uid} is banned from group {self.chat_id}; unban first")
        if uid in record.left_ids:
            record.left_ids.remove(uid)
        if uid not in record.member_ids:
            record.member_ids.append(uid)
        if notify:
            actor = by.as_dict() if by is not None else user.as_dict()
            self._post_service(actor, {"new_chat_members": [user.as_dict()]})
        return self.member(user)

    def set_bot_admin(self, is_admin: bool = True, **rights: bool) -> None:
        """Make the bot an administrator (full rights except those given, e.g.
        ``can_delete_messages=False``) or, with False, a plain member. No update is sent;
        ``tg.bot_membership_changed`` sends one. An admin bot sees every group message."""
        record = self.record
        record.bot_is_admin = is_admin
        record.bot_rights = (
            _check_keys(rights, ADMIN_RIGHTS, "can_manage_topics") if is_admin else {}
        )

    def remove_bot(self, by: FakeUser | None = None, *, notify: bool = True) -> None:
        """Sends to this group fail with 403 "bot was kicked from the ... chat".

        ``notify``: the bot gets the ``my_chat_member`` update (→ kicked in a supergroup,
        → left in a basic group) from ``by`` (default: the owner, else a stub user).
        """
        record = self.record
        if notify and not record.bot_removed:
            old = "administrator" if record.bot_is_admin else "member"
            new = "kicked" if record.type == "supergroup" else "left"
            self.tg.bot_membership_changed(record, old, new, self._actor(by))
        record.bot_removed = True
        record.bot_is_admin = False

    def add_bot(self, by: FakeUser | None = None, *, notify: bool = True) -> None:
        """(Re-)add the bot as a plain member: sends work again; ``my_chat_member`` → member."""
        record = self.record
        if notify and record.bot_removed:
            old = "kicked" if record.type == "supergroup" else "left"
            self.tg.bot_membership_changed(record, old, "member", self._actor(by))
        record.bot_removed = False

    def migrate_to_supergroup(
        self, new_chat_id: int | None = None, *, by: FakeUser | None = None
    ) -> FakeGroup:
        """Upgrade this basic group to a supergroup, as Telegram does when a group turns
        public, grows or gets a setting only supergroups have.

        The supergroup gets a new id (``new_chat_id`` or a fresh ``-100…``) and the same
        title, owner, admins (and their rights), members and bot membership; it is added to
        ``tg.groups``, and this group stays there too, with its messages, marked
        ``migrated_to``. The bot gets two service messages, both from ``by`` (default: the
        owner): ``migrate_to_chat_id`` in this chat, then ``migrate_from_chat_id`` in the new
        one. From then on the bot's sends, edits, deletes, getChatMember... to this chat fail
        with 400 "group chat was upgraded to a supergroup chat" and ``migrate_to_chat_id``
        (aiogram: TelegramMigrateToChat); getChat still works. Members act in the new group
        through ``new_group.member(user)``; old handles refuse to act.
        """
        old = self.record
        if old.type != "group":
            raise ValueError(f"chat {self.chat_id} is a {old.type}, not a basic group")
        if old.migrated_to is not None:
            raise ValueError(f"group {self.chat_id} was already upgraded to {old.migrated_to}")
        if new_chat_id is None:
            new_chat_id = self.tg.new_supergroup_id()
        elif new_chat_id > -(10**12) or new_chat_id in self.tg.chats:
            raise ValueError(f"{new_chat_id} is not a free supergroup id (-100…)")
        actor = self._actor(by)
        self.tg.chats[new_chat_id] = ChatRecord(
            id=new_chat_id,
            type="supergroup",
            title=old.title,
            owner_id=old.owner_id,
            admin_ids=list(old.admin_ids),
            member_ids=list(old.member_ids),
            bot_is_admin=old.bot_is_admin,
            bot_removed=old.bot_removed,
            admin_rights=copy.deepcopy(old.admin_rights),
            bot_rights=dict(old.bot_rights),
            restricted=copy.deepcopy(old.restricted),
            left_ids=list(old.left_ids),
            kicked_ids=list(old.kicked_ids),
            migrated_from=self.chat_id,
        )
        new_group = FakeGroup(self.tg, new_chat_id)
        self.tg.groups[new_chat_id] = new_group
        self._post_service(actor, {"migrate_to_chat_id": new_chat_id})
        old.migrated_to = new_chat_id
        new_group._post_service(actor, {"migrate_from_chat_id": self.chat_id})
        return new_group

    def _post_service(self, actor: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        """A service message in this group (stored, and given to the bot if it is there)."""
        record = self.record
        message_id = record.allocate_message_id()
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": actor,
            "chat": record.as_dict(),
            "date": self.tg.now_ts(),
            **copy.deepcopy(fields),
        }
        record.messages[message_id] = message
        record.meta[message_id] = MessageMeta(from_bot=False, sent_at=self.tg.clock.now())
        self.tg.record_chat_event(record, "service", message_id)
        self.tg.deliver_message(record, message)
        return message

    def _make_present(self, uid: int) -> None:
        record = self.record
        for ids in (record.left_ids, record.kicked_ids):
            if uid in ids:
                ids.remove(uid)
        record.restricted.pop(uid, None)
        if uid not in record.member_ids:
            record.member_ids.append(uid)

    def _remove(self, uid: int) -> None:
        record = self.record
        for ids in (record.admin_ids, record.member_ids, record.left_ids, record.kicked_ids):
            if uid in ids:
                ids.remove(uid)
        record.admin_rights.pop(uid, None)
        record.restricted.pop(uid, None)

    def _actor(self, by: FakeUser | None) -> dict[str, Any]:
        if by is not None:
            return by.as_dict()
        owner = self.record.owner_id
        if owner is not None and owner in self.tg.users:
            return self.tg.users[owner].as_dict()
        return self.tg.user_dict(owner if owner is not None else 777_000)


def _uid(user: FakeUser | int) -> int:
    return user if isinstance(user, int) else user.user_id


def _check_keys(given: dict[str, Any], known: dict[str, Any], *extra: str) -> dict[str, Any]:
    unknown = sorted(set(given) - set(known) - set(extra))
    if unknown:
        raise TypeError(f"unknown rights/permissions {unknown}; known: {sorted(known)}")
    for key, value in given.items():
        if not isinstance(value, bool):
            raise TypeError(f"{key} must be True or False, not {value!r}")
    return dict(given)


class FakeTelegram(FakeBotApi):
    """Fake Bot API server plus helpers to create users/groups and inspect the bot's actions.

    ``await tg.start()`` listens on 127.0.0.1 (random port); point aiogram at ``tg.base_url``
    (``tg.api_server`` / ``tg.make_bot()``); ``await tg.stop()`` at the end.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "fake_shop_bot",
        bot_first_name: str = "Fake Shop Bot",
        clock: ClockLike | None = None,
        privacy_mode: bool = True,
    ) -> None:
        super().__init__(
            token,
            bot_username=bot_username,
            bot_first_name=bot_first_name,
            clock=clock,
            privacy_mode=privacy_mode,
        )
        self.users: dict[int, FakeUser] = {}
        # Every group by id; a basic group upgraded to a supergroup stays here (marked
        # ``migrated_to``) next to its supergroup.
        self.groups: dict[int, FakeGroup] = {}

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ wiring aiogram

    @property
    def api_server(self) -> TelegramAPIServer:
        if not self.base_url:
            raise RuntimeError("FakeTelegram is not started")
        return TelegramAPIServer.from_base(self.base_url)

    def make_bot(self, token: str | None = None, *, parse_mode: str | None = "HTML") -> Bot:
        """A real aiogram Bot whose session talks to this fake (close its session yourself)."""
        return Bot(
            token or self.token,
            session=AiohttpSession(api=self.api_server),
            default=DefaultBotProperties(parse_mode=parse_mode),
        )

    # ------------------------------------------------------------------ people and chats

    def user(
        self,
        user_id: int = 1001,
        first_name: str = "Test",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_premium: bool = False,
        started: bool = True,
    ) -> FakeUser:
        """A person. ``started=False``: they never opened the bot, so it can't message them."""
        if user_id in self.users:
            return self.users[user_id]
        user = FakeUser(self, user_id, first_name, last_name, username, language_code, is_premium)
        self.users[user_id] = user
        self.chats[user_id] = ChatRecord(
            id=user_id,
            type="private",
            first_name=first_name,
            last_name=last_name,
            username=username,
            started=started,
        )
        return user

    def group(
        self,
        chat_id: int = -1001000000001,
        title: str = "Test group",
        *,
        username: str | None = None,
        owner: FakeUser | None = None,
        admins: tuple[FakeUser, ...] | list[FakeUser] = (),
        bot_is_admin: bool = False,
    ) -> FakeGroup:
        """A group (ids <= -10**12 are supergroups, as in Telegram; others, e.g.
        ``-4001234567``, basic groups)."""
        if chat_id in self.groups:
            return self.groups[chat_id]
        self.chats[chat_id] = ChatRecord(
            id=chat_id,
            type="supergroup" if chat_id <= -(10**12) else "group",
            title=title,
            username=username,
            owner_id=owner.user_id if owner else None,
            admin_ids=[u.user_id for u in admins],
            bot_is_admin=bot_is_admin,
        )
        group = FakeGroup(self, chat_id)
        self.groups[chat_id] = group
        for member in [owner, *admins]:
            if member is not None:
                group.member(member)
        return group

    @property
    def bot_username(self) -> str:
        return str(self.bot_user["username"])

    def deep_link(self, payload: str | None = None) -> str:
        """``https://t.me/<bot>?start=<payload>`` (no payload: ``https://t.me/<bot>``)."""
        base = f"https://t.me/{self.bot_username}"
        return base if payload is None else f"{base}?start={payload}"

    def new_supergroup_id(self) -> int:
        """A free supergroup chat id (-100…)."""
        while True:
            chat_id = -(10**12 + self._next_supergroup)
            self._next_supergroup += 1
            if chat_id not in self.chats:
                return chat_id

    def is_withheld(self, message: TgMessage) -> bool:
        """Did Telegram keep this user message from the bot (``withheld_updates``)?"""
        return any(
            (update.get("message") or {}).get("message_id") == message.message_id
            and update["message"]["chat"]["id"] == message.chat_id
            for update in self.withheld_updates
        )

    def withheld_messages(self, chat_id: int | None = None) -> list[TgMessage]:
        """The messages in ``withheld_updates`` (of one chat, or all), as sent."""
        found = []
        for update in self.withheld_updates:
            message = update.get("message")
            if message is not None and chat_id in (None, message["chat"]["id"]):
                found.append(self.to_message(message, None))
        return found

    # ------------------------------------------------------------------ injection

    def inject_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue any raw update dict (update_id assigned if missing); returns it."""
        return self.enqueue_update(update)

    async def wait_consumed(self, update_id: int | None = None, *, timeout: float = 5.0) -> None:
        """Wait until the bot confirmed (via offset) ``update_id`` or everything queued so far.

        Confirmation means aiogram fetched it and asked for the next batch; with
        ``handle_as_tasks`` the handler may still be running.
        """
        target = self._next_update_id - 1 if update_id is None else update_id
        await self.wait_for(
            lambda: self.confirmed_update_id >= target,
            timeout=timeout,
            failure=lambda: (
                f"update {target} not confirmed (confirmed up to "
                f"{self.confirmed_update_id}); is the bot polling?"
            ),
        )

    # ------------------------------------------------------------------ inspection

    @property
    def current_seq(self) -> int:
        """A point in the fake's global event order (use as ``since=``)."""
        return self._seq

    def to_message(
        self, raw: dict[str, Any], meta: MessageMeta | None, *, event: str | None = None
    ) -> TgMessage:
        from_user = raw.get("from") or {}
        markup = raw.get("reply_markup") or {}
        buttons = [
            [Button(b.get("text", ""), b.get("callback_data"), b.get("url")) for b in row]
            for row in markup.get("inline_keyboard", [])
        ]
        document = photo = None
        if "document" in raw:
            document = self.files.get(raw["document"]["file_id"])
        if "photo" in raw:
            photo = self.files.get(raw["photo"][-1]["file_id"])
        text = raw.get("text", raw.get("caption", ""))
        entities = raw.get("entities", raw.get("caption_entities", []))
        edit_date = raw.get("edit_date")
        reply = raw.get("reply_to_message")
        return TgMessage(
            message_id=raw["message_id"],
            chat_id=raw["chat"]["id"],
            from_bot=bool(from_user.get("is_bot")),
            from_id=from_user.get("id"),
            date=datetime.fromtimestamp(raw["date"], UTC),
            text=text,
            raw_text=meta.raw_text if meta else text,
            parse_mode=meta.parse_mode if meta else None,
            entities=copy.deepcopy(entities),
            buttons=buttons,
            document=document,
            photo=photo,
            sticker=raw.get("sticker"),
            edit_date=datetime.fromtimestamp(edit_date, UTC) if edit_date else None,
            reply_to_message_id=reply["message_id"] if reply else None,
            raw=copy.deepcopy(raw),
            event=event,
            sent_reply_markup=copy.deepcopy(meta.reply_markup) if meta else None,
        )

    def record_chat_event(self, chat: ChatRecord, kind: str, message_id: int) -> ChatEvent:
        event = self._record_event(chat, kind, message_id)
        self._bump()
        return event

    def history(self, chat_id: int) -> list[ChatEvent]:
        """Everything that happened in a chat: user_sent / service / sent / edited / deleted."""
        return list(self.chats[chat_id].events)

    def _sent_files(self, kind: str, chat_id: int | None) -> list[StoredFile]:
        """Files of ``kind`` the bot sent, or put into a message by editMessageMedia."""
        chats = [self.chats[chat_id]] if chat_id is not None else list(self.chats.values())
        found: list[StoredFile] = []
        for chat in chats:
            shown: dict[int, str] = {}  # message → the file it showed last
            for event in chat.events:
                if event.kind not in ("sent", "edited") or event.snapshot is None:
                    continue
                if kind not in event.snapshot:
                    shown.pop(event.message_id, None)
                    continue
                media = event.snapshot[kind]
                file_id = media[-1]["file_id"] if kind == "photo" else media["file_id"]
                if event.kind == "sent" or shown.get(event.message_id) != file_id:
                    found.append(self.files[file_id])
                shown[event.message_id] = file_id
        return found

    def documents(self, chat_id: int | None = None) -> list[StoredFile]:
        """Documents the bot sent (to one chat or anywhere) or edited in (editMessageMedia),
        in order, even if later deleted."""
        return self._sent_files("document", chat_id)

    def photos(self, chat_id: int | None = None) -> list[StoredFile]:
        """Photos the bot sent or edited in (editMessageMedia), in order, even if deleted."""
        return self._sent_files("photo", chat_id)

    @property
    def answered_callbacks(self) -> dict[str, AnsweredCallback]:
        return {qid: r.answer for qid, r in self.callback_queries.items() if r.answer}

    def unanswered_callbacks(self) -> list[str]:
        """Ids of callback queries the bot never answered (spinner left spinning).

        Expired queries are not counted: Telegram no longer lets anyone answer them.
        """
        return [
            qid for qid, r in self.callback_queries.items() if r.answer is None and not r.expired
        ]

    def calls(self, method: str | None = None, *, ok: bool | None = None) -> list[RecordedRequest]:
        """Recorded requests of ``method`` (case-insensitive); all but getUpdates if None."""
        wanted = method.lower() if method else None
        return [
            r
            for r in self.requests
            if (r.name == wanted if wanted else r.name != "getupdates")
            and (ok is None or r.ok == ok)
        ]

    def failed_calls(self) -> list[RecordedRequest]:
        return self.calls(ok=False)

    async def wait_for_request(
        self,
        method: str,
        where: Callable[[RecordedRequest], bool] | None = None,
        *,
        since: int = 0,
        timeout: float = 5.0,
    ) -> RecordedRequest:
        """First recorded ``method`` call after seq ``since`` (optionally matching ``where``)."""
        name = method.lower()

        def find() -> RecordedRequest | None:
            for request in self.requests:
                if (
                    request.seq > since
                    and request.name == name
                    and (where is None or where(request))
                ):
                    return request
            return None

        return await self.wait_for(
            find,
            timeout=timeout,
            failure=lambda: f"no {method} request; recent:\n{self.describe_requests()}",
        )

    def describe_requests(self, limit: int = 20) -> str:
        shown = self.calls()[-limit:]
        return "\n".join(f"  {r}" for r in shown) or "  (no requests)"

    def bot_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """Commands registered via setMyCommands for that scope/language."""
        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        return list(self.commands.get(key, []))
