"""The playground: sandbox API + Bot API emulator + the real bot + a chat page, in one process.

The bot runs exactly as in production (`bot.app.build_app` with long polling); only its
TELEGRAM_API_URL and PROXY_API_URL point at the emulator and the sandbox. The sandbox and the
bot share one OffsetClock, so "move time" in the side panel is seen by both.

State lives in `data_dir`: the bot's own database, and `state.json` with the sandbox's world,
the emulator's chats and the clock's offset (written after changes settle, and on stop), so
a next run continues where this one stopped. A snapshot that cannot be read (corrupt, another
version) starts everything over, the bot's database too: the three only make sense together.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from cryptography.fernet import Fernet

from bot.app import App, build_app
from bot.settings import load_settings
from core.clock import OffsetClock
from core.files import create_private_file, make_private_dir
from playground.emulator import FakeTelegram
from playground.emulator import snapshot as tg_snapshot
from sandbox import snapshot as sandbox_snapshot
from sandbox.server import SandboxServer
from sandbox.state import Account, SandboxState

logger = logging.getLogger("playground")

STATIC = Path(__file__).parent / "static"
DEMO_USER_ID = 777001
MEMBER_USER_ID = 777002
DEMO_GROUP_ID = -1001777000001
# The page's chat switch: who types, and in which chat.
VIEWS = ("private", "group-admin", "group-member")
DEMO_BALANCE = Decimal("100.00")
STATE_FILE = "state.json"
STATE_VERSION = 1
# Changes come in bursts (a tap: a few API calls and messages): save once they settle.
SAVE_DEBOUNCE = 0.5
# Changes the emulator does not see (a panel action with no message) are saved at this pace.
SAVE_EVERY = 10.0


@dataclass
class Playground:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    clock: OffsetClock = field(default_factory=OffsetClock)
    tg: FakeTelegram | None = None
    sandbox: SandboxServer | None = None
    account: Account | None = None
    app: App | None = None
    _bot_task: asyncio.Task[None] | None = None
    _saver_task: asyncio.Task[None] | None = None
    _saver_stop: asyncio.Event = field(default_factory=asyncio.Event)
    _dirty: asyncio.Event = field(default_factory=asyncio.Event)
    _saved: str = ""
    _runner: web.AppRunner | None = None
    url: str = ""
    # True when this run continued an earlier one's state (else it started fresh).
    resumed: bool = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self._start_backends()
        web_app = self.web_app()
        # Open event streams would otherwise hold a stop for aiohttp's default 60 seconds.
        self._runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        port = sockets[0].getsockname()[1] if sockets else self.port
        self.url = f"http://{self.host}:{port}"

    async def _start_backends(self) -> None:
        make_private_dir(self.data_dir)
        state = SandboxState(clock=self.clock.now)
        self.tg = FakeTelegram(bot_username="proxy_shop_demo_bot", bot_first_name="Proxy Shop")
        self.resumed = self._restore(state, self.tg)
        if not self.resumed:
            state = SandboxState(clock=self.clock.now)
            self.tg = FakeTelegram(
                bot_username="proxy_shop_demo_bot", bot_first_name="Proxy Shop"
            )
            self._populate(state, self.tg)
        self.sandbox = SandboxServer(state, host="127.0.0.1", port=0)
        await self.sandbox.start()
        await self.tg.start()
        key_file = self.data_dir / "encryption.key"
        # Owner-only, as the bot's own key file; empty only if a first run died right here.
        if create_private_file(key_file) or not key_file.read_text().strip():
            key_file.write_text(Fernet.generate_key().decode())
        settings = load_settings(
            BOT_TOKEN=self.tg.token,
            TELEGRAM_API_URL=self.tg.base_url,
            PROXY_API_URL=self.sandbox.base_url,
            DATABASE_PATH=str(self.data_dir / "bot.sqlite3"),
            ENCRYPTION_KEY=key_file.read_text().strip(),
        )
        self.app = await build_app(settings, clock=self.clock)
        self._bot_task = asyncio.create_task(self.app.run_polling(handle_signals=False))
        # Until the bot polls, App.stop cannot stop it (aiogram refuses to stop a polling
        # that has not begun): a stop right after a start would hang.
        tg, task = self.tg, self._bot_task
        await tg.wait_for(lambda: tg.long_polls_waiting > 0 or task.done(), timeout=60,
                          failure="the bot never started polling")
        self._save()  # a fresh world is on disk at once, so a crash resumes the same key
        self._saver_stop = asyncio.Event()
        self._saver_task = asyncio.create_task(self._saver())

    def _populate(self, state: SandboxState, tg: FakeTelegram) -> None:
        """The fresh world: the demo account, you, Mila and the demo team."""
        self.account = state.create_account(
            email="demo@sandbox.local", name="Demo User", balance=DEMO_BALANCE
        )
        you = tg.user(DEMO_USER_ID, "You", username="you_demo")
        mila = tg.user(MEMBER_USER_ID, "Mila", username="mila_demo")
        # A demo team: you own it, Mila is a plain member (privacy mode on, as in Telegram).
        group = tg.group(DEMO_GROUP_ID, "Demo team", owner=you)
        group.member(mila)

    def _restore(self, state: SandboxState, tg: FakeTelegram) -> bool:
        """Load the last run's world into the fresh `state` and `tg`; False: start over."""
        path = self.data_dir / STATE_FILE
        if not path.exists():
            # Nothing to continue: whatever else is here (a database of a run that never
            # saved) would point at a world that is gone.
            self._wipe()
            return False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                raise ValueError(f"not a playground state of version {STATE_VERSION}")
            sandbox_snapshot.restore_state(state, data["sandbox"])
            tg_snapshot.restore(tg, data["telegram"])
            account = state.account_by_key(str(data["demo_key"]))
            if account is None:
                raise ValueError("the demo account is missing")
            missing = {DEMO_USER_ID, MEMBER_USER_ID} - tg.users.keys()
            if missing or DEMO_GROUP_ID not in tg.groups:
                raise ValueError("the demo people or team are missing")
            offset = timedelta(seconds=float(data["clock_offset"]))
        except (OSError, KeyError, TypeError, ValueError) as exc:
            logger.warning("playground state in %s is unreadable (%s): starting over", path, exc)
            self._wipe()
            return False
        self.account = account
        self.clock.offset = offset
        return True

    def _wipe(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        make_private_dir(self.data_dir)
        self.clock.offset = timedelta()

    def _snapshot_text(self) -> str:
        assert self.sandbox is not None and self.tg is not None and self.account is not None
        return json.dumps(
            {
                "version": STATE_VERSION,
                "demo_key": self.account.api_key,
                "clock_offset": self.clock.offset.total_seconds(),
                "sandbox": sandbox_snapshot.dump_state(self.sandbox.state),
                "telegram": tg_snapshot.dump(self.tg),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    def _save(self) -> None:
        """Write the state if it changed: a temporary file, then one atomic rename."""
        text = self._snapshot_text()
        if text == self._saved:
            return
        fd, temp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=self.data_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(temp, self.data_dir / STATE_FILE)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._saved = text

    def changed(self) -> None:
        """Something the emulator may not notice changed (the clock, the sandbox)."""
        self._dirty.set()

    async def _saver(self) -> None:
        """Save after each change, once it has settled; a failed write is tried again."""
        stop = self._saver_stop
        while not stop.is_set():
            tg = self.tg
            assert tg is not None
            waits = [
                asyncio.ensure_future(tg.next_change()),
                asyncio.ensure_future(self._dirty.wait()),
                asyncio.ensure_future(stop.wait()),
            ]
            try:
                await asyncio.wait(waits, timeout=SAVE_EVERY, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waits:
                    waiter.cancel()
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAVE_DEBOUNCE)
            self._dirty.clear()
            try:
                self._save()
            except Exception:  # the next change tries again; the playground keeps running
                logger.exception("could not save the playground state")

    async def _stop_backends(self, *, save: bool = True) -> None:
        if self.app is not None and self._bot_task is not None:
            await self.app.stop()
            await asyncio.wait_for(self._bot_task, timeout=20)
        if self._saver_task is not None:
            self._saver_stop.set()
            await self._saver_task
        if save and self.tg is not None and self.sandbox is not None:
            try:
                self._save()
            except Exception:  # stopping goes on: the last debounced save is on disk
                logger.exception("could not save the playground state")
        if self.tg is not None:
            await self.tg.stop()
        if self.sandbox is not None:
            await self.sandbox.stop()
        self.app = self._bot_task = self._saver_task = self.tg = self.sandbox = None
        self._saved = ""

    async def stop(self) -> None:
        await self._stop_backends()
        if self._runner is not None:
            await self._runner.cleanup()

    async def reset(self) -> None:
        """Start over: a fresh sandbox, emulator and bot database (and a new demo key)."""
        await self._stop_backends(save=False)
        self._wipe()
        await self._start_backends()

    # ------------------------------------------------------------------ views of the chat

    def _chat(self, view: str = "private"):
        """The chat handle behind one of the page's VIEWS."""
        assert self.tg is not None
        if view == "private":
            return self.tg.users[DEMO_USER_ID].private_chat()
        group = self.tg.groups[DEMO_GROUP_ID]
        if view == "group-admin":
            return group.member(self.tg.users[DEMO_USER_ID])
        if view == "group-member":
            return group.member(self.tg.users[MEMBER_USER_ID])
        raise web.HTTPBadRequest(text=f"unknown view {view!r}")

    def chat_json(self, view: str = "private") -> dict[str, Any]:
        assert self.tg is not None
        chat_id = DEMO_USER_ID if view == "private" else DEMO_GROUP_ID
        record = self.tg.chats.get(chat_id)
        messages: list[dict[str, Any]] = []
        reply_keyboard = None
        if record is not None:
            for message_id in sorted(record.messages):
                snap = record.messages[message_id]
                meta = record.meta.get(message_id)
                sender = snap.get("from") or {}
                item: dict[str, Any] = {
                    "id": message_id,
                    "from_bot": bool(meta.from_bot) if meta else False,
                    "from": sender.get("first_name", ""),
                    "text": snap.get("text", snap.get("caption", "")),
                    "entities": snap.get("entities", snap.get("caption_entities", [])),
                    "edited": "edit_date" in snap,
                    "buttons": (snap.get("reply_markup") or {}).get("inline_keyboard", []),
                }
                if "photo" in snap:
                    item["photo"] = snap["photo"][-1]["file_id"]
                if "document" in snap:
                    doc = snap["document"]
                    item["document"] = {"file_id": doc["file_id"], "name": doc.get("file_name")}
                messages.append(item)
            if record.reply_keyboard:
                reply_keyboard = [
                    [b["text"] if isinstance(b, dict) else b for b in row]
                    for row in record.reply_keyboard.get("keyboard", [])
                ]
        answers = [
            {"id": c.query_id, "text": c.answer.text, "alert": c.answer.show_alert}
            for c in self.tg.callback_queries.values()
            if c.answer is not None and c.answer.text and c.chat_id == chat_id
        ]
        return {
            "messages": messages,
            "reply_keyboard": reply_keyboard,
            "answers": answers,
            "reply_to": self.force_reply_target(view),
        }

    def force_reply_target(self, view: str = "private") -> int | None:
        """The bot's prompt a message typed now answers, as a Telegram app does on ForceReply.

        The newest bot message with ForceReply since the person last wrote; a selective one
        only for whom it mentions or replies to. In a group with privacy mode this reply is
        the only way a typed answer (a quantity, a country search) reaches the bot.
        """
        assert self.tg is not None
        user_id = MEMBER_USER_ID if view == "group-member" else DEMO_USER_ID
        record = self.tg.chats.get(DEMO_USER_ID if view == "private" else DEMO_GROUP_ID)
        if record is None:
            return None
        for message_id in sorted(record.messages, reverse=True):
            snap = record.messages[message_id]
            meta = record.meta.get(message_id)
            if meta is None or not meta.from_bot:
                if (snap.get("from") or {}).get("id") == user_id:
                    return None  # they wrote since: the prompt was answered or passed over
                continue
            markup = meta.reply_markup or {}
            if not markup.get("force_reply"):
                continue
            if markup.get("selective") and not _addresses(snap, user_id):
                continue
            return message_id
        return None

    # ------------------------------------------------------------------ HTTP

    def web_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/api/info", self._info)
        app.router.add_get("/api/chat", self._chat_view)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/api/file/{file_id}", self._file)
        app.router.add_post("/api/send", self._send)
        app.router.add_post("/api/click", self._click)
        app.router.add_post("/api/open-link", self._open_link)
        app.router.add_post("/api/panel/deposit", self._deposit)
        app.router.add_post("/api/panel/expiry", self._expiry)
        app.router.add_post("/api/panel/fault", self._fault)
        app.router.add_post("/api/reset", self._reset)
        return app

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _info(self, request: web.Request) -> web.Response:
        assert self.account is not None
        return web.json_response({"api_key": self.account.api_key})

    async def _chat_view(self, request: web.Request) -> web.Response:
        return web.json_response(self.chat_json(request.query.get("view", "private")))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: one `change` event per emulator state change."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await response.write(b"event: change\ndata: {}\n\n")
        seen = self.tg
        while True:
            tg = self.tg
            if tg is None:
                await asyncio.sleep(0.1)  # between reset's stop and start
                continue
            try:
                if tg is not seen:
                    # A reset (from this page or another tab): the page starts over too.
                    seen = tg
                    await response.write(b"event: reset\ndata: {}\n\n")
                    continue
                await asyncio.wait_for(tg.next_change(), 15)
                await response.write(b"event: change\ndata: {}\n\n")
            except TimeoutError:
                await response.write(b": keep-alive\n\n")  # proxies drop silent streams
            except (ConnectionResetError, asyncio.CancelledError):
                break
        return response

    async def _file(self, request: web.Request) -> web.Response:
        assert self.tg is not None
        stored = self.tg.files.get(request.match_info["file_id"])
        if stored is None or stored.data is None:
            raise web.HTTPNotFound()
        headers = {}
        if stored.kind == "document":
            name = (stored.filename or "file").replace('"', "")
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return web.Response(
            body=stored.data,
            content_type=stored.mime_type or "application/octet-stream",
            headers=headers,
        )

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise web.HTTPBadRequest(text="JSON body expected") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="JSON object expected")
        return body

    async def _send(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        text = str(body.get("text", "")).strip()
        if not text:
            raise web.HTTPBadRequest(text="empty message")
        view = str(body.get("view", "private"))
        chat = self._chat(view)
        await chat.send(text, reply_to=self.force_reply_target(view))
        return web.json_response({"ok": True})

    async def _click(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        chat = self._chat(str(body.get("view", "private")))
        message = chat.message(int(body["message_id"]))
        if message is None:
            raise web.HTTPNotFound(text="no such message")
        chat._press(str(body["data"]), message.message_id)
        return web.json_response({"ok": True})

    async def _open_link(self, request: web.Request) -> web.Response:
        """A t.me link to the bot (an invitation from the group): its user starts the bot."""
        assert self.tg is not None
        body = await self._body(request)
        view = str(body.get("view", "private"))
        user = self.tg.users[MEMBER_USER_ID if view == "group-member" else DEMO_USER_ID]
        try:
            await user.open_deep_link(str(body.get("url", "")))
        except AssertionError as exc:  # a link to another bot or site
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response({"ok": True, "view": "private"})

    async def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The sandbox's own admin path, over HTTP like any developer would use it."""
        assert self.sandbox is not None
        async with httpx.AsyncClient(base_url=self.sandbox.admin_url) as client:
            response = await client.request(method, path, json=body)
        if response.status_code >= 400:
            raise web.HTTPBadRequest(text=response.text)
        return response.json()

    async def _deposit(self, request: web.Request) -> web.Response:
        assert self.account is not None
        body = await self._body(request)
        amount = str(body.get("amount", "25.00"))
        currency = str(body.get("currency", "USDT_TRC20"))
        path = f"/accounts/{self.account.id}/deposits"
        result = await self._admin("POST", path, {"amount": amount, "currency": currency})
        # The bot reads balances of chats that looked at an address every poll interval; move
        # the shared clock past the next read and run it now instead of making the user wait.
        assert self.app is not None
        watch = self.app.dispatcher["deposit_watch"]
        self.clock.advance(watch.poll_interval + timedelta(seconds=1))
        self.changed()
        await self.app.dispatcher["deposit_job"].run()
        return web.json_response(result)

    async def _expiry(self, request: web.Request) -> web.Response:
        """Move time to just before the first reminder of the nearest order, then run the job."""
        assert self.app is not None and self.sandbox is not None
        now = self.clock.now()
        orders = [
            o for o in self.sandbox.state.orders.values()
            if o.expires_at is not None and o.expires_at > now
        ]
        if not orders:
            raise web.HTTPBadRequest(text="no active order to move towards its expiry")
        expires = min(o.expires_at for o in orders if o.expires_at is not None)
        first = max(self.app.settings.reminder_offsets)
        target = expires - first + timedelta(minutes=1)
        if target > now:
            self.clock.advance(target - now)
            self.changed()
        await self.app.reminder_job.run()
        return web.json_response({"now": self.clock.now().isoformat()})

    async def _fault(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        endpoint = str(body.get("endpoint", "POST /orders"))
        kind = str(body.get("kind", "upstream_error"))
        return web.json_response(
            await self._admin("POST", "/faults", {"endpoint": endpoint, "kind": kind, "times": 1})
        )

    async def _reset(self, request: web.Request) -> web.Response:
        await self.reset()
        return web.json_response({"ok": True})


def _addresses(message: dict[str, Any], user_id: int) -> bool:
    """Does a selective ForceReply apply to `user_id`: mentioned, or replied to?"""
    replied = (message.get("reply_to_message") or {}).get("from") or {}
    if replied.get("id") == user_id:
        return True
    entities = message.get("entities") or message.get("caption_entities") or []
    return any(
        e.get("type") == "text_mention" and (e.get("user") or {}).get("id") == user_id
        for e in entities
    )
