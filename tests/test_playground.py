"""The playground's HTTP and SSE endpoints, in-process, without a browser."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from playground.app import DEMO_GROUP_ID, STATE_FILE, Playground
from playground.emulator import FakeTelegram
from playground.emulator import snapshot as tg_snapshot
from sandbox import snapshot as sandbox_snapshot
from sandbox.state import SandboxState


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


def shows(fragment: str):
    """A wait_chat predicate: some message (as sent or edited) contains `fragment`."""
    return lambda chat: any(fragment in m["text"] for m in chat["messages"])


async def tap(client: httpx.AsyncClient, pg: Playground, label: str, expect: str) -> dict:
    """Tap the newest inline button labelled `label` exactly, or else containing it."""
    chat = pg.chat_json()
    buttons = [
        (m["id"], b["text"], b["callback_data"])
        for m in chat["messages"] for row in m["buttons"] for b in row
        if b.get("callback_data")
    ]
    found = [(i, d) for i, t, d in buttons if t == label] or [
        (i, d) for i, t, d in buttons if label in t
    ]
    assert found, f"no button {label!r} in {chat}"
    message_id, data = found[-1]
    # A person takes a moment per tap; faster ones would be dropped by the flood limit.
    pg.clock.advance(timedelta(seconds=1))
    answer = await client.post("/api/click", json={"message_id": message_id, "data": data})
    assert answer.status_code == 200
    return await wait_chat(client, pg, shows(expect))


async def link_and_buy(client: httpx.AsyncClient, pg: Playground) -> dict:
    """/start, the demo key, then 10 IPv4 proxies in the United States for a month."""
    key = (await client.get("/api/info")).json()["api_key"]
    await client.post("/api/send", json={"text": "/start"})
    await wait_chat(client, pg, shows("API key"))
    await client.post("/api/send", json={"text": key})
    await wait_chat(client, pg, shows("Key linked"))
    await tap(client, pg, "Buy proxies", "Which proxies")
    await tap(client, pg, "IPv4", "Choose a country")
    await tap(client, pg, "United States", "For how long")
    await tap(client, pg, "1 month", "How many proxies")
    await tap(client, pg, "10 · $24.00", "Your order")  # a preset shows its total
    return await tap(client, pg, "Confirm", "Order placed")


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


# -- state across runs ----------------------------------------------------------------------


async def test_a_second_run_continues_where_the_first_stopped(tmp_path: Path) -> None:
    folder = tmp_path / "playground"
    first = Playground(data_dir=folder, port=0)
    await first.start()
    try:
        assert not first.resumed
        async with httpx.AsyncClient(base_url=first.url) as client:
            key = (await client.get("/api/info")).json()["api_key"]
            await link_and_buy(client, first)
            history = (await client.get("/api/chat")).json()["messages"]
        assert first.sandbox is not None and first.account is not None
        (order,) = first.sandbox.state.orders.values()
        balance = first.account.balance
        assert balance == Decimal("76.00")  # 100 - 10 x $2.40
    finally:
        await first.stop()
    # The state holds the demo key: only its owner may read it.
    for name in (STATE_FILE, "encryption.key", "bot.sqlite3", "."):
        assert (folder / name).stat().st_mode & 0o077 == 0, name

    second = Playground(data_dir=folder, port=0)
    await second.start()
    try:
        assert second.resumed and second.account is not None and second.sandbox is not None
        async with httpx.AsyncClient(base_url=second.url) as client:
            assert (await client.get("/api/info")).json()["api_key"] == key
            # The page shows the same chat, buttons and all.
            assert (await client.get("/api/chat")).json()["messages"] == history
            assert second.sandbox.state.accounts[second.account.id].balance == balance
            # The bot still knows the key (its database) and the sandbox the order.
            await client.post("/api/send", json={"text": "/orders"})
            await wait_chat(client, second, shows(order.id[-6:]))
            await client.post("/api/send", json={"text": "/balance"})
            await wait_chat(client, second, shows("$76.00"))
            # New messages continue the old numbering.
            latest = (await client.get("/api/chat")).json()["messages"]
            assert [m["id"] for m in latest[: len(history)]] == [m["id"] for m in history]
            assert latest[-1]["id"] > history[-1]["id"]
    finally:
        await second.stop()


async def test_reset_starts_over_for_good(tmp_path: Path) -> None:
    folder = tmp_path / "playground"
    pg = Playground(data_dir=folder, port=0)
    await pg.start()
    try:
        async with httpx.AsyncClient(base_url=pg.url) as client:
            old_key = (await client.get("/api/info")).json()["api_key"]
            await client.post("/api/send", json={"text": "/start"})
            await wait_chat(client, pg, shows("API key"))
            await client.post("/api/send", json={"text": old_key})
            await wait_chat(client, pg, shows("Key linked"))
            assert (await client.post("/api/reset", json={})).json() == {"ok": True}
            new_key = (await client.get("/api/info")).json()["api_key"]
            assert new_key != old_key
            assert (await client.get("/api/chat")).json()["messages"] == []
            # The bot's database started over too: /start asks for a key again.
            await client.post("/api/send", json={"text": "/start"})
            await wait_chat(client, pg, shows("API key"))
    finally:
        await pg.stop()

    again = Playground(data_dir=folder, port=0)
    await again.start()
    try:
        assert again.resumed and again.account is not None
        assert again.account.api_key == new_key
        assert again.sandbox is not None and old_key not in {
            a.api_key for a in again.sandbox.state.accounts.values()
        }
    finally:
        await again.stop()


@pytest.mark.parametrize(
    "content",
    [
        b"{\"version\": 1, \"sand",
        b'{"version": 99}',
        b"\xff\xfe",
        b"[]",
        b'{"version": 1, "demo_key": "pk_x", "clock_offset": 0, "sandbox": {"version": 1},'
        b' "telegram": {"version": 1}}',
    ],
    ids=["truncated", "unknown-version", "not-utf8", "not-an-object", "broken-parts"],
)
async def test_an_unreadable_state_starts_fresh_with_one_log_line(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "playground"
    folder.mkdir()
    (folder / STATE_FILE).write_bytes(content)
    (folder / "bot.sqlite3").write_bytes(b"left from the run that wrote it")
    pg = Playground(data_dir=folder, port=0)
    with caplog.at_level(logging.WARNING, logger="playground"):
        await pg.start()
    try:
        assert not pg.resumed
        lines = [r for r in caplog.records if r.name == "playground"]
        assert len(lines) == 1 and "starting over" in lines[0].getMessage()
        async with httpx.AsyncClient(base_url=pg.url) as client:
            assert (await client.get("/api/chat")).json()["messages"] == []
            await client.post("/api/send", json={"text": "/start"})
            await wait_chat(client, pg, shows("API key"))
        # The fresh world replaced the unreadable one on disk.
        saved = json.loads((folder / STATE_FILE).read_text())
        assert pg.account is not None and saved["demo_key"] == pg.account.api_key
    finally:
        await pg.stop()


def test_sandbox_snapshot_round_trip_and_refusals() -> None:
    state = SandboxState(seed=7)
    account = state.create_account("ann@example.com", balance="50.00")
    state.credit_deposit(account.id, "25.00", "USDT_TRC20")
    data = sandbox_snapshot.dump_state(state)
    restored = SandboxState(seed=1)
    sandbox_snapshot.restore_state(restored, json.loads(json.dumps(data)))
    assert sandbox_snapshot.dump_state(restored) == data
    assert restored.account_by_key(account.api_key).balance == Decimal("75.00")
    # The id generator continues: the next ids are the ones the first state would make.
    assert restored._new_id() == state._new_id()

    broken = json.loads(json.dumps(data))
    broken["accounts"][0]["balance"] = "lots"
    for bad in (broken, {**data, "version": 2}, {"version": 1}, None):
        with pytest.raises(sandbox_snapshot.SnapshotError):
            sandbox_snapshot.restore_state(SandboxState(), bad)


def test_emulator_snapshot_round_trip_and_refusals() -> None:
    tg = FakeTelegram()
    ann = tg.user(1, "Ann")
    group = tg.group(-1001, "Team", owner=ann)
    group.member(tg.user(2, "Bob"))
    tg.enqueue_update({"message": {"text": "hi"}})
    data = tg_snapshot.dump(tg)
    restored = FakeTelegram()
    tg_snapshot.restore(restored, json.loads(json.dumps(data)))
    assert tg_snapshot.dump(restored) == data
    assert restored.groups[-1001].status(2) == "member"
    assert restored.enqueue_update({})["update_id"] == tg.enqueue_update({})["update_id"]

    broken = json.loads(json.dumps(data))
    del broken["chats"][0]["id"]
    for bad in (broken, {**data, "version": 2}, {"version": 1}, []):
        fresh = FakeTelegram()
        with pytest.raises(tg_snapshot.SnapshotError):
            tg_snapshot.restore(fresh, bad)
        assert not fresh.chats and not fresh.users  # nothing half-restored


async def test_typing_answers_the_bots_force_reply_prompt_in_the_group(
    playground: Playground,
) -> None:
    """Privacy mode gives the bot only replies to it: the page replies as a Telegram app."""
    pg = playground
    assert pg.tg is not None
    async with httpx.AsyncClient(base_url=pg.url) as client:
        key = (await client.get("/api/info")).json()["api_key"]
        await client.post("/api/send", json={"text": "/start"})
        await wait_chat(client, pg, shows("API key"))
        await client.post("/api/send", json={"text": key})
        await wait_chat(client, pg, shows("Key linked"))
        # The owner links the team's key through the page's deep link.
        await client.post("/api/send", json={"text": "/link", "view": "group-admin"})
        urls = await pg.tg.wait_for(
            lambda: [b["url"] for m in pg.chat_json("group-admin")["messages"]
                     for row in m["buttons"] for b in row if b.get("url")],
            timeout=10, failure=lambda: str(pg.chat_json("group-admin")),
        )
        opened = await client.post("/api/open-link", json={"url": urls[-1], "view": "group-admin"})
        assert opened.json() == {"ok": True, "view": "private"}
        await wait_chat(client, pg, shows("Link a 1001Proxy key"))
        await tap(client, pg, "Use my linked key", "is now linked to")

        await client.post("/api/send", json={"text": "/buy", "view": "group-member"})

        def member_buttons() -> list[str]:
            return [b.get("callback_data", "") for m in pg.chat_json("group-member")["messages"]
                    for row in m["buttons"] for b in row]

        await pg.tg.wait_for(lambda: "b:set:type:ipv4" in member_buttons(), timeout=10,
                             failure=lambda: str(pg.chat_json("group-member")))
        (wizard,) = [m["id"] for m in pg.chat_json("group-member")["messages"]
                     if any(b.get("callback_data") == "b:set:type:ipv4"
                            for row in m["buttons"] for b in row)]
        pg.clock.advance(timedelta(seconds=1))
        await client.post("/api/click", json={
            "view": "group-member", "message_id": wizard, "data": "b:set:type:ipv4"})
        prompt = await pg.tg.wait_for(
            lambda: pg.chat_json("group-member")["reply_to"], timeout=10,
            failure=lambda: str(pg.chat_json("group-member")),
        )
        # Only Mila was asked: the owner typing now would not answer it.
        assert pg.chat_json("group-admin")["reply_to"] is None
        pg.clock.advance(timedelta(seconds=1))
        await client.post("/api/send", json={"text": "Swi", "view": "group-member"})
        await pg.tg.wait_for(
            lambda: "b:set:country:18" in member_buttons()
            and pg.chat_json("group-member")["reply_to"] != prompt,
            timeout=10, failure=lambda: str(pg.chat_json("group-member")),
        )
        (typed,) = [m for m in pg.tg.chats[DEMO_GROUP_ID].messages.values()
                    if m.get("text") == "Swi"]
        assert typed["reply_to_message"]["message_id"] == prompt
