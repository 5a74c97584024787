"""`make bench`: the bot's own cost, measured against a bare-aiogram floor.

Everything runs on this machine over 127.0.0.1: the tests' fake Bot API and the sandbox in
this process, the bot (``python -m bot``) and the floor (``python -m bench.echo_bot``) in
processes of their own. Prints one table and writes it to bench/RESULTS.md.

Rows (see README, "Benchmarks"): update throughput and latency under simulated users
(the purchase wizard, /help, menu taps; bot and floor alternating A B A B), upstream calls
per purchase and reference calls, start-up and memory with stored orders, reminder fan-out
under Telegram's limits, and the other users' latency while one floods.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass

from cryptography.fernet import Fernet

from bench import dataset, report
from bench.harness import BotProcess, User, build_ahead, fake_telegram, scratch_dir
from bench.scenarios import (
    MenuTaps,
    Pairs,
    ReferenceCalls,
    Wizard,
    alternate,
    fan_out,
    flood,
    help_messages,
    link_all,
    open_wizard_burst,
    purchases_calls,
    run_load,
    settle_rss,
)
from core.security import KeyVault
from sandbox.server import SandboxServer

# The simulated users send as fast as the bot answers: per-person flood limits would
# (rightly) drop most of it. The flood scenario runs the real defaults.
NO_THROTTLE = {"THROTTLE_USER_LIMIT": "1000000", "THROTTLE_CHAT_LIMIT": "1000000"}


# What one purchase may call: the wizard's reads, the quote, the order and the receipt.
PURCHASE_ENDPOINTS = frozenset({
    "GET /reference/{type}", "POST /orders/calc", "GET /account", "POST /orders",
    "GET /orders/{id}",
})


@dataclass
class Config:
    users: int = 200
    seconds: float = 8.0  # one run of one workload
    pairs: int = 3
    sizes: tuple[int, ...] = (0, 10_000, 100_000)
    startup_runs: int = 2
    fanout: int = 5000
    flood_users: int = 50
    flood_messages: int = 1000
    flood_seconds: float = 6.0
    burst_spread: float = 10.0  # seconds over which the users open the wizard
    purchases: int = 20  # users buying (twice each) for the upstream-calls row
    settle: float = 2.0  # seconds after start-up before memory is read
    workloads: tuple[str, ...] = ("wizard", "help", "taps")  # the timed throughput loads

    @classmethod
    def quick(cls) -> Config:
        """Tiny: checks the harness end to end in seconds (tests/test_bench.py)."""
        return cls(users=4, seconds=1.0, pairs=1, sizes=(0, 200), startup_runs=1, fanout=10,
                   flood_users=3, flood_messages=40, flood_seconds=1.0, burst_spread=0.2,
                   purchases=2, settle=0.2)


async def throughput(cfg: Config, sandbox: SandboxServer, table: report.Table) -> None:
    async with fake_telegram() as bot_tg, fake_telegram() as floor_tg:
        with scratch_dir("bench-bot-") as bot_dir, scratch_dir("bench-floor-") as floor_dir:
            bot = BotProcess("bot", bot_tg, sandbox.base_url, bot_dir, env=dict(NO_THROTTLE))
            floor = BotProcess("bench.echo_bot", floor_tg, sandbox.base_url, floor_dir)
            try:
                # Both started before either failure is raised: `finally` stops both.
                for failed in await asyncio.gather(bot.start(), floor.start(),
                                                   return_exceptions=True):
                    if isinstance(failed, BaseException):
                        raise failed
                bot_users = [User(bot_tg, 1_000_000 + i) for i in range(cfg.users)]
                floor_users = [User(floor_tg, 2_000_000 + i) for i in range(cfg.users)]
                await link_all(bot_users, sandbox)

                # Cold reference cache: everyone opens the wizard at about the same time.
                references = ReferenceCalls(sandbox)
                refs = await open_wizard_burst(bot_users, references, cfg.burst_spread)
                table.add(
                    f"reference calls: {cfg.users} users open the wizard within "
                    f"{cfg.burst_spread:g} s", "—",
                    f"{sum(refs.values())} for {len(refs)} type(s), "
                    f"at most {max(refs.values(), default=0)} per type",
                )

                workloads = {
                    "wizard": ("wizard", Wizard(), True),
                    "help": ("/help messages", help_messages, False),
                    "taps": ("taps on menu buttons", MenuTaps(), False),
                }
                refs_before = None
                for name, script, detail in (workloads[w] for w in cfg.workloads):
                    # Warm both (imports, caches, connections; the balances the menu shows
                    # for a minute) with this load before it is counted: a steady state,
                    # not what the load before left behind.
                    await run_load(bot, bot_users, script, cfg.seconds / 2, floor=False)
                    await run_load(floor, floor_users, script, cfg.seconds / 2, floor=True)
                    if refs_before is None:
                        refs_before = references.snapshot()
                    pairs = await alternate(bot, bot_users, floor, floor_users, script,
                                            pairs=cfg.pairs, seconds=cfg.seconds)
                    report.load_rows(table, f"{name} ({cfg.users} users)", pairs, detail=detail)
                steady = references.snapshot() - (refs_before or Counter())
                table.add("reference calls during the timed runs (warm cache)", "—",
                          f"{sum(steady.values())} ({dict(steady) or 'none'})")

                # Steady state: the reference cache is warm, the users linked long ago.
                orders, calls = await purchases_calls(
                    bot_users[: cfg.purchases], sandbox, rounds=2
                )
                # Background work (order sync, deposit watch) calls the API meanwhile too;
                # it is shown apart, not charged to the purchases.
                ours = {k: v for k, v in calls.items() if k in PURCHASE_ENDPOINTS}
                other = {k: v for k, v in calls.items() if k not in PURCHASE_ENDPOINTS}
                per = sum(ours.values()) / orders if orders else float("nan")
                detail = ", ".join(
                    f"{k} {v / orders:.2f}" for k, v in sorted(ours.items())
                ) if orders else "no orders"
                table.add(f"upstream calls per purchase (steady state, {orders} purchases)",
                          "—", f"{per:.2f}: {detail}")
                if other:
                    table.notes.append(
                        "meanwhile, background calls (order sync, deposit watch): "
                        + ", ".join(f"{k} {v}" for k, v in sorted(other.items()))
                    )
                table.add("RSS after the load", report.mib(floor.stats().rss),
                          report.mib(bot.stats().rss),
                          f"+{(bot.stats().rss - floor.stats().rss) / 2**20:.0f} MiB")
            finally:
                await asyncio.gather(bot.stop(), floor.stop())


async def startup(cfg: Config, sandbox: SandboxServer, table: report.Table) -> None:
    """Process start to the first getUpdates, and memory after it, with stored orders."""
    account = sandbox.state.create_account("startup@example.com")
    async with fake_telegram() as tg:
        floor_starts, floor_rss = [], []
        for size in cfg.sizes:
            bot_starts, bot_rss = [], []
            with scratch_dir("bench-start-") as data:
                key = Fernet.generate_key().decode()
                await dataset.stored_orders(data / "bot.sqlite3", KeyVault([key]), size,
                                            account.api_key)
                for _ in range(cfg.startup_runs):
                    bot = BotProcess("bot", tg, sandbox.base_url, data,
                                     env={"ENCRYPTION_KEY": key})
                    await bot.start()
                    bot_starts.append(bot.startup)
                    bot_rss.append(await settle_rss(bot, cfg.settle))
                    await bot.stop()
                    with scratch_dir("bench-start-floor-") as floor_data:
                        floor = BotProcess("bench.echo_bot", tg, sandbox.base_url, floor_data)
                        await floor.start()
                        floor_starts.append(floor.startup)
                        floor_rss.append(await settle_rss(floor, cfg.settle))
                        await floor.stop()
            fs, bs = statistics.median(floor_starts), statistics.median(bot_starts)
            fr, br = statistics.median(floor_rss), statistics.median(bot_rss)
            table.add(f"start-up to first getUpdates, {size:,} stored orders (s)",
                      f"{fs:.2f}", f"{bs:.2f}", f"{bs - fs:+.2f} s")
            table.add(f"RSS after start-up, {size:,} stored orders", report.mib(fr),
                      report.mib(br), f"{(br - fr) / 2**20:+.0f} MiB")


async def fanout(cfg: Config, sandbox: SandboxServer, table: report.Table) -> None:
    async with fake_telegram() as tg:
        with scratch_dir("bench-fanout-") as data:
            key = Fernet.generate_key().decode()
            chat_ids = await dataset.due_reminders(data / "bot.sqlite3", KeyVault([key]),
                                                   sandbox, cfg.fanout)
            for chat_id in chat_ids:
                tg.tg.user(user_id=chat_id, first_name="Due").private_chat()
            tg.tg.enforce_limits()
            bot = BotProcess("bot", tg, sandbox.base_url, data, env={"ENCRYPTION_KEY": key})
            await bot.start()
            try:
                # Twice as long as Telegram's 30 messages/s needs, and room for a slow start.
                result = await fan_out(tg, chat_ids, within=cfg.fanout / 10 + 60)
            finally:
                await bot.stop()
    table.add(f"fan-out: {cfg.fanout:,} reminders due at once, messages/s", "—",
              f"{result.rate:.1f} (in {result.seconds:.0f} s)")
    table.add("fan-out: 429s received / delivered / delivered twice", "—",
              f"{result.refused} / {result.delivered:,} of {result.due:,} / {result.doubled}")


async def flooding(cfg: Config, sandbox: SandboxServer, table: report.Table) -> None:
    async with fake_telegram() as tg:
        with scratch_dir("bench-flood-") as data:
            bot = BotProcess("bot", tg, sandbox.base_url, data)  # the real flood limits
            await bot.start()
            try:
                # A person's pace (a second to read each screen), well under the default limit of
                # 5 updates a second.
                users = [User(tg, 3_000_000 + i) for i in range(cfg.flood_users)]
                for user in users:
                    user.think = 1.0
                flooder = User(tg, 3_999_999)
                await link_all(users, sandbox, parallel=5)
                wizard = Wizard()
                await run_load(bot, users, wizard, cfg.flood_seconds / 2, floor=False)
                # Without and with the flood in turn, like the other pairs: background work
                # (order sync, deposit watch) lands in either window.
                pairs = Pairs()
                for _ in range(cfg.pairs):
                    pairs.floor.append(
                        await run_load(bot, users, wizard, cfg.flood_seconds, floor=False)
                    )
                    rate = cfg.flood_messages / cfg.flood_seconds
                    spam = asyncio.create_task(flood(flooder, cfg.flood_messages, rate))
                    pairs.bot.append(
                        await run_load(bot, users, wizard, cfg.flood_seconds, floor=False)
                    )
                    await spam
            finally:
                await bot.stop()
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        table.add(
            f"flood: {cfg.flood_users} users' {label} (ms), without → with one more user "
            f"sending {cfg.flood_messages:,} messages in {cfg.flood_seconds:g} s",
            num_ms(pairs.median("floor", lambda x, q=q: x.pct(q))),
            num_ms(pairs.median("bot", lambda x, q=q: x.pct(q))),
            report.spread(pairs.ratios(lambda x, q=q: x.pct(q))),
        )
    failures = sum(x.failures for x in pairs.bot + pairs.floor)
    if failures:
        table.notes.append(f"flood: {failures} user(s) got no answer")
    table.notes.append(
        "flood rows: the middle columns are without and with the flood (not the floor)."
    )


def num_ms(value: float) -> str:
    return report.num(value, 1)


async def main(cfg: Config, only: set[str] | None = None) -> report.Table:
    build_ahead()
    table = report.Table()
    table.notes.append(
        f"{cfg.users} simulated users, closed loop, {cfg.pairs} A B A B pairs of "
        f"{cfg.seconds:g} s per workload; the wizard buys every third round (a key may "
        "place 10 orders a minute)."
    )
    async with SandboxServer() as sandbox:
        # Thousands of keys at once: the sandbox's per-key limits are the API's, kept on.
        for name, section in (("throughput", throughput), ("startup", startup),
                              ("fanout", fanout), ("flood", flooding)):
            if only is None or name in only:
                await section(cfg, sandbox, table)
    return table


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    defaults = Config()
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--seconds", type=float, default=defaults.seconds,
                        help="length of one run of one workload")
    parser.add_argument("--pairs", type=int, default=defaults.pairs)
    parser.add_argument("--fanout", type=int, default=defaults.fanout,
                        help="reminders due at once")
    parser.add_argument("--sizes", default=",".join(map(str, defaults.sizes)),
                        help="stored orders for the start-up rows, comma-separated")
    parser.add_argument("--only", help="comma-separated: throughput,startup,fanout,flood")
    parser.add_argument("--workloads", default=",".join(defaults.workloads),
                        help="throughput loads to time, comma-separated: wizard,help,taps")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (checks the harness)")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    if args.quick:
        cfg = Config.quick()
    else:
        cfg = Config(users=args.users, seconds=args.seconds, pairs=args.pairs,
                     fanout=args.fanout, sizes=tuple(int(s) for s in args.sizes.split(",")),
                     workloads=tuple(args.workloads.split(",")))
    only = set(args.only.split(",")) if args.only else None
    started, clock = report.now(), time.perf_counter()
    table = asyncio.run(main(cfg, only))
    print(table.text())
    if not args.no_write:
        command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
        report.write(table, command.strip(), started, time.perf_counter() - clock)
        print(f"\nwritten to {report.RESULTS}")


if __name__ == "__main__":
    cli()
