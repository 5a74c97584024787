"""The bench's machinery: fakes in this process, the bot under test in its own process.

The bot (``python -m bot``) or the floor (``python -m bench.echo_bot``) runs as a child
process so that its CPU time, resident memory and start-up are its own, read from
``/proc``. Everything it talks to runs here on 127.0.0.1: the tests' fake Bot API (one per
bot, so both can stay warm and be loaded in turn) and the sandbox.

Replies are matched without polling: `Replies` wraps the fake's request recorder and hands
each send or edit straight to the one simulated user waiting in that chat, so the load
generator's cost does not grow with the number of users (the fake's own `wait_for`
re-checks every waiter on every request).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from playground.emulator.client import FakeTelegram

# Methods whose answer is a message the user sees (a reply or an edited screen).
_SHOWN = frozenset(
    {"sendmessage", "editmessagetext", "sendphoto", "senddocument", "editmessagecaption",
     "editmessagemedia", "editmessagereplymarkup"}
)
ROOT = Path(__file__).resolve().parents[1]
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Reply:
    """A message the bot sent or edited, as the fake recorded it."""

    method: str
    chat_id: int
    message_id: int
    text: str
    buttons: tuple[tuple[str, str], ...]  # (label, callback_data) of inline buttons
    at: float  # perf_counter when the fake recorded it

    def data_of(self, label: str) -> str:
        # Exact first; else a label with an emoji or a ✅ in front of it, or a price after it.
        for text, data in self.buttons:
            if text == label:
                return data
        for text, data in self.buttons:
            if text.endswith(" " + label):
                return data
        # A choice with its price after it: "5 · $6.25", "1 week · $1.25".
        for text, data in self.buttons:
            if text.startswith(label + " · "):
                return data
        raise LookupError(f"no button {label!r} on {self.text[:60]!r}: {self.buttons}")

    def data_starting(self, prefix: str) -> str:
        for _, data in self.buttons:
            if data.startswith(prefix):
                return data
        raise LookupError(f"no button {prefix}… on {self.text[:60]!r}")


def _reply(method: str, body: dict[str, Any], at: float) -> Reply | None:
    result = body.get("result")
    if not isinstance(result, dict) or "chat" not in result:
        return None
    markup = result.get("reply_markup") or {}
    buttons = tuple(
        (b.get("text", ""), b["callback_data"])
        for row in markup.get("inline_keyboard", [])
        for b in row
        if "callback_data" in b
    )
    return Reply(method, result["chat"]["id"], result.get("message_id", 0),
                 result.get("text") or result.get("caption") or "", buttons, at)


class Replies:
    """Watches one fake Bot API: counts calls and delivers replies to waiting users."""

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg
        self.calls: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()  # 4xx/5xx answers by method
        self.first_poll: asyncio.Event = asyncio.Event()
        self.sent: Counter[int] = Counter()  # messages sent per chat (fan-out)
        self._waiters: dict[int, tuple[Callable[[Reply], bool], asyncio.Future[Reply]]] = {}
        self.keep_requests = False
        record = tg._record

        def hooked(method: str, params: dict[str, Any], status: int, body: dict[str, Any]) -> None:
            at = time.perf_counter()
            name = method.lower()
            self.calls[name] += 1
            if status != 200:
                self.refusals[name] += 1
            if self.keep_requests:
                record(method, params, status, body)
            else:
                # The fake keeps every request (with a deep copy of the answer) for the
                # tests to read back; a bench run makes hundreds of thousands.
                tg._bump()
            if status != 200 or name not in _SHOWN:
                return
            reply = _reply(name, body, at)
            if reply is None:
                return
            if name == "sendmessage":
                self.sent[reply.chat_id] += 1
            waiter = self._waiters.get(reply.chat_id)
            if waiter is not None and not waiter[1].done() and waiter[0](reply):
                del self._waiters[reply.chat_id]
                waiter[1].set_result(reply)

        tg._record = hooked  # type: ignore[method-assign]
        get_updates = tg._methods["getupdates"]

        async def polled(params: dict[str, Any]) -> Any:
            # When the poll arrives, not when it is answered: with nothing queued a long
            # poll is answered only after its timeout (10 s), which is no part of start-up.
            self.first_poll.set()
            return await get_updates(params)

        tg._methods["getupdates"] = polled

    def expect(self, chat_id: int, match: Callable[[Reply], bool]) -> asyncio.Future[Reply]:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiters[chat_id] = (match, future)
        return future

    def reset_counts(self) -> None:
        self.calls.clear()
        self.refusals.clear()


class StepFailed(Exception):
    """A simulated user's reply did not come (or was not the screen expected)."""


class User:
    """One person in a private chat: sends or taps, then waits for the bot's answer."""

    def __init__(
        self, replies: Replies, user_id: int, name: str = "Bench", think: float = 0.0
    ) -> None:
        self.replies = replies
        # Seconds a person reads before each send or tap (jittered); 0: a closed loop.
        self.think = think
        self.chat = replies.tg.user(user_id=user_id, first_name=name).private_chat()
        self.chat_id = self.chat.chat_id

    async def _await(
        self, future: asyncio.Future[Reply], started: float, within: float
    ) -> tuple[float, Reply]:
        try:
            reply = await asyncio.wait_for(future, within)
        except TimeoutError:
            raise StepFailed(f"chat {self.chat_id}: no answer within {within:g} s") from None
        return (reply.at - started) * 1000, reply

    async def send(
        self, text: str, match: Callable[[Reply], bool], within: float = 30.0
    ) -> tuple[float, Reply]:
        """Send a text message; (latency ms, the reply matching ``match``)."""
        await self._read()
        future = self.replies.expect(self.chat_id, match)
        started = time.perf_counter()
        await self.chat.send(text)
        return await self._await(future, started, within)

    async def tap(
        self, message_id: int, data: str, match: Callable[[Reply], bool], within: float = 30.0
    ) -> tuple[float, Reply]:
        await self._read()
        future = self.replies.expect(self.chat_id, match)
        started = time.perf_counter()
        self.chat._press(data, message_id)
        return await self._await(future, started, within)

    async def _read(self) -> None:
        if self.think:
            await asyncio.sleep(random.uniform(0.5, 1.5) * self.think)

    def send_nowait(self, text: str) -> None:
        """Fire and forget (a flood)."""
        self.chat.record.started = True
        message_id = self.chat.record.allocate_message_id()
        self.replies.tg.enqueue_update({"message": {
            "message_id": message_id, "from": self.chat.user.as_dict(),
            "chat": self.chat.record.as_dict(), "date": self.replies.tg.now_ts(), "text": text,
        }})


def shows(marker: str) -> Callable[[Reply], bool]:
    return lambda reply: marker in reply.text


def anything(reply: Reply) -> bool:
    return True


# -- the process under test ---------------------------------------------------------------


@dataclass
class ProcessStats:
    cpu: float  # user + system seconds
    rss: int  # bytes


def proc_stats(pid: int) -> ProcessStats:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _CLK_TCK
    with open(f"/proc/{pid}/statm") as fh:
        rss = int(fh.read().split()[1]) * _PAGE
    return ProcessStats(cpu, rss)


@dataclass
class BotProcess:
    """``python -m <module>`` against a fake Bot API (and the sandbox), in a data dir."""

    module: str
    replies: Replies
    proxy_api_url: str
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: asyncio.subprocess.Process | None = None
    startup: float = 0.0  # seconds from process start to its first getUpdates
    _log: Any = None

    @property
    def database(self) -> Path:
        return self.data_dir / "bot.sqlite3"

    def environment(self) -> dict[str, str]:
        tg = self.replies.tg
        # The bench is not an installed package; the child finds it (and the bot) here.
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return {
            **os.environ,
            "PYTHONPATH": path,
            "BOT_TOKEN": tg.token,
            "TELEGRAM_API_URL": tg.base_url,
            "PROXY_API_URL": self.proxy_api_url,
            "DATABASE_PATH": str(self.database),
            "ENCRYPTION_KEY": self.env.get("ENCRYPTION_KEY") or Fernet.generate_key().decode(),
            "LOG_LEVEL": "WARNING",
            **self.env,
        }

    async def start(self, within: float = 60.0) -> None:
        self.replies.first_poll.clear()
        # The child writes its log here; read back only when it fails to start.
        self._log = open(self.data_dir / f"{self.module}.log", "ab")  # noqa: SIM115, ASYNC230
        started = time.perf_counter()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", self.module,
            cwd=self.data_dir, env=self.environment(),
            stdout=self._log, stderr=self._log,
        )
        poll = asyncio.ensure_future(self.replies.first_poll.wait())
        died = asyncio.ensure_future(self.proc.wait())
        done, _ = await asyncio.wait({poll, died}, timeout=within,
                                     return_when=asyncio.FIRST_COMPLETED)
        if poll not in done:
            poll.cancel()
            died.cancel()
            log = (self.data_dir / f"{self.module}.log").read_text(errors="replace")[-2000:]
            await self.stop()
            raise RuntimeError(f"{self.module} did not start polling:\n{log}")
        died.cancel()
        self.startup = time.perf_counter() - started

    def stats(self) -> ProcessStats:
        assert self.proc is not None
        return proc_stats(self.proc.pid)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


# What `python -m bot` and `python -m bench.echo_bot` import from this checkout.
PACKAGES = ("bot", "core", "handlers", "keyboards", "proxy_api", "services", "storage",
            "views", "bench")


def build_ahead() -> None:
    """Bytecode and message catalogs built once, before any process starts.

    A deployment has them (pip compiles what it installs; the Dockerfile compiles /app and
    the catalogs): a machine with PYTHONDONTWRITEBYTECODE set would otherwise measure the
    bot compiling its own ~120 modules at every start, which no deployment does, while the
    floor's libraries come compiled.
    """
    import compileall

    from bot.i18n import build_i18n

    for package in PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=1)
    build_i18n()


@contextlib.asynccontextmanager
async def fake_telegram():
    """A started fake Bot API with its `Replies` hook."""
    async with FakeTelegram() as tg:
        yield Replies(tg)


@contextlib.contextmanager
def scratch_dir(prefix: str):
    with tempfile.TemporaryDirectory(prefix=prefix) as path:
        yield Path(path)
