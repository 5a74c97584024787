"""Start-up loads only what polling needs (issue 14): heavy optional modules stay unimported.

`python -m bot` runs as a real process against the fake Bot API and the sandbox; at its first
`getUpdates` it writes down `sys.modules` and stops. No timing is asserted: a module imported
at the top of a start-up path again (the deposit QR's segno, the webhook's aiohttp.web, the
metrics' prometheus_client without METRICS_PORT, babel's .po parser) fails this test.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.i18n import build_i18n

# Runs in the child: record the modules when the first poll leaves, then stop as SIGTERM does.
_CHILD = r"""
import os, signal, sys
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import GetUpdates

make_request = AiohttpSession.make_request

async def first_poll(self, bot, method, timeout=None):
    if isinstance(method, GetUpdates) and not os.path.exists(os.environ["MODULES_OUT"]):
        with open(os.environ["MODULES_OUT"], "w") as fh:
            fh.write("\n".join(sorted(sys.modules)))
        os.kill(os.getpid(), signal.SIGTERM)
    return await make_request(self, bot, method, timeout)

AiohttpSession.make_request = first_poll
from bot.__main__ import main
sys.exit(main())
"""

# Imported on first use, never before the first poll.
LAZY = ("segno", "babel.messages.pofile")
# The operator's endpoints: only with METRICS_PORT (or in webhook mode).
OPS = ("prometheus_client", "aiohttp.web", "bot.health", "bot.webhook")


async def _modules_at_first_poll(tmp_path: Path, **settings: str) -> set[str]:
    out = tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if k not in {
        "METRICS_PORT", "WEBHOOK_URL", "WEBHOOK_SECRET", "ENCRYPTION_KEY"}}
    env.update({"DATABASE_PATH": str(tmp_path / "bot.sqlite3"), "LOG_LEVEL": "WARNING",
                "MODULES_OUT": str(out), **settings})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert out.exists(), "the bot stopped before its first getUpdates"
    return set(out.read_text().split())


@pytest.mark.parametrize("metrics", [False, True], ids=["plain", "metrics-port"])
async def test_first_poll_comes_before_optional_modules(
    fake_telegram, sandbox, tmp_path, metrics
):
    from tests.conftest import free_port

    settings = {"BOT_TOKEN": fake_telegram.token, "TELEGRAM_API_URL": fake_telegram.base_url,
                "PROXY_API_URL": sandbox.base_url}
    if metrics:
        settings["METRICS_PORT"] = str(free_port())
    # The catalogs compiled once (as any start after the first finds them).
    build_i18n()
    modules = await _modules_at_first_poll(tmp_path, **settings)
    # What start-up does need is there: the test sees the real start-up path.
    assert {"bot.app", "aiogram", "apscheduler", "httpx"} <= modules
    assert [m for m in LAZY if m in modules] == []
    if metrics:
        # Asked for: /metrics is served before the first poll, as before.
        assert set(OPS) <= modules
    else:
        assert [m for m in OPS if m in modules] == []
