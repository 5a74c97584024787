"""The playground: sandbox API + Bot API emulator + the real bot + a chat page, in one process.

The bot runs exactly as in production (`bot.app.build_app` with long polling); only its
TELEGRAM_API_URL and PROXY_API_URL point at the emulator and the sandbox. The sandbox and the
bot share one OffsetClock, so "move time" in the side panel is seen by both.
"""

from __future__ import annotations

import asyncio
import json
import shutil
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
from playground.emulator import FakeTelegram
from sandbox.server import SandboxServer
from sandbox.state import Account, SandboxState

STATIC = Path(__file__).parent / "static"
DEMO_USER_ID = 777001
MEMBER_USER_ID = 777002
DEMO_GROUP_ID = -1001777000001
# The page's chat switch: who types, and in which chat.
VIEWS = ("private", "group-admin", "group-member")
DEMO_BALANCE = Decimal("100.00")


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
    _runner: web.AppRunner | None = None
    url: str = ""

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
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        state = SandboxState(clock=self.clock.now)
        self.account = state.create_account(
            email="demo@sandbox.local", name="Demo User", balance=DEMO_BALANCE
        )
        self.sandbox = SandboxServer(state, host="127.0.0.1", port=0)
        await self.sandbox.start()
        self.tg = FakeTelegram(bot_username="proxy_shop_demo_bot", bot_first_name="Proxy Shop")
        await self.tg.start()
        you = self.tg.user(DEMO_USER_ID, "You", username="you_demo")
        mila = self.tg.user(MEMBER_USER_ID, "Mila", username="mila_demo")
        # A demo team: you own it, Mila is a plain member (privacy mode on, as in Telegram).
        group = self.tg.group(DEMO_GROUP_ID, "Demo team", owner=you)
        group.member(mila)
        key_file = self.data_dir / "encryption.key"
        if not key_file.exists():
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

    async def _stop_backends(self) -> None:
        if self.app is not None and self._bot_task is not None:
            await self.app.stop()
            await asyncio.wait_for(self._bot_task, timeout=20)
        if self.tg is not None:
            await self.tg.stop()
        if self.sandbox is not None:
            await self.sandbox.stop()
        self.app = self._bot_task = self.tg = self.sandbox = None

    async def stop(self) -> None:
        await self._stop_backends()
        if self._runner is not None:
            await self._runner.cleanup()

    async def reset(self) -> None:
        """Start over: a fresh sandbox, emulator and bot database."""
        await self._stop_backends()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.clock.offset = timedelta()
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
        return {"messages": messages, "reply_keyboard": reply_keyboard, "answers": answers}

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
        while True:
            tg = self.tg
            if tg is None:
                await asyncio.sleep(0.1)  # between reset's stop and start
                continue
            try:
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
        await self._chat(str(body.get("view", "private"))).send(text)
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
