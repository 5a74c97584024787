"""The playground's HTTP and SSE endpoints, in-process, without a browser."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from playground.app import Playground


@pytest_asyncio.fixture
async def playground(tmp_path: Path) -> AsyncIterator[Playground]:
    pg = Playground(data_dir=tmp_path / "playground", port=0)
    await pg.start()
    try:
        yield pg
    finally:
        await pg.stop()


async def wait_chat(client: httpx.AsyncClient, pg: Playground, predicate) -> dict:
    """Re-read the chat after every emulator change until `predicate` holds."""
    assert pg.tg is not None

    def ready() -> bool:
        return bool(predicate(pg.chat_json()))

    await pg.tg.wait_for(ready, timeout=10, failure=lambda: str(pg.chat_json()))
    return (await client.get("/api/chat")).json()


async def test_page_and_assets_are_served_locally(playground: Playground) -> None:
    async with httpx.AsyncClient(base_url=playground.url) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert "/static/playground.js" in page.text
        assert "http" not in page.text.replace(playground.url, "").split("<body>")[0].lower()
        for asset in ("/static/playground.js", "/static/playground.css"):
            assert (await client.get(asset)).status_code == 200
        script = (await client.get("/static/playground.js")).text
        assert "innerHTML" not in script.replace("never innerHTML", "")


async def test_start_and_link_the_demo_key(playground: Playground) -> None:
    async with httpx.AsyncClient(base_url=playground.url) as client:
        info = (await client.get("/api/info")).json()
        assert info["api_key"].startswith("pk_")
        assert (await client.post("/api/send", json={"text": "/start"})).json() == {"ok": True}
        chat = await wait_chat(client, playground, lambda c: len(c["messages"]) >= 2)
        welcome = chat["messages"][1]
        assert welcome["from_bot"] and welcome["entities"]
        assert any(b.get("callback_data") == "x:" for row in welcome["buttons"] for b in row)
        await client.post("/api/send", json={"text": info["api_key"]})
        await wait_chat(
            client, playground,
            lambda c: any(
                b.get("callback_data") == "m:buy"
                for m in c["messages"] for row in m["buttons"] for b in row
            ),
        )


async def test_bad_requests_are_refused(playground: Playground) -> None:
    async with httpx.AsyncClient(base_url=playground.url) as client:
        assert (await client.post("/api/send", content=b"{")).status_code == 400
        assert (await client.post("/api/send", json={"text": " "})).status_code == 400
        assert (await client.get("/api/file/nope")).status_code == 404
        missing = await client.post("/api/click", json={"message_id": 99, "data": "x:"})
        assert missing.status_code == 404
        # No order yet: nothing to move towards an expiry.
        assert (await client.post("/api/panel/expiry", json={})).status_code == 400


async def test_events_stream_announces_changes(playground: Playground) -> None:
    async with (
        httpx.AsyncClient(base_url=playground.url, timeout=10) as client,
        client.stream("GET", "/api/events") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert await anext(lines) == "event: change"  # the initial one
        await client.post("/api/send", json={"text": "/start"})
        async with asyncio.timeout(10):
            while await anext(lines) != "event: change":
                pass


async def test_panel_credits_a_deposit_and_injects_a_fault(playground: Playground) -> None:
    assert playground.sandbox is not None and playground.account is not None
    before = playground.account.balance
    async with httpx.AsyncClient(base_url=playground.url) as client:
        credited = await client.post("/api/panel/deposit", json={"amount": "25.00"})
        assert credited.status_code == 200
        assert playground.sandbox.state.accounts[playground.account.id].balance > before
        fault = await client.post("/api/panel/fault", json={})
        assert fault.status_code == 200
        assert playground.sandbox.state.faults


async def test_reset_starts_over(playground: Playground) -> None:
    async with httpx.AsyncClient(base_url=playground.url) as client:
        old_key = (await client.get("/api/info")).json()["api_key"]
        await client.post("/api/send", json={"text": "/start"})
        await wait_chat(client, playground, lambda c: len(c["messages"]) >= 2)
        assert (await client.post("/api/reset", json={})).json() == {"ok": True}
        assert (await client.get("/api/chat")).json()["messages"] == []
        assert (await client.get("/api/info")).json()["api_key"] != old_key


async def test_team_group_views_and_an_unknown_view(playground: Playground) -> None:
    async with httpx.AsyncClient(base_url=playground.url) as client:
        await client.post("/api/send", json={"text": "/start", "view": "group-admin"})
        assert playground.tg is not None
        await playground.tg.wait_for(
            lambda: len(playground.chat_json("group-admin")["messages"]) >= 2,
            timeout=10, failure=lambda: str(playground.chat_json("group-admin")),
        )
        group = (await client.get("/api/chat", params={"view": "group-member"})).json()
        assert group["messages"][0]["from"] == "You"
        private = (await client.get("/api/chat")).json()
        assert private["messages"] == []  # the group's /start stays in the group
        bad = await client.post("/api/send", json={"text": "hi", "view": "nope"})
        assert bad.status_code == 400
        link = await client.post("/api/open-link", json={"url": "https://example.com/x"})
        assert link.status_code == 400
