"""`python -m playground` (what `make run` starts when no BOT_TOKEN is set).

With a token in the environment or .env this hands over to `python -m bot` unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from bot.settings import SettingsError, load_settings


def _has_token() -> bool:
    try:
        load_settings()
    except SettingsError as exc:
        # Only a missing token means "playground"; any other bad setting is the bot's to report.
        return "BOT_TOKEN" not in str(exc)
    return True


async def _serve() -> None:
    from playground.app import Playground

    port = int(os.environ.get("PLAYGROUND_PORT", "8080"))
    data_dir = Path(os.environ.get("PLAYGROUND_DATA", "data/playground"))
    # The state of the last run in data_dir is continued (Reset in the page starts over).
    playground = Playground(data_dir=data_dir, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await playground.start()
    assert playground.account is not None
    print(
        "\n".join(
            [
                "No BOT_TOKEN set: starting the playground (sandbox API + Telegram emulator).",
                f"  open      : {playground.url}",
                f"  demo key  : {playground.account.api_key}",
                f"  state     : {data_dir}/ "
                + ("(continued; Reset in the page starts over)" if playground.resumed
                   else "(new)"),
                "Set BOT_TOKEN (see .env.example) to run the real bot. Ctrl-C stops.",
            ]
        ),
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await playground.stop()


def main() -> int:
    if _has_token():
        from bot.__main__ import main as bot_main

        return bot_main()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
