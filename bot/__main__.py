"""`python -m bot`: start the bot (webhook mode when WEBHOOK_URL is set, else polling)."""

from __future__ import annotations

import asyncio
import sys

from bot.settings import SettingsError, load_settings
from core.heap import settle_after_start
from core.security import KeyVaultError


async def _run() -> None:
    from bot.app import build_app

    settings = load_settings()
    app = await build_app(settings)
    settle_after_start()  # what start-up built is never garbage: not walked again
    await app.run(handle_signals=True)


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2
    from bot.logs import configure_logging

    # The token and the webhook secret are blanked wherever they would appear in a line.
    configure_logging(
        settings.log_level, settings.log_format, [settings.bot_token, settings.webhook_secret]
    )
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
