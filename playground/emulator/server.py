"""A fake Telegram Bot API server (aiohttp) for end-to-end tests of a real aiogram bot.

The bot talks to it over real HTTP, exactly as it would to api.telegram.org, so request
serialisation, response parsing and aiogram's exception mapping are all exercised. The server
keeps Telegram-like state (chats, messages, files, callback queries) and refuses what Telegram
refuses, with Telegram's error texts.
"""

# Bounded waits take an explicit ``timeout=`` so failures name the condition that never came.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import mimetypes
import re
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from .errors import (
    MESSAGE_NOT_MODIFIED,
    QUERY_TOO_OLD,
    ApiError,
    bad_request,
    forbidden,
    not_found,
    unauthorized,
)
from .state import (
    AnsweredCallback,
    CallbackRecord,
    ChatEvent,
    ChatRecord,
    ClockLike,
    FakeClock,
    MessageMeta,
    RecordedRequest,
    StoredFile,
)
from .validation import (
    MAX_CALLBACK_ANSWER,
    format_text,
    validate_commands,
    validate_reply_markup,
)

T = TypeVar("T")
DEFAULT_TOKEN = "123456:TEST-TOKEN"
DELETE_WINDOW = timedelta(hours=48)

# Form fields arrive as strings; these are decoded so handlers and recorded params see values.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "message_ids",
        "commands",
        "scope",
        "menu_button",
        "reply_parameters",
        "link_preview_options",
        "media",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "reply_to_message_id",
        "message_thread_id",
        "width",
        "height",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "show_alert",
        "drop_pending_updates",
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "disable_content_type_detection",
        "has_spoiler",
        "show_caption_above_media",
        "allow_paid_broadcast",
    }
)
_FILE_FIELDS = frozenset({"document", "photo", "thumbnail", "sticker"})
_NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_MAX_DOCUMENT = 50 * 1024 * 1024
_MAX_PHOTO = 10 * 1024 * 1024
_MAX_DOWNLOAD = 20 * 1024 * 1024
_INT_RE = re.compile(r"^-?\d+$")


@dataclass
class Upload:
    """A multipart file part as the bot sent it."""

    filename: str | None
    data: bytes
    content_type: str | None

    def __repr__(self) -> str:
        return f"Upload(filename={self.filename!r}, size={len(self.data)})"


class RateLimits:
    """Telegram's broadcast limits, enforced when a test asks (``tg.enforce_limits()``).

    https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this: about
    30 messages a second in all (here: at most ``per_second`` in any one-second window),
    one a second per chat with a short burst allowed (a token bucket of ``chat_burst``),
    at most ``group_per_minute`` in any minute per group. A message is counted when it
    arrives and is accepted; one over a limit is answered 429 with the whole seconds to wait.
    """

    def __init__(
        self,
        timer: Callable[[], float],
        *,
        per_second: int = 30,
        chat_per_second: float = 1.0,
        chat_burst: int = 3,
        group_per_minute: int = 20,
    ) -> None:
        self.timer = timer
        self.per_second = per_second
        self.chat_per_second = chat_per_second
        self.chat_burst = chat_burst
        self.group_per_minute = group_per_minute
        self._all: deque[float] = deque()
        self._chats: dict[int, tuple[float, float]] = {}  # chat → (tokens, when)
        self._groups: dict[int, deque[float]] = {}

    def admit(self, chat_id: int) -> int | None:
        """Count a message to ``chat_id``; or, over a limit, the retry_after to answer."""
        now = self.timer()
        while self._all and self._all[0] <= now - 1.0:
            self._all.popleft()
        waits: list[float] = []
        if len(self._all) >= self.per_second:
            waits.append(self._all[0] + 1.0 - now)
        tokens, when = self._chats.get(chat_id, (float(self.chat_burst), now))
        tokens = min(float(self.chat_burst), tokens + (now - when) * self.chat_per_second)
        if tokens < 1.0:
            waits.append((1.0 - tokens) / self.chat_per_second)
        group = self._groups.setdefault(chat_id, deque()) if chat_id < 0 else None
        if group is not None:
            while group and group[0] <= now - 60.0:
                group.popleft()
            if len(group) >= self.group_per_minute:
                waits.append(group[0] + 60.0 - now)
        if waits:
            self._chats[chat_id] = (tokens, now)
            return max(1, math.ceil(max(waits)))
        self._all.append(now)
        self._chats[chat_id] = (tokens - 1.0, now)
        if group is not None:
            group.append(now)
        return None


@dataclass
class _Fault:
    method: str
    remaining: int
    error_code: int
    description: str
    retry_after: int | None
    disconnect: bool = False


class FakeBotApi:
    """The HTTP server and the Telegram-side state. ``FakeTelegram`` adds the user-facing API."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "fake_shop_bot",
        bot_first_name: str = "Fake Shop Bot",
        clock: ClockLike | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        privacy_mode: bool = True,
    ) -> None:
        self.token = token
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 123456
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.clock: Any = clock or FakeClock()
        self.host = host
        self.port = port
        self.base_url = ""

        self.requests: list[RecordedRequest] = []
        self.chats: dict[int, ChatRecord] = {}
        self.files: dict[str, StoredFile] = {}
        self.callback_queries: dict[str, CallbackRecord] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.bot_settings: dict[str, Any] = {}
        self.webhook_url = ""
        self.allowed_updates: list[str] | None = None
        self.pending_updates: list[dict[str, Any]] = []
        self.dropped_updates: list[dict[str, Any]] = []
        # Group privacy mode (BotFather's /setprivacy; on for every new bot): see
        # ``bot_receives``. Settable at any time; getMe reports it.
        self.privacy_mode = privacy_mode
        # Group messages Telegram never gives the bot (privacy mode, bot not in the group),
        # as the updates they would have been; they are in the chat's history all the same.
        self.withheld_updates: list[dict[str, Any]] = []
        self.delivered_update_id = 0  # highest update_id handed out by getUpdates
        self.confirmed_update_id = 0  # highest update_id confirmed via offset
        self.long_polls_waiting = 0  # getUpdates calls currently parked server-side
        # Webhook delivery (setWebhook with a URL): queued updates are POSTed there one at a
        # time with the secret header, as Telegram does; a non-2xx answer or a refused
        # connection leaves the update queued and it is tried again.
        self.webhook_secret: str | None = None
        self.webhook_deliveries: list[tuple[int, int | str]] = []  # (update_id, status)
        self._webhook_task: asyncio.Task[None] | None = None

        self._next_update_id = 100_000
        self._next_file = 1
        self._next_query = 1
        self._next_supergroup = 1_999_000_001
        self._seq = 0
        self._faults: list[_Fault] = []
        self._holds: list[tuple[str, asyncio.Event]] = []
        self.rate_limits: RateLimits | None = None
        self.limit_refusals = 0  # 429s given because the bot outran ``rate_limits``
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._file_paths: dict[str, StoredFile] = {}
        self._methods: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "setchatmenubutton": self._set_chat_menu_button,
            "getchatmenubutton": self._get_chat_menu_button,
            "setmydescription": self._store_setting("description"),
            "setmyshortdescription": self._store_setting("short_description"),
            "setmyname": self._store_setting("name"),
            "sendmessage": self._send_message,
            "senddocument": self._send_document,
            "sendphoto": self._send_photo,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagemedia": self._edit_message_media,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "deletemessages": self._delete_messages,
            "answercallbackquery": self._answer_callback_query,
            "sendchataction": self._send_chat_action,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "getchatadministrators": self._get_chat_administrators,
            "getfile": self._get_file,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation ends a long poll as soon as aiogram drops the connection;
        # the short shutdown timeout keeps teardown fast if a poll is still parked.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        # Binding the socket ourselves is the public way to learn the OS-chosen port.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://{self.host}:{self.port}"
        self._stopping = False

    async def stop(self) -> None:
        self._stopping = True
        self._bump()
        await self._stop_webhook_delivery()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ change signalling

    def _bump(self) -> None:
        """Wake every waiter; they re-check their condition (no polling, no sleeps)."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def next_change(self) -> None:
        """Return after the next state change (the playground's live updates wait on this)."""
        await self._changed.wait()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def wait_for(
        self,
        predicate: Callable[[], T],
        *,
        timeout: float = 5.0,
        failure: Callable[[], str] | str = "condition not met",
    ) -> T:
        """Return ``predicate()``'s first truthy value, re-checked after every state change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                detail = failure() if callable(failure) else failure
                raise AssertionError(f"timed out after {timeout:g}s: {detail}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        disconnect: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``method`` ("*" = any but getUpdates) fail.

        429 defaults to ``retry_after=1`` (aiogram raises TelegramRetryAfter); 5xx to a
        Telegram-style server error (TelegramServerError); 403 to "bot was blocked by the
        user"; other codes to a 400-style text unless ``description`` is given — e.g.
        ``f"Bad Request: {QUERY_TOO_OLD}"`` on answerCallbackQuery, which also expires that
        query as Telegram does. ``disconnect=True`` drops the connection without an answer,
        as a network failure or timeout looks to the bot (TelegramNetworkError); it is
        recorded with status 0.
        """
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            elif error_code >= 500:
                description = "Internal Server Error"
            elif error_code == 403:
                description = "Forbidden: bot was blocked by the user"
            else:
                description = "Bad Request: injected failure"
        if disconnect:
            description = "connection dropped (injected)"
        self._faults.append(
            _Fault(method.lower(), times, error_code, description, retry_after, disconnect)
        )

    def hold_next(self, method: str) -> asyncio.Event:
        """The next call of ``method`` waits for its answer until the returned gate is set
        (a slow Telegram, for what the bot does meanwhile)."""
        gate = asyncio.Event()
        self._holds.append((method.lower(), gate))
        return gate

    def enforce_limits(
        self,
        *,
        timer: Callable[[], float] | None = None,
        per_second: int = 30,
        chat_per_second: float = 1.0,
        chat_burst: int = 3,
        group_per_minute: int = 20,
    ) -> RateLimits:
        """From now on, answer sends over Telegram's limits with 429 (see ``RateLimits``).

        ``timer``: seconds, e.g. the app's ``clock.monotonic`` so a test that moves the
        clock moves the limits too (default: real time). Refusals are counted in
        ``limit_refusals``; they are also in ``requests`` with status 429.
        """
        self.rate_limits = RateLimits(
            timer or time.monotonic,
            per_second=per_second,
            chat_per_second=chat_per_second,
            chat_burst=chat_burst,
            group_per_minute=group_per_minute,
        )
        self.limit_refusals = 0
        return self.rate_limits

    def _check_rate(self, chat: ChatRecord) -> None:
        if self.rate_limits is None:
            return
        retry_after = self.rate_limits.admit(chat.id)
        if retry_after is not None:
            self.limit_refusals += 1
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            matches = fault.method == method or (fault.method == "*" and method != "getupdates")
            if matches and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _apply_fault(
        self, request: web.Request, method: str, params: dict[str, Any], fault: _Fault
    ) -> web.Response:
        if method.lower() == "answercallbackquery" and QUERY_TOO_OLD in fault.description:
            # Telegram will never accept an answer to it now: it is no longer "unanswered".
            record = self.callback_queries.get(str(params.get("callback_query_id") or ""))
            if record is not None:
                record.expired = True
        if not fault.disconnect:
            error = ApiError(fault.error_code, fault.description, retry_after=fault.retry_after)
            return self._finish(method, params, error=error)
        self._record(method, params, 0, {"ok": False, "description": fault.description})
        if request.transport is not None:
            request.transport.close()
        # Nobody reads this: the client already lost the connection.
        return web.Response(status=500)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await self._read_params(request)
        except ApiError as exc:
            return self._finish(method, {}, error=exc)
        if request.match_info["token"] != self.token:
            return self._finish(method, params, error=unauthorized())
        handler = self._methods.get(method.lower())
        if handler is None:
            return self._finish(method, params, error=not_found())
        fault = self._take_fault(method.lower())
        if fault is not None:
            return self._apply_fault(request, method, params, fault)
        hold = next((h for h in self._holds if h[0] == method.lower()), None)
        if hold is not None:
            self._holds.remove(hold)
            await hold[1].wait()
        try:
            result = await handler(params)
        except ApiError as exc:
            return self._finish(method, params, error=exc)
        return self._finish(method, params, result=result)

    def _finish(
        self,
        method: str,
        params: dict[str, Any],
        *,
        result: Any = None,
        error: ApiError | None = None,
    ) -> web.Response:
        if error is None:
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        else:
            body, status = error.payload(), error.error_code
        self._record(method, params, status, body)
        return web.json_response(body, status=status)

    def _record(
        self, method: str, params: dict[str, Any], status: int, body: dict[str, Any]
    ) -> None:
        self.requests.append(
            RecordedRequest(
                seq=self._next_seq(),
                method=method,
                params=params,
                status=status,
                response=copy.deepcopy(body),
                at=self.clock.now(),
            )
        )
        self._bump()

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        uploads: dict[str, Upload] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise bad_request("can't parse JSON request body") from None
                if not isinstance(body, dict):
                    raise bad_request("JSON request body must be an object")
                raw.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        uploads[key] = Upload(value.filename, value.file.read(), value.content_type)
                    else:
                        raw[key] = value
        params = {key: _decode_field(key, value) for key, value in raw.items()}
        for key in _FILE_FIELDS:
            value = params.get(key)
            if isinstance(value, str) and value.startswith("attach://"):
                attached = uploads.get(value[len("attach://") :])
                if attached is None:
                    raise bad_request(f"file {value} not found in the request")
                params[key] = attached
            elif key in uploads:
                params[key] = uploads[key]
        media = params.get("media")
        if isinstance(media, dict):  # editMessageMedia's InputMedia: its files are attached
            media = dict(media)
            for key in ("media", "thumbnail"):
                value = media.get(key)
                if isinstance(value, str) and value.startswith("attach://"):
                    attached = uploads.get(value[len("attach://") :])
                    if attached is None:
                        raise bad_request(f"file {value} not found in the request")
                    media[key] = attached
            params["media"] = media
        return params

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(unauthorized().payload(), status=401)
        stored = self._file_paths.get(request.match_info["path"])
        if stored is None or stored.data is None:
            return web.json_response(not_found().payload(), status=404)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ helpers

    def now_ts(self) -> int:
        return int(self.clock.now().timestamp())

    def _chat(
        self, params: dict[str, Any], key: str = "chat_id", *, write: bool = True
    ) -> ChatRecord:
        """The chat a call names. ``write``: the call needs a live chat (everything but
        getChat), so a basic group upgraded to a supergroup answers as Telegram does."""
        chat = self._find_chat(params, key)
        if write and chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )
        return chat

    def _find_chat(self, params: dict[str, Any], key: str) -> ChatRecord:
        value = params.get(key)
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            name = value[1:].lower()
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == name:
                    return chat
            raise bad_request("chat not found")
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad_request("chat not found")
        chat = self.chats.get(value)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _check_can_send(self, chat: ChatRecord) -> None:
        if chat.type == "private":
            if chat.blocked:
                raise forbidden("bot was blocked by the user")
            if not chat.started:
                raise forbidden("bot can't initiate conversation with a user")
        elif chat.bot_removed:
            kind = "supergroup" if chat.type == "supergroup" else "group"
            raise forbidden(f"bot was kicked from the {kind} chat")

    @staticmethod
    def _int_param(params: dict[str, Any], key: str, missing: str) -> int:
        value = params.get(key)
        if value is None or value == "":
            raise bad_request(missing)
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad_request(f"invalid {key} specified")
        return value

    def _bot_message(
        self, chat: ChatRecord, message_id: int, not_found_text: str
    ) -> dict[str, Any]:
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request(not_found_text)
        return message

    def _record_event(self, chat: ChatRecord, kind: str, message_id: int) -> ChatEvent:
        snapshot = chat.snapshot(message_id) if message_id in chat.messages else None
        meta = copy.copy(chat.meta.get(message_id))
        event = ChatEvent(self._next_seq(), kind, chat.id, message_id, snapshot, meta)
        chat.events.append(event)
        return event

    def _reply_target(self, chat: ChatRecord, params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        allow = bool(params.get("allow_sending_without_reply"))
        message_id = None
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = bool(reply.get("allow_sending_without_reply", allow))
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
        if message_id is None:
            return None
        if message_id in chat.messages:
            target = chat.snapshot(message_id)
            target.pop("reply_to_message", None)
            return target
        if allow:
            return None
        raise bad_request("message to be replied not found")

    def _store_bot_message(
        self,
        chat: ChatRecord,
        content: dict[str, Any],
        markup: dict[str, Any] | None,
        params: dict[str, Any],
        *,
        raw_text: str | None,
    ) -> dict[str, Any]:
        reply_to = self._reply_target(chat, params)
        message_id = chat.allocate_message_id()
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": chat.as_dict(),
            "date": self.now_ts(),
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update({k: v for k, v in content.items() if v not in (None, [], "")})
        inline = _inline_markup(markup)
        if inline is not None:
            message["reply_markup"] = inline
        elif markup is not None and "keyboard" in markup:
            # Reply keyboards are chat state on the user's side, not part of the Message.
            chat.reply_keyboard = markup
        elif markup is not None and markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        chat.messages[message_id] = message
        chat.meta[message_id] = MessageMeta(
            from_bot=True,
            raw_text=raw_text,
            parse_mode=params.get("parse_mode"),
            sent_at=self.clock.now(),
            reply_markup=copy.deepcopy(markup),
        )
        self._record_event(chat, "sent", message_id)
        return copy.deepcopy(message)

    def _apply_edit(
        self,
        chat: ChatRecord,
        message_id: int,
        changes: dict[str, Any],
        raw_text: str | None,
        parse_mode: str | None,
    ) -> dict[str, Any]:
        message = chat.messages[message_id]
        for key, value in changes.items():
            if value in (None, [], ""):
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = self.now_ts()
        meta = chat.meta[message_id]
        if raw_text is not None:
            meta.raw_text = raw_text
            meta.parse_mode = parse_mode
        self._record_event(chat, "edited", message_id)
        return copy.deepcopy(message)

    def _editable(self, params: dict[str, Any]) -> tuple[ChatRecord, int, dict[str, Any]]:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._chat(params)
        message_id = self._int_param(params, "message_id", "message identifier is not specified")
        message = self._bot_message(chat, message_id, "message to edit not found")
        if not chat.meta[message_id].from_bot:
            raise bad_request("message can't be edited")
        return chat, message_id, message

    # ------------------------------------------------------------------ files

    def new_file_ids(self, kind: str) -> tuple[str, str]:
        number = self._next_file
        self._next_file += 1
        prefix = {"photo": "AgACAgIAAxkBAAI", "sticker": "CAACAgIAAxkBAAI"}.get(
            kind, "BQACAgIAAxkBAAI"
        )
        return f"{prefix}{number:06d}-fake", f"AgAD{number:06d}"

    def register_file(self, stored: StoredFile) -> StoredFile:
        self.files[stored.file_id] = stored
        return stored

    def _input_file(self, value: Any, kind: str) -> StoredFile:
        if value is None or value == "":
            raise bad_request(f"there is no {kind} in the request")
        if isinstance(value, Upload):
            return self._store_upload(value, kind)
        if not isinstance(value, str):
            raise bad_request("wrong file identifier/HTTP URL specified")
        if urlsplit(value).scheme in {"http", "https"}:
            file_id, unique_id = self.new_file_ids(kind)
            name = PurePosixPath(urlsplit(value).path).name or None
            return self.register_file(
                StoredFile(
                    file_id,
                    unique_id,
                    kind,
                    filename=name,
                    url=value,
                    mime_type=mimetypes.guess_type(name or "")[0],
                    width=512 if kind == "photo" else None,
                    height=512 if kind == "photo" else None,
                )
            )
        stored = self.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request(
                f"can't use file of type {stored.kind.capitalize()} as {kind.capitalize()}"
            )
        return stored

    def _store_upload(self, upload: Upload, kind: str) -> StoredFile:
        if not upload.data:
            raise bad_request("file must be non-empty")
        limit = _MAX_PHOTO if kind == "photo" else _MAX_DOCUMENT
        if len(upload.data) > limit:
            raise ApiError(413, "Request Entity Too Large")
        width = height = None
        if kind == "photo":
            size = image_size(upload.data)
            if size is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            width, height = size
            if not width or not height or max(width, height) > 20 * min(width, height):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
        file_id, unique_id = self.new_file_ids(kind)
        mime = None
        if kind == "document":
            mime = mimetypes.guess_type(upload.filename or "")[0] or "application/octet-stream"
        return self.register_file(
            StoredFile(
                file_id,
                unique_id,
                kind,
                filename=upload.filename,
                data=upload.data,
                mime_type=mime,
                width=width,
                height=height,
            )
        )

    @staticmethod
    def document_json(stored: StoredFile) -> dict[str, Any]:
        doc: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.filename:
            doc["file_name"] = stored.filename
        if stored.mime_type:
            doc["mime_type"] = stored.mime_type
        if stored.data is not None:
            doc["file_size"] = stored.size
        return doc

    @staticmethod
    def photo_json(stored: StoredFile) -> list[dict[str, Any]]:
        size: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": stored.width or 1,
            "height": stored.height or 1,
        }
        if stored.data is not None:
            size["file_size"] = stored.size
        return [size]

    # ------------------------------------------------------------------ updates

    def enqueue_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (``update_id`` is assigned unless given) for getUpdates."""
        update = copy.deepcopy(update)
        query = update.get("callback_query")
        if isinstance(query, dict) and str(query.get("id")) not in self.callback_queries:
            # A hand-written callback query is as answerable as one from a button press.
            message = query.get("message") or {}
            self.callback_queries[str(query.get("id"))] = CallbackRecord(
                str(query.get("id")),
                (query.get("from") or {}).get("id", 0),
                (message.get("chat") or {}).get("id"),
                message.get("message_id"),
                query.get("data"),
            )
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
        self.pending_updates.append(update)
        self._bump()
        return update

    def bot_membership_changed(
        self, chat: ChatRecord, old: str, new: str, by: dict[str, Any]
    ) -> dict[str, Any]:
        """Queue the ``my_chat_member`` update Telegram sends when the bot's own status in
        a chat changes (``by``: the User who did it, e.g. the person who blocked it)."""
        return self.enqueue_update(
            {
                "my_chat_member": {
                    "chat": chat.as_dict(),
                    "from": by,
                    "date": self.now_ts(),
                    "old_chat_member": self._bot_member(old),
                    "new_chat_member": self._bot_member(new),
                }
            }
        )

    def bot_receives(self, chat: ChatRecord, message: dict[str, Any]) -> bool:
        """Would Telegram give the bot this message someone sent in ``chat``?

        Private chats: always. Groups the bot is not in (removed, or upgraded to a
        supergroup): never. Service messages (``SERVICE_FIELDS``): always. Otherwise, with
        ``privacy_mode`` on and the bot not an administrator, only commands not addressed
        to another bot (``/cmd``, ``/cmd@this_bot``; not ``/cmd@other_bot``), messages that
        mention the bot (``@this_bot`` in the text, or a text_mention of it) and replies to
        the bot's messages. Bot admins and bots without privacy mode get everything.
        """
        if chat.type not in ("group", "supergroup"):
            return True
        if chat.bot_removed or chat.migrated_to is not None:
            return False
        if SERVICE_FIELDS & message.keys():
            return True
        if not self.privacy_mode or chat.bot_is_admin:
            return True
        reply = message.get("reply_to_message") or {}
        if (reply.get("from") or {}).get("id") == self.bot_id:
            return True
        text = message.get("text", message.get("caption")) or ""
        username = str(self.bot_user["username"]).lower()
        command = _COMMAND_TARGET_RE.match(text)
        if command and (not command.group(1) or command.group(1).lower() == username):
            return True
        if re.search(rf"@{re.escape(username)}(?![A-Za-z0-9_])", text, re.IGNORECASE):
            return True
        entities = message.get("entities", message.get("caption_entities")) or []
        return any(
            e.get("type") == "text_mention" and (e.get("user") or {}).get("id") == self.bot_id
            for e in entities
            if isinstance(e, dict)
        )

    def deliver_message(
        self, chat: ChatRecord, message: dict[str, Any], kind: str = "message"
    ) -> dict[str, Any] | None:
        """Queue ``{kind: message}`` if the bot may see it (``bot_receives``); otherwise
        keep it in ``withheld_updates``. Returns the queued update, or None."""
        if self.bot_receives(chat, message):
            return self.enqueue_update({kind: message})
        self.withheld_updates.append(copy.deepcopy({kind: message}))
        self._bump()
        return None

    def _bot_member(self, status: str) -> dict[str, Any]:
        user = dict(self.bot_user)
        if status == "kicked":
            return {"status": "kicked", "user": user, "until_date": 0}
        if status == "administrator":
            return {"status": "administrator", "user": user, **ADMIN_RIGHTS}
        return {"status": status, "user": user}

    def _allowed(self, update: dict[str, Any]) -> bool:
        kind = next((k for k in update if k != "update_id"), "")
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in _NOT_BY_DEFAULT

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset") or 0
        limit = min(max(params.get("limit") or 100, 1), 100)
        timeout = max(params.get("timeout") or 0, 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            # Telegram remembers the last explicit list; [] means "the default set".
            self.allowed_updates = [str(kind) for kind in allowed]
        if offset > 0:
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
            self.confirmed_update_id = max(self.confirmed_update_id, offset - 1)
        elif offset < 0:
            self.pending_updates = self.pending_updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._bump()  # an older parked poll must notice it was superseded

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        announced = False
        while True:
            changed = self._changed
            for update in [u for u in self.pending_updates if not self._allowed(u)]:
                self.pending_updates.remove(update)
                self.dropped_updates.append(update)
            batch = copy.deepcopy(self.pending_updates[:limit])
            if batch:
                self.delivered_update_id = max(self.delivered_update_id, batch[-1]["update_id"])
                return batch
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            remaining = deadline - loop.time()
            if self._stopping or remaining <= 0:
                return []
            self.long_polls_waiting += 1
            if not announced:
                # Lets tests wait for "the bot is parked in a long poll". Our own bump must
                # not wake us: wait on the event that comes after it, or this loop spins.
                self._bump()
                changed = self._changed
                announced = True
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
            finally:
                self.long_polls_waiting -= 1

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = str(params.get("url") or "")
        secret = params.get("secret_token")
        self.webhook_secret = str(secret) if secret else None
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(kind) for kind in allowed]
        if params.get("drop_pending_updates"):
            self.pending_updates.clear()
        await self._stop_webhook_delivery()
        if self.webhook_url:
            self._webhook_task = asyncio.create_task(
                self._deliver_to_webhook(self.webhook_url, self.webhook_secret)
            )
        self._bump()
        return True

    async def _stop_webhook_delivery(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver_to_webhook(self, url: str, secret: str | None) -> None:
        """POST queued updates to ``url`` in order until the webhook changes or is deleted."""
        from aiohttp import ClientError, ClientSession, ClientTimeout

        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        async with ClientSession(timeout=ClientTimeout(total=60)) as session:
            while self.webhook_url == url and not self._stopping:
                changed = self._changed
                for update in [u for u in self.pending_updates if not self._allowed(u)]:
                    self.pending_updates.remove(update)
                    self.dropped_updates.append(update)
                if not self.pending_updates:
                    await changed.wait()
                    continue
                update = self.pending_updates[0]
                status: int | str
                try:
                    async with session.post(url, json=update, headers=headers) as response:
                        status = response.status
                        await response.read()
                except (ClientError, OSError, TimeoutError) as exc:
                    status = type(exc).__name__
                self.webhook_deliveries.append((update["update_id"], status))
                if isinstance(status, int) and 200 <= status < 300:
                    if update in self.pending_updates:
                        self.pending_updates.remove(update)
                    self.delivered_update_id = max(self.delivered_update_id, update["update_id"])
                    self.confirmed_update_id = max(self.confirmed_update_id, update["update_id"])
                    self._bump()
                    continue
                # Telegram backs off too; the bot may be restarting. Woken early by changes.
                self._bump()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        self.webhook_secret = None
        await self._stop_webhook_delivery()
        if params.get("drop_pending_updates"):
            self.dropped_updates.extend(self.pending_updates)
            self.pending_updates.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending_updates),
        }

    # ------------------------------------------------------------------ bot settings

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @staticmethod
    def _scope_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands[self._scope_key(params)] = validate_commands(params.get("commands"))
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return copy.deepcopy(self.commands.get(self._scope_key(params), []))

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    async def _set_chat_menu_button(self, params: dict[str, Any]) -> bool:
        chat_id = params.get("chat_id")
        if chat_id is not None:
            self._chat(params)
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in {
            "default",
            "commands",
            "web_app",
        }:
            raise bad_request("can't parse menu button")
        self.menu_buttons[chat_id] = button
        return True

    async def _get_chat_menu_button(self, params: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(self.menu_buttons.get(params.get("chat_id"), {"type": "default"}))

    def _store_setting(self, key: str) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        async def handler(params: dict[str, Any]) -> bool:
            language = str(params.get("language_code") or "")
            self.bot_settings[(key, language)] = params.get(key)
            return True

        return handler

    # ------------------------------------------------------------------ sending

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        self._check_can_send(chat)
        self._check_rate(chat)
        raw = _opt_str(params.get("text"))
        text, entities = format_text(raw, params.get("parse_mode"), params.get("entities"))
        markup = validate_reply_markup(params.get("reply_markup"))
        return self._store_bot_message(
            chat, {"text": text, "entities": entities}, markup, params, raw_text=raw
        )

    async def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media(params, "document")

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media(params, "photo")

    async def _send_media(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        chat = self._chat(params)
        self._check_can_send(chat)
        self._check_rate(chat)
        raw = _opt_str(params.get("caption"))
        caption, entities = format_text(
            raw, params.get("parse_mode"), params.get("caption_entities"), caption=True
        )
        markup = validate_reply_markup(params.get("reply_markup"))
        stored = self._input_file(params.get(kind), kind)
        media = self.document_json(stored) if kind == "document" else self.photo_json(stored)
        content = {kind: media, "caption": caption, "caption_entities": entities}
        return self._store_bot_message(chat, content, markup, params, raw_text=raw)

    async def _send_chat_action(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        self._check_can_send(chat)
        action = params.get("action")
        if action not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        chat.actions.append(str(action))
        return True

    # ------------------------------------------------------------------ editing

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message_id, message = self._editable(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        raw = _opt_str(params.get("text"))
        text, entities = format_text(raw, params.get("parse_mode"), params.get("entities"))
        inline = _inline_markup(validate_reply_markup(params.get("reply_markup"), inline_only=True))
        if (
            text == message.get("text")
            and entities == message.get("entities", [])
            and inline == message.get("reply_markup")
        ):
            raise bad_request(MESSAGE_NOT_MODIFIED)
        changes = {"text": text, "entities": entities, "reply_markup": inline}
        return self._apply_edit(chat, message_id, changes, raw, params.get("parse_mode"))

    async def _edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message_id, message = self._editable(params)
        if not any(key in message for key in ("document", "photo")):
            raise bad_request("there is no caption in the message to edit")
        raw = _opt_str(params.get("caption"))
        caption, entities = format_text(
            raw, params.get("parse_mode"), params.get("caption_entities"), caption=True
        )
        inline = _inline_markup(validate_reply_markup(params.get("reply_markup"), inline_only=True))
        if (
            caption == message.get("caption", "")
            and entities == message.get("caption_entities", [])
            and inline == message.get("reply_markup")
        ):
            raise bad_request(MESSAGE_NOT_MODIFIED)
        changes = {"caption": caption, "caption_entities": entities, "reply_markup": inline}
        return self._apply_edit(chat, message_id, changes, raw or "", params.get("parse_mode"))

    async def _edit_message_media(self, params: dict[str, Any]) -> dict[str, Any]:
        """Replace the photo or document of a message, or add one to a text message (as the
        Bot API allows: "or to add media to text messages"); the caption and keyboard are
        replaced too. Only photo and document media are emulated."""
        chat, message_id, message = self._editable(params)
        media = params.get("media")
        if not isinstance(media, dict):
            raise bad_request("can't parse InputMedia: media must be an object")
        kind = media.get("type")
        if kind not in ("photo", "document"):
            raise bad_request(f"the fake emulates photo and document media only, not {kind!r}")
        if not any(key in message for key in ("text", "photo", "document")):
            raise bad_request("there is no media in the message to edit")
        raw = _opt_str(media.get("caption"))
        caption, entities = format_text(
            raw, media.get("parse_mode"), media.get("caption_entities"), caption=True
        )
        inline = _inline_markup(validate_reply_markup(params.get("reply_markup"), inline_only=True))
        stored = self._input_file(media.get("media"), kind)
        content = self.document_json(stored) if kind == "document" else self.photo_json(stored)
        if (
            message.get(kind) == content
            and caption == message.get("caption", "")
            and entities == message.get("caption_entities", [])
            and inline == message.get("reply_markup")
        ):
            raise bad_request(MESSAGE_NOT_MODIFIED)
        changes: dict[str, Any] = {"text": None, "entities": None, "photo": None, "document": None}
        changes[kind] = content
        changes.update(caption=caption, caption_entities=entities, reply_markup=inline)
        return self._apply_edit(chat, message_id, changes, raw or "", media.get("parse_mode"))

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message_id, message = self._editable(params)
        inline = _inline_markup(validate_reply_markup(params.get("reply_markup"), inline_only=True))
        if inline == message.get("reply_markup"):
            raise bad_request(MESSAGE_NOT_MODIFIED)
        edited = self._apply_edit(chat, message_id, {"reply_markup": inline}, None, None)
        if inline is None:
            # Only the keyboard was taken away (an old screen retired): recorded, but not a
            # message anyone waits for (`wait_for_message` finds sent and edited ones).
            chat.events[-1].kind = "unbuttoned"
        return edited

    # ------------------------------------------------------------------ deleting

    def _check_deletable(self, chat: ChatRecord, message_id: int) -> str | None:
        """Why Telegram would refuse to delete, or None if it may be deleted."""
        message = chat.messages.get(message_id)
        if message is None:
            return "message to delete not found"
        meta = chat.meta[message_id]
        if self.clock.now().timestamp() - message["date"] >= DELETE_WINDOW.total_seconds():
            return "message can't be deleted"
        if chat.type != "private" and not meta.from_bot and not self.bot_can_delete(chat):
            return "message can't be deleted"
        return None

    def _delete(self, chat: ChatRecord, message_id: int) -> None:
        self._record_event(chat, "deleted", message_id)
        del chat.messages[message_id]
        chat.deleted.append(message_id)

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        message_id = self._int_param(params, "message_id", "message identifier is not specified")
        problem = self._check_deletable(chat, message_id)
        if problem is not None:
            raise bad_request(problem)
        self._delete(chat, message_id)
        return True

    async def _delete_messages(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not ids:
            raise bad_request("message identifiers are not specified")
        if len(ids) > 100:
            raise bad_request("too many message identifiers specified")
        # Like Telegram: messages that can't be found or deleted are skipped silently.
        for message_id in ids:
            if isinstance(message_id, int) and self._check_deletable(chat, message_id) is None:
                self._delete(chat, message_id)
        return True

    # ------------------------------------------------------------------ callbacks

    def new_callback_query(
        self, user_id: int, chat_id: int | None, message_id: int | None, data: str | None
    ) -> str:
        query_id = str(4_000_000_000_000_000 + self._next_query)
        self._next_query += 1
        self.callback_queries[query_id] = CallbackRecord(
            query_id, user_id, chat_id, message_id, data
        )
        return query_id

    def expire_callback_queries(self) -> list[str]:
        """Forget every unanswered tap, as Telegram does when nobody answers in time.

        What a bot that was down meets on its return: the taps are still delivered as
        updates, but answering them fails with "query is too old ...". Returns their ids.
        """
        expired = []
        for query_id, record in self.callback_queries.items():
            if record.answer is None and not record.expired:
                record.expired = True
                expired.append(query_id)
        self._bump()
        return expired

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        record = self.callback_queries.get(query_id)
        if record is None or record.answer is not None or record.expired:
            raise bad_request(QUERY_TOO_OLD)
        text = _opt_str(params.get("text"))
        if text is not None and len(text) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answer = AnsweredCallback(
            text=text,
            show_alert=bool(params.get("show_alert")),
            url=_opt_str(params.get("url")),
            cache_time=params.get("cache_time"),
            at=self.clock.now(),
        )
        return True

    # ------------------------------------------------------------------ chats

    async def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params, write=False)
        return {
            **chat.as_dict(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def user_dict(self, user_id: int) -> dict[str, Any]:
        """Telegram's User for ``user_id``: the bot, a private-chat peer, or a bare stub."""
        if user_id == self.bot_id:
            return dict(self.bot_user)
        chat = self.chats.get(user_id)
        if chat is not None and chat.type == "private":
            user: dict[str, Any] = {
                "id": user_id,
                "is_bot": False,
                "first_name": chat.first_name or "",
            }
            if chat.last_name:
                user["last_name"] = chat.last_name
            if chat.username:
                user["username"] = chat.username
            return user
        return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}

    def admin_rights(self, chat: ChatRecord, user_id: int) -> dict[str, Any]:
        """An administrator's rights: full rights (``ADMIN_RIGHTS``) with the overrides set
        by ``FakeGroup.promote`` / ``set_bot_admin``."""
        rights: dict[str, Any] = dict(ADMIN_RIGHTS)
        if chat.type == "supergroup":
            rights["can_manage_topics"] = False
        rights.update(
            chat.bot_rights if user_id == self.bot_id else chat.admin_rights.get(user_id, {})
        )
        return rights

    def bot_can_delete(self, chat: ChatRecord) -> bool:
        """May the bot delete other people's messages in this group?"""
        if not chat.bot_is_admin or chat.bot_removed:
            return False
        return bool(self.admin_rights(chat, self.bot_id)["can_delete_messages"])

    def member_status(self, chat: ChatRecord, user_id: int) -> str:
        """creator / administrator / member / restricted / left / kicked, as getChatMember."""
        return str(self._member_json(chat, user_id)["status"])

    def _member_json(self, chat: ChatRecord, user_id: int) -> dict[str, Any]:
        user = self.user_dict(user_id)
        if chat.type == "private":
            return {"status": "member", "user": user}
        if user_id == self.bot_id:
            if chat.bot_removed:
                if chat.type == "supergroup":
                    return {"status": "kicked", "user": user, "until_date": 0}
                return {"status": "left", "user": user}
            if chat.bot_is_admin:
                return {"status": "administrator", "user": user, **self.admin_rights(chat, user_id)}
            return {"status": "member", "user": user}
        if user_id in chat.kicked_ids:
            return {"status": "kicked", "user": user, "until_date": 0}
        if user_id in chat.left_ids:
            return {"status": "left", "user": user}
        if user_id == chat.owner_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in chat.admin_ids:
            return {"status": "administrator", "user": user, **self.admin_rights(chat, user_id)}
        if user_id in chat.restricted:
            return {"status": "restricted", "user": user, **chat.restricted[user_id]}
        if user_id in chat.member_ids:
            return {"status": "member", "user": user}
        return {"status": "left", "user": user}  # never joined: what Telegram answers

    async def _get_chat_member(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        user_id = self._int_param(params, "user_id", "user not found")
        if chat.type == "private" and user_id not in (chat.id, self.bot_id):
            raise bad_request("user not found")
        return self._member_json(chat, user_id)

    async def _get_chat_administrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._chat(params)
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        ids = ([chat.owner_id] if chat.owner_id is not None else []) + [
            uid for uid in chat.admin_ids if uid != chat.owner_id
        ]
        if chat.bot_is_admin and not chat.bot_removed and self.bot_id not in ids:
            ids.append(self.bot_id)
        members = [self._member_json(chat, uid) for uid in ids]
        return [m for m in members if m["status"] in ("creator", "administrator")]

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        stored = self.files.get(file_id)
        if stored is None:
            raise bad_request("wrong file_id or the file is temporarily unavailable")
        if stored.size > _MAX_DOWNLOAD:
            raise bad_request("file is too big")
        if stored.file_path is None:
            suffix = PurePosixPath(stored.filename or "").suffix or (
                ".jpg" if stored.kind == "photo" else ""
            )
            stored.file_path = f"{stored.kind}s/file_{len(self._file_paths)}{suffix}"
            self._file_paths[stored.file_path] = stored
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }


# Full rights of a group administrator promoted by the owner, as getChatMember reports them
# (``can_manage_topics`` is added in supergroups).
ADMIN_RIGHTS: dict[str, bool] = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_send_welcome_messages": False,
    "can_pin_messages": True,
}

# A restricted member's permissions unless a test says otherwise (may send; may not manage).
MEMBER_PERMISSIONS: dict[str, bool] = {
    "can_send_messages": True,
    "can_send_audios": True,
    "can_send_documents": True,
    "can_send_photos": True,
    "can_send_videos": True,
    "can_send_video_notes": True,
    "can_send_voice_notes": True,
    "can_send_polls": True,
    "can_send_other_messages": True,
    "can_add_web_page_previews": True,
    "can_react_to_messages": True,
    "can_edit_tag": True,
    "can_change_info": False,
    "can_invite_users": True,
    "can_pin_messages": False,
    "can_manage_topics": False,
}

# Message fields that make it a service message: Telegram gives those to every bot.
SERVICE_FIELDS = frozenset(
    {
        "new_chat_members",
        "left_chat_member",
        "new_chat_title",
        "new_chat_photo",
        "delete_chat_photo",
        "group_chat_created",
        "supergroup_chat_created",
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "pinned_message",
    }
)
_COMMAND_TARGET_RE = re.compile(r"^/[A-Za-z0-9_]*(?:@([A-Za-z0-9_]+))?")


def _decode_field(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {key} JSON object") from None
    if key in _INT_FIELDS and _INT_RE.match(value):
        return int(value)
    if key in _BOOL_FIELDS:
        return value.lower() in {"true", "1"}
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _inline_markup(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reply_markup Telegram stores on a Message: non-empty inline keyboards only."""
    if not markup or "inline_keyboard" not in markup:
        return None
    rows = [list(row) for row in markup["inline_keyboard"] if row]
    return {"inline_keyboard": rows} if rows else None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG/GIF/JPEG/WebP, or None if Telegram couldn't process it."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return 512, 512  # good enough: the fake only needs to know it is an image
    if data.startswith(b"\xff\xd8"):
        index = 2
        while index + 9 <= len(data):
            if data[index] != 0xFF:
                return None
            marker = data[index + 1]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return width, height
            (length,) = struct.unpack(">H", data[index + 2 : index + 4])
            index += 2 + length
    return None
