"""`make bench`: round-trip latency of the bot against a bare-aiogram floor.

Everything runs on 127.0.0.1: the fake Telegram Bot API from the tests, the sandbox, and
the bot polling in-process. A "round trip" is a user's message injected into the fake
until the bot's reply is recorded there, so both include the same long-polling path.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiogram import Dispatcher, Router
from aiogram.types import Message
from cryptography.fernet import Fernet

from bot.app import build_app
from bot.settings import load_settings
from playground.emulator.client import FakeTelegram
from sandbox.server import SandboxServer


async def _timed(rounds: int, once: Callable[[int], Awaitable[None]]) -> list[float]:
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        await once(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def bare_aiogram_floor(rounds: int) -> list[float]:
    async with FakeTelegram() as tg:
        router = Router()

        @router.message()
        async def echo(message: Message) -> None:
            await message.answer(message.text or "")

        dp = Dispatcher()
        dp.include_router(router)
        bot = tg.make_bot()
        task = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
        chat = tg.user(user_id=1, first_name="Floor").private_chat()

        async def once(i: int) -> None:
            await chat.send(f"ping {i}")
            await chat.wait_for_message(f"ping {i}", timeout=10)

        try:
            return await _timed(rounds, once)
        finally:
            await dp.stop_polling()
            await task


async def bot_round_trips(rounds: int) -> dict[str, list[float]]:
    async with FakeTelegram() as tg, SandboxServer() as sandbox:
        account = sandbox.state.create_account("bench@example.com")
        with tempfile.TemporaryDirectory() as data:
            settings = load_settings(
                BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.base_url, PROXY_API_URL=sandbox.base_url,
                DATABASE_PATH=str(Path(data) / "bot.sqlite3"),
                ENCRYPTION_KEY=Fernet.generate_key().decode(), LOG_LEVEL="WARNING",
                # One bench user sends as fast as the loop goes: lift the flood limits,
                # which would otherwise (rightly) drop most of its messages.
                THROTTLE_USER_LIMIT="1000000", THROTTLE_CHAT_LIMIT="1000000",
            )
            app = await build_app(settings)
            task = asyncio.create_task(app.run_polling(handle_signals=False))
            chat = tg.user(user_id=2, first_name="Bench").private_chat()
            try:
                await chat.send("/start")
                await chat.wait_for_message("API key", timeout=20)
                await chat.send(account.api_key)
                await chat.wait_for_message("linked", timeout=20)

                async def help_once(_: int) -> None:
                    await chat.send("/help")
                    await chat.wait_for_message("Help", timeout=10)

                async def balance_once(_: int) -> None:
                    await chat.send("/balance")
                    await chat.wait_for_message("Balance:", timeout=10)

                return {
                    "/help (no API call)": await _timed(rounds, help_once),
                    "/balance (GET /account)": await _timed(rounds, balance_once),
                }
            finally:
                await app.stop()
                await task


def _row(name: str, samples: list[float], floor: float) -> str:
    median = statistics.median(samples)
    p90 = statistics.quantiles(samples, n=10)[-1] if len(samples) >= 10 else max(samples)
    return f"{name:<28} {median:8.2f} {p90:8.2f} {median / floor:8.2f}x"


async def main(rounds: int) -> None:
    floor = await bare_aiogram_floor(rounds)
    ours = await bot_round_trips(rounds)
    floor_median = statistics.median(floor)
    print(f"{'round trip (ms)':<28} {'median':>8} {'p90':>8} {'vs floor':>9}")
    print(_row("bare aiogram echo (floor)", floor, floor_median))
    for name, samples in ours.items():
        print(_row(name, samples, floor_median))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    asyncio.run(main(parser.parse_args().rounds))
