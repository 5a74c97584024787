"""`/healthz` and `/metrics`: the operator's endpoints (both modes; see bot/webhook.py).

/healthz answers 200 when every check passes and 503 otherwise, with a JSON body naming
each check, so a load balancer, Docker's HEALTHCHECK or a supervisor can act on the code
and a person can read why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from aiohttp import web

from bot.metrics import Metrics
from storage import Database

# A health check must answer before the prober gives up (Docker's default timeout is 30 s,
# load balancers' often 5 s): every check has this long.
CHECK_TIMEOUT_SECONDS = 3.0

Check = Callable[[], Awaitable[None]]


async def database_writable(db: Database) -> None:
    """A write transaction: proves the file is there, not read-only and not locked for good."""
    async with db.transaction() as conn:
        await conn.execute("PRAGMA user_version")


async def api_reachable(http: httpx.AsyncClient, base_url: str) -> None:
    """Any HTTP answer below 500 means the API is up; no key is sent (401 is expected)."""
    response = await http.get(f"{base_url}/account", timeout=CHECK_TIMEOUT_SECONDS)
    if response.status_code >= 500:
        raise RuntimeError(f"HTTP {response.status_code}")


async def run_checks(checks: dict[str, Check]) -> tuple[bool, dict[str, Any]]:
    async def one(check: Check) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            result: dict[str, Any] = {"ok": False, "error": "timed out"}
        except Exception as exc:
            # The exception's class and message only: never a request with its headers.
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
        else:
            result = {"ok": True}
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        return result

    names = list(checks)
    results = await asyncio.gather(*(one(checks[n]) for n in names))
    report: dict[str, Any] = {"process": {"ok": True}, **dict(zip(names, results, strict=True))}
    return all(r["ok"] for r in report.values()), report


def add_ops_routes(web_app: web.Application, metrics: Metrics, checks: dict[str, Check]) -> None:
    async def healthz(request: web.Request) -> web.Response:
        ok, report = await run_checks(checks)
        return web.json_response(
            {"status": "ok" if ok else "fail", "checks": report}, status=200 if ok else 503
        )

    async def metrics_page(request: web.Request) -> web.Response:
        body = await metrics.render()
        return web.Response(body=body, headers={"Content-Type": metrics.content_type})

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics_page)
