"""`python -m bot`: start the bot with long polling."""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.settings import SettingsError, load_settings
from core.security import KeyVaultError


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Request lines of every API call are noise at INFO; our client logs what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


async def _run() -> None:
    from bot.app import build_app

    settings = load_settings()
    app = await build_app(settings)
    await app.run_polling(handle_signals=True)


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    from bot.app import StartupError

    try:
        asyncio.run(_run())
    except (StartupError, KeyVaultError) as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
