"""What the simulated users do, and the measurements of each row of the table.

Every scenario returns plain figures (see `bench.report`); nothing here prints.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from bench.harness import (
    BotProcess,
    ProcessStats,
    Replies,
    Reply,
    StepFailed,
    User,
    anything,
    shows,
)
from sandbox.server import SandboxServer

# Screens of the purchase wizard (as in tests/e2e.py).
START = "Which proxies"
COUNTRY = "Choose a country"
PERIOD = "For how long"
QUANTITY = "How many proxies"
QUOTE = "Your order"
RECEIPT = "Order placed"
HELP = "Help"
HOME = "💰 Balance"  # the main menu (a dashboard) of a linked chat

# Enough money for any bench run; the sandbox never runs dry of fake money.
BALANCE = Decimal("1000000.00")


@dataclass
class Load:
    """What one run measured: latencies of answered updates and the bot's cost."""

    latencies: list[float] = field(default_factory=list)  # ms, one per answered update
    elapsed: float = 0.0
    cpu: float = 0.0  # bot process seconds
    polls: int = 0  # getUpdates calls
    failures: int = 0
    rss: int = 0

    @property
    def updates(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.updates / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def cpu_per_update_ms(self) -> float:
        return self.cpu / self.updates * 1000 if self.updates else float("nan")

    @property
    def polls_per_update(self) -> float:
        return self.polls / self.updates if self.updates else float("nan")


# -- linking ---------------------------------------------------------------------------


async def link(user: User, sandbox: SandboxServer, balance: Decimal = BALANCE) -> None:
    """/start and the pasted key, through the bot's real flow."""
    account = sandbox.state.create_account(f"bench{user.chat_id}@example.com", balance=balance)
    await user.send("/start", lambda r: any(d.startswith("x:") for _, d in r.buttons))
    await user.send(account.api_key, lambda r: any(d == "m:buy" for _, d in r.buttons))


async def link_all(users: list[User], sandbox: SandboxServer, parallel: int = 50) -> None:
    gate = asyncio.Semaphore(parallel)

    async def one(user: User) -> None:
        async with gate:
            await link(user, sandbox)

    await asyncio.gather(*(one(u) for u in users))


# -- what users do -----------------------------------------------------------------------

# A script runs one round of a user's work and records one latency per update; `floor`
# makes it send the same updates (messages and taps, in the same order) to the echo bot,
# which answers each with one message or one edit.
Script = Callable[[User, list[float], bool, int], Awaitable[None]]


class Wizard:
    """/buy (or 🛒 Buy more) → IPv4 → ▶️ → ◀️ → United States → 1 week → 5 → quote → confirm.

    Only every ``confirm_every``-th round confirms: the API allows a key 10 orders a
    minute (docs/1001proxy-api.md), and a closed loop of users would outrun it, so the
    other rounds leave at the quote (✖️ Cancel) — one update, like the confirm, but no
    order.
    """

    def __init__(self, confirm_every: int = 3) -> None:
        self.confirm_every = confirm_every
        self._screens: dict[int, Reply] = {}
        self._rounds: dict[int, int] = {}  # per user, across runs: every k-th round buys

    async def __call__(self, user: User, lat: list[float], floor: bool, round_: int) -> None:
        screen = self._screens.get(user.chat_id)
        done = self._rounds[user.chat_id] = self._rounds.get(user.chat_id, 0) + 1

        def step(ms_reply: tuple[float, Reply]) -> Reply:
            lat.append(ms_reply[0])
            return ms_reply[1]

        def tap_on(reply: Reply, label: str | None, expect: Callable[[Reply], bool],
                   prefix: str = "") -> Awaitable[tuple[float, Reply]]:
            if floor:
                return user.tap(reply.message_id, "again", anything)
            data = reply.data_starting(prefix) if prefix else reply.data_of(label or "")
            return user.tap(reply.message_id, data, expect)

        if screen is None:
            screen = step(await user.send("/buy", anything if floor else shows(START)))
        else:
            screen = step(await tap_on(screen, None, shows(START), prefix="m:buy"))
        screen = step(await tap_on(screen, "Datacenter IPv4", shows(COUNTRY)))
        screen = step(await tap_on(screen, "▶️", shows(COUNTRY)))
        screen = step(await tap_on(screen, "◀️", shows(COUNTRY)))
        screen = step(await tap_on(screen, "United States", shows(PERIOD)))
        screen = step(await tap_on(screen, "1 week", shows(QUANTITY)))
        screen = step(await tap_on(screen, "5", shows(QUOTE)))
        if (done - 1) % self.confirm_every == 0:
            screen = step(await tap_on(screen, None, shows(RECEIPT), prefix="bc:"))
        else:
            # ✖️ Cancel: the wizard ends where a person would leave it, with the menu.
            screen = step(await tap_on(screen, None, _offers_buy, prefix="x:"))
        # The next round starts with 🛒 Buy more (the receipt) or 🛒 Buy (the menu).
        self._screens[user.chat_id] = screen


def _offers_buy(reply: Reply) -> bool:
    return any(data == "m:buy" for _, data in reply.buttons)


async def help_messages(user: User, lat: list[float], floor: bool, round_: int) -> None:
    """/help, answered with the help text (no database, no API)."""
    ms, _ = await user.send("/help", anything if floor else shows(HELP))
    lat.append(ms)


class MenuTaps:
    """❓ Help on the main menu, then ⬅️ Home on the help screen, and again."""

    def __init__(self) -> None:
        self._screens: dict[int, Reply] = {}

    async def __call__(self, user: User, lat: list[float], floor: bool, round_: int) -> None:
        screen = self._screens.get(user.chat_id)
        if screen is None:
            ms, screen = await user.send("/menu", anything if floor else shows(HOME))
            lat.append(ms)
        for data, expect in (("m:help", HELP), ("m:home", HOME)):
            ms, screen = await user.tap(
                screen.message_id, "again" if floor else data, anything if floor else shows(expect)
            )
            lat.append(ms)
        self._screens[user.chat_id] = screen


class Target(Protocol):
    """What a load runs against: a `BotProcess`, or a bot in this process (the tests)."""

    replies: Replies

    def stats(self) -> ProcessStats: ...


async def run_load(
    bot: Target, users: list[User], script: Script, seconds: float, *, floor: bool
) -> Load:
    """Every user runs ``script`` round after round until ``seconds`` have passed."""
    load = Load()
    bot.replies.reset_counts()
    before = bot.stats()
    started = time.perf_counter()
    deadline = started + seconds

    async def user_loop(user: User) -> None:
        round_ = 0
        while time.perf_counter() < deadline:
            try:
                await script(user, load.latencies, floor, round_)
            except (StepFailed, LookupError):
                load.failures += 1
                return
            round_ += 1

    await asyncio.gather(*(user_loop(u) for u in users))
    load.elapsed = time.perf_counter() - started
    after = bot.stats()
    load.cpu = after.cpu - before.cpu
    load.rss = after.rss
    load.polls = bot.replies.calls["getupdates"]
    return load


@dataclass
class Pairs:
    """A B A B runs of one workload: the bot's and the floor's loads, pair by pair."""

    bot: list[Load] = field(default_factory=list)
    floor: list[Load] = field(default_factory=list)

    def ratios(self, figure: Callable[[Load], float]) -> list[float]:
        return [
            figure(a) / figure(b) if figure(b) else float("nan")
            for a, b in zip(self.bot, self.floor, strict=True)
        ]

    def median(self, who: str, figure: Callable[[Load], float]) -> float:
        return statistics.median(figure(load) for load in getattr(self, who))


async def alternate(
    bot: Target,
    bot_users: list[User],
    floor: Target,
    floor_users: list[User],
    script: Script,
    *,
    pairs: int,
    seconds: float,
) -> Pairs:
    result = Pairs()
    for _ in range(pairs):
        result.bot.append(await run_load(bot, bot_users, script, seconds, floor=False))
        result.floor.append(await run_load(floor, floor_users, script, seconds, floor=True))
    return result


# -- upstream calls ------------------------------------------------------------------------


async def purchases_calls(
    users: list[User], sandbox: SandboxServer, rounds: int = 1
) -> tuple[int, dict[str, int]]:
    """Each user buys ``rounds`` times (quote, confirm); (orders placed, calls by endpoint)."""
    wizard = Wizard(confirm_every=1)
    before = dict(sandbox.state.request_counts)

    async def buyer(user: User) -> None:
        for i in range(rounds):
            await wizard(user, [], False, i)

    await asyncio.gather(*(buyer(u) for u in users))
    after = sandbox.state.request_counts
    calls = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    return calls.get("POST /orders", 0), calls


class ReferenceCalls:
    """GET /reference/{type} answered by the sandbox, by type (its own request counts lump
    the types together under the endpoint's template)."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.by_type: Counter[str] = Counter()
        state = sandbox.state
        original = state.reference

        def counted(proxy_type: str):  # the sandbox's own Catalog
            self.by_type[proxy_type] += 1
            return original(proxy_type)

        state.reference = counted  # type: ignore[method-assign]

    def snapshot(self) -> Counter[str]:
        return Counter(self.by_type)


async def open_wizard_burst(
    users: list[User], references: ReferenceCalls, spread: float
) -> dict[str, int]:
    """Every user opens the wizard and picks a type within ``spread`` seconds (types in
    turn); the reference calls this caused, by type."""
    before = references.snapshot()

    async def opener(i: int, user: User) -> None:
        await asyncio.sleep(random.uniform(0, spread))
        _, start = await user.send("/buy", shows(START))
        types = [d for _, d in start.buttons if d.startswith("b:set:")]
        await user.tap(start.message_id, types[i % len(types)], anything)

    await asyncio.gather(*(opener(i, u) for i, u in enumerate(users)))
    return dict(references.snapshot() - before)


__all__ = [
    "Load",
    "MenuTaps",
    "Pairs",
    "Replies",
    "Wizard",
    "alternate",
    "help_messages",
    "link_all",
    "open_wizard_burst",
    "purchases_calls",
    "run_load",
]


# -- start-up and memory -------------------------------------------------------------------


async def settle_rss(bot: BotProcess, seconds: float) -> int:
    """Resident memory once start-up work (recovery, first reminder run) has settled."""
    await asyncio.sleep(seconds)
    return bot.stats().rss


# -- fan-out -------------------------------------------------------------------------------


@dataclass
class FanOut:
    due: int
    delivered: int = 0  # chats that got their reminder
    doubled: int = 0  # chats that got more than one message
    refused: int = 0  # 429s the fake gave
    rate: float = 0.0  # messages per second, first to last
    seconds: float = 0.0


async def fan_out(replies: Replies, chat_ids: list[int], within: float) -> FanOut:
    """Wait until every chat got its reminder (or ``within`` seconds); the bot is started after
    this is called, with the reminders already due."""
    result = FanOut(due=len(chat_ids))
    wanted = set(chat_ids)
    first: float | None = None
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        got = sum(1 for c in wanted if replies.sent.get(c))
        if got and first is None:
            first = time.perf_counter()
        if got >= len(wanted):
            break
        await asyncio.sleep(0.2)
    last = time.perf_counter()
    counts = [replies.sent.get(c, 0) for c in chat_ids]
    result.delivered = sum(1 for n in counts if n >= 1)
    result.doubled = sum(1 for n in counts if n > 1)
    result.refused = replies.tg.limit_refusals
    if first is not None:
        result.seconds = last - first
        result.rate = result.delivered / result.seconds if result.seconds else float("nan")
    return result


# -- flood ---------------------------------------------------------------------------------


async def flood(flooder: User, messages: int, per_second: float) -> None:
    """One person sending ``messages`` as fast as a script can, ``per_second``."""
    for i in range(messages):
        flooder.send_nowait(f"spam {i}")
        if (i + 1) % 10 == 0:
            await asyncio.sleep(10 / per_second)
