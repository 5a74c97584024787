"""Production run: the webhook, /healthz, /metrics, the log lines and a SIGTERM mid-request.

The flows themselves run in both modes through the harness (tests/conftest.py,
`both_modes`); these tests cover what only production has.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.logs import JsonFormatter, RedactingFilter
from tests.conftest import BotHarness, free_port, webhook_settings
from tests.e2e import run_bot_process, until

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 10


@pytest.fixture
async def webhook_harness(fake_telegram, sandbox, tmp_path):
    bot_harness = BotHarness(fake_telegram, sandbox, tmp_path, mode="webhook")
    await bot_harness.start()
    try:
        yield bot_harness
    finally:
        await bot_harness.stop()


def _base(harness: BotHarness) -> str:
    return f"http://127.0.0.1:{harness.settings.webhook_port}"


def _start_update(user_id: int, update_id: int, text: str = "/start") -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": "Ann", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "Ann"},
            "from": user,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def test_webhook_takes_updates_only_with_the_secret(webhook_harness):
    tg = webhook_harness.tg
    assert tg.webhook_url == webhook_harness.settings.webhook_url
    assert tg.webhook_secret == webhook_harness.settings.webhook_secret
    registered = next(r for r in reversed(tg.requests) if r.name == "setwebhook")
    assert "message" in registered.params["allowed_updates"]
    chat = await webhook_harness.private_chat()
    url = webhook_harness.settings.webhook_url
    secret = webhook_harness.settings.webhook_secret
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong-secret"}):
            async with session.post(
                url, json=_start_update(chat.chat_id, 900_001), headers=headers
            ) as response:
                assert response.status in (401, 403)
        seen = len(tg.requests)
        async with session.post(
            url,
            json=_start_update(chat.chat_id, 900_002),
            headers={"X-Telegram-Bot-Api-Secret-Token": secret},
        ) as response:
            assert response.status == 200
    await chat.wait_for_message("API key", timeout=TIMEOUT)
    # The refused ones changed nothing: one /start, one answer.
    sent = [r for r in tg.requests[seen:] if r.name == "sendmessage"]
    assert len(sent) == 1
    assert webhook_harness.app.metrics.updates.labels("message")._value.get() == 1


async def test_healthz_and_metrics_in_webhook_mode(webhook_harness, caplog):
    caplog.set_level(logging.INFO, logger="bot.updates")
    chat, account = await webhook_harness.linked_chat(Decimal("12.00"))
    await chat.send("/balance")
    await chat.wait_for_message("$12.00", timeout=TIMEOUT)
    async with aiohttp.ClientSession() as session:
        async with session.get(_base(webhook_harness) + "/healthz") as response:
            assert response.status == 200
            health = await response.json()
        async with session.get(_base(webhook_harness) + "/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
    assert health["status"] == "ok"
    assert {"process", "database", "api"} <= health["checks"].keys()
    assert all(check["ok"] for check in health["checks"].values())

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    labels = {}
    for name, label_items in samples:
        labels.setdefault(name, set()).add(tuple(k for k, _ in label_items))
    assert samples[("bot_updates_total", (("type", "message"),))] >= 3
    assert ("type",) in labels["bot_handler_duration_seconds_count"]
    assert ("le", "type") in labels["bot_handler_duration_seconds_bucket"]
    assert samples[
        ("bot_upstream_requests_total", (("endpoint", "GET /account"), ("status", "200")))
    ] >= 2
    assert labels["bot_telegram_requests_total"] == {("method", "outcome")}
    for side in ("telegram", "api"):
        assert ("bot_rate_limited_total", (("side", side),)) in samples
        assert ("bot_retries_total", (("side", side),)) in samples
    for kind in ("order", "extend"):
        assert ("bot_paid_actions_total", (("kind", kind),)) in samples
    for outcome in ("sent", "deferred"):
        assert ("bot_outbox_messages_total", (("kind", "reminder"), ("outcome", outcome))) in (
            samples
        )
    assert ("bot_sender_queue_length", ()) in samples
    # One log line per update, with its fields; no key in any of them.
    lines = [r for r in caplog.records if r.name == "bot.updates"]
    balance = next(r for r in lines if r.handler and "balance" in r.handler)
    assert balance.chat_id == chat.chat_id and balance.update_id > 0
    assert balance.latency_ms >= 0 and balance.update_type == "message"
    assert account.api_key not in caplog.text


async def test_healthz_is_503_when_the_api_is_unreachable(fake_telegram, sandbox, tmp_path):
    harness = BotHarness(
        fake_telegram, sandbox, tmp_path, mode="webhook",
        PROXY_API_URL=f"http://127.0.0.1:{free_port()}/api/v1",
    )
    await harness.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(_base(harness) + "/healthz") as response,
        ):
            assert response.status == 503
            health = await response.json()
    finally:
        await harness.stop()
    assert health["status"] == "fail"
    assert health["checks"]["database"]["ok"] is True
    assert health["checks"]["api"]["ok"] is False and health["checks"]["api"]["error"]


async def test_polling_deletes_the_webhook_and_serves_metrics_on_metrics_port(
    fake_telegram, sandbox, tmp_path
):
    # A webhook left behind by a run in webhook mode: polling would get 409s.
    fake_telegram.webhook_url = "https://old.example/hook"
    port = free_port()
    harness = BotHarness(fake_telegram, sandbox, tmp_path, METRICS_PORT=str(port))
    await harness.start()
    try:
        assert any(r.name == "deletewebhook" for r in fake_telegram.requests)
        chat = await harness.private_chat()
        await chat.send("/start")
        await chat.wait_for_message("API key", timeout=TIMEOUT)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
    finally:
        await harness.stop()
    assert 'bot_updates_total{type="message"} 1.0' in text


def test_json_log_lines_carry_fields_and_no_secrets():
    token = "123456:AAE-secret-token-value"
    key = "pk_live_Zx9Qw8Er7Ty6Ui5Op4As3Df2"
    handler = "handlers.orders.show_order_details_screen"
    redact = RedactingFilter([token, "hook-secret"])
    record = logging.LogRecord(
        "bot.updates", logging.INFO, __file__, 1,
        "update %s with %s via %s and hook-secret by %s", (7, key, token, handler), None,
    )
    record.chat_id, record.update_id, record.handler, record.latency_ms = 42, 7, "h.x", 1.5
    assert redact.filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["chat_id"] == 42 and data["update_id"] == 7
    assert data["handler"] == "h.x" and data["latency_ms"] == 1.5
    assert key not in line and token not in line and "hook-secret" not in line
    assert handler in data["message"]  # module paths stay readable
    try:
        raise RuntimeError(f"failed with {key}")
    except RuntimeError:
        import sys

        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    redact.filter(failing)
    line = JsonFormatter().format(failing)
    assert "\n" not in line and key not in line and "Traceback" in line


async def test_sigterm_during_a_slow_upstream_call_finishes_it_and_exits_0(
    fake_telegram, sandbox, tmp_path
):
    account = sandbox.state.create_account("sigterm@example.com", balance=Decimal("7.00"))
    webhook = webhook_settings()
    process = await run_bot_process(
        tmp_path, BOT_TOKEN=fake_telegram.token, TELEGRAM_API_URL=fake_telegram.base_url,
        PROXY_API_URL=sandbox.base_url, LOG_FORMAT="json", **webhook,
    )
    lines: list[str] = []

    async def read_log() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            lines.append(raw.decode())

    reader = asyncio.create_task(read_log())
    try:
        await fake_telegram.wait_for_request("setWebhook", timeout=60)
        chat = fake_telegram.user(user_id=4343, first_name="Zoe").private_chat()
        await chat.send("/start")
        await chat.wait_for_message("API key", timeout=20)
        await chat.send(account.api_key)
        await chat.wait_for_message("linked", timeout=20)
        held = sandbox.state.add_fault("GET /account", "hold")
        await chat.send("/balance")
        await until(lambda: held.taken == 1, what="the /balance handler at the API")
        process.send_signal(signal.SIGTERM)
        await until(lambda: any("waiting for 1 running handler" in x for x in lines),
                    what="the stop to wait for the running handler", within=20)
        # Taken no more: it waits at Telegram for the next process.
        await chat.send("/help")
        held.release()
        await chat.wait_for_message("$7.00", timeout=20)
        await asyncio.wait_for(process.wait(), timeout=30)
        await reader
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = "".join(lines)
    assert process.returncode == 0, log
    # The update that came during the stop is still queued at Telegram, not lost.
    assert any(
        (u.get("message") or {}).get("text") == "/help" for u in fake_telegram.pending_updates
    )
    entries = [json.loads(line) for line in lines if line.strip()]
    assert entries[-1]["message"] == "stopped"
    handled = [e for e in entries if e["logger"] == "bot.updates"]
    assert handled and all({"chat_id", "update_id", "latency_ms"} <= e.keys() for e in handled)
    for secret in (account.api_key, fake_telegram.token, webhook["WEBHOOK_SECRET"]):
        assert secret not in log


def test_systemd_unit_verifies():
    unit = ROOT / "deploy" / "proxy-shop-bot.service"
    assert unit.is_file()
    text = unit.read_text()
    for needed in ("EnvironmentFile=", "KillSignal=SIGTERM", "User=", "Restart="):
        assert needed in text
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed: the unit was not verified")
    result = subprocess.run(
        [tool, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # verify also complains about things outside the unit (no such user on this machine,
    # ExecStart's binary missing); only errors in the unit file itself fail the test.
    problems = [
        line for line in result.stderr.splitlines()
        if unit.name in line and "Command" not in line and "executable" not in line
        and "not found" not in line.lower()
    ]
    assert not problems, result.stderr


def test_dockerfile_lints():
    dockerfile = ROOT / "Dockerfile"
    text = dockerfile.read_text()
    for needed in ("FROM python:3", "-slim", "USER ", "VOLUME ", "HEALTHCHECK "):
        assert needed in text
    tool = shutil.which("hadolint")
    if tool is None:
        pytest.skip("hadolint not installed: the Dockerfile was not linted")
    result = subprocess.run([tool, str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_setting_is_documented_in_readme_and_env_example():
    from bot.settings import Settings

    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for field in Settings.model_fields.values():
        name = field.alias
        assert f"| `{name}` |" in readme, f"{name} is missing from README's settings table"
        assert f"{name}=" in example, f"{name} is missing from .env.example"


async def test_webhook_past_the_limit_leaves_updates_waiting_at_telegram(
    fake_telegram, sandbox, tmp_path
):
    harness = BotHarness(
        fake_telegram, sandbox, tmp_path, mode="webhook", MAX_CONCURRENT_UPDATES="1"
    )
    await harness.start()
    try:
        chat, _ = await harness.linked_chat(Decimal("6.00"))
        held = sandbox.state.add_fault("GET /account", "hold")
        await chat.send("/balance")
        await until(lambda: held.taken == 1, what="the /balance handler at the API")
        await chat.send("/help")
        webhook = harness.app.webhook
        assert webhook is not None
        # The delivery is open and not acknowledged: the update is still Telegram's.
        await until(lambda: webhook.waiting == 1, what="the second delivery to wait")
        assert any((u.get("message") or {}).get("text") == "/help"
                   for u in fake_telegram.pending_updates)
        held.release()
        await chat.wait_for_message("$6.00", timeout=TIMEOUT)
        await fake_telegram.wait_for(lambda: not fake_telegram.pending_updates, timeout=TIMEOUT)
        await until(lambda: not harness.app.in_flight(), what="both handlers to finish")
    finally:
        await harness.stop()
