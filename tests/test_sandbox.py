"""The 1001Proxy sandbox, exercised over real HTTP against the spec in docs/1001proxy-api.md."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from sandbox.admin import is_loopback
from sandbox.clock import FakeClock, FakeMonotonic
from sandbox.errors import AdminError, UnknownObjectError
from sandbox.jsonout import dumps, iso_ms
from sandbox.server import SandboxServer
from sandbox.state import SandboxState
from tests.sandbox_fixture import SandboxAccount, sandbox, sandbox_account  # noqa: F401

IPV4 = {"type": "ipv4", "countryId": 1, "periodId": 1, "quantity": 10}
VALID_ORDERS: dict[str, dict[str, Any]] = {
    "ipv4": {"type": "ipv4", "countryId": 1, "periodId": 1, "quantity": 3},
    "ipv6": {"type": "ipv6", "countryId": 1, "periodId": 1, "quantity": 4, "protocol": "SOCKS5"},
    "isp": {"type": "isp", "countryId": 2, "periodId": 2, "quantity": 2},
    "mobile": {
        "type": "mobile",
        "countryId": 1,
        "periodId": 1,
        "quantity": 1,
        "mobileServiceType": "dedicated",
        "operatorId": 1,
        "rotationId": 1,
    },
    "resident": {"type": "resident", "tarifId": 2},
    "mix": {"type": "mix", "countryId": 3, "periodId": 1, "quantity": 5},
    "mix_isp": {"type": "mix_isp", "countryId": 4, "periodId": 3, "quantity": 2},
}
# The spec's "Supported Currencies" table, as the independent source of truth.
SPEC_CURRENCIES = {
    "USDT_TRC20": "TRC-20",
    "USDT_ERC20": "ERC-20",
    "USDT_BEP20": "BEP-20",
    "USDT_SOL": "Solana",
    "USDT_POLYGON": "Polygon",
    "USDT_TON": "TON",
    "USDC_ERC20": "ERC-20",
    "USDC_BEP20": "BEP-20",
    "USDC_SOL": "Solana",
    "USDC_BASE": "Base",
    "DAI_ERC20": "ERC-20",
    "DAI_POLYGON": "Polygon",
    "BTC": "BTC",
    "ETH": "ERC-20",
    "ETH_BASE": "Base",
    "LTC": "LTC",
    "DOGE": "DOGE",
    "BCH": "BCH",
    "XMR": "XMR",
    "XRP": "XRPL",
    "TRX": "TRX",
    "BNB": "BEP-20",
    "SOL": "Solana",
    "POL": "Polygon",
    "TON": "TON",
    "SHIB_ERC20": "ERC-20",
}
B58 = "[1-9A-HJ-NP-Za-km-z]"
BECH32 = "[02-9ac-hj-np-z]"
EVM = r"0x[0-9a-f]{40}"
ADDRESS_PATTERNS = {
    "TRC-20": rf"T{B58}{{33}}",
    "TRX": rf"T{B58}{{33}}",
    "ERC-20": EVM,
    "BEP-20": EVM,
    "Polygon": EVM,
    "Base": EVM,
    "Solana": rf"{B58}{{44}}",
    "TON": r"UQ[A-Za-z0-9_-]{46}",
    "BTC": rf"bc1q{BECH32}{{38}}",
    "LTC": rf"ltc1q{BECH32}{{38}}",
    "DOGE": rf"D{B58}{{33}}",
    "BCH": rf"bitcoincash:q{BECH32}{{41}}",
    "XMR": rf"4[1-9AB]{B58}{{93}}",
    "XRPL": rf"r{B58}{{24,34}}",
}
PROJECT_ROOT = Path(__file__).resolve().parent.parent
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SPEC_ENDPOINTS = [
    ("GET", "/account"),
    ("GET", "/account/transactions"),
    ("POST", "/orders/calc"),
    ("POST", "/orders"),
    ("GET", "/orders"),
    ("GET", "/orders/x"),
    ("GET", "/orders/x/proxies"),
    ("GET", "/orders/x/download"),
    ("POST", "/orders/x/extend"),
    ("GET", "/reference/ipv4"),
    ("GET", "/deposits/addresses"),
    ("POST", "/deposits/addresses"),
]


# ----------------------------------------------------------------------------- helpers


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# Built once and shared: httpx loads the CA bundle for every client otherwise (~30 ms each),
# which would dominate this file's run time although every request here is plain HTTP.
_TLS = ssl.create_default_context()


def http_client(base_url: str, api_key: str | None = None) -> httpx.AsyncClient:
    headers = bearer(api_key) if api_key else None
    return httpx.AsyncClient(base_url=base_url, headers=headers, verify=_TLS)


def ok_data(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True
    assert set(body) == {"success", "data"}, "meta belongs to list endpoints only"
    return body["data"]


def ok_page(resp: httpx.Response) -> tuple[list[Any], dict[str, int]]:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"success", "data", "meta"}
    assert body["success"] is True
    assert set(body["meta"]) == {"page", "perPage", "total", "totalPages"}
    return body["data"], body["meta"]


def error_of(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error


def money_of(value: Any) -> Decimal:
    return Decimal(str(value))


async def balance_of(client: httpx.AsyncClient) -> str:
    return ok_data(await client.get("/account"))["balance"]


async def create_order(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> str:
    data = ok_data(await client.post("/orders", json=body, headers=headers))
    return data["orderId"]


@pytest_asyncio.fixture
async def client(
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(sandbox.base_url, sandbox_account.api_key) as http:
        yield http


@pytest_asyncio.fixture
async def admin(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    async with http_client(sandbox.admin_url) as http:
        yield http


class Clocked:
    """A sandbox on a FakeClock with one funded account and a client for it."""

    def __init__(self, server: SandboxServer, clock: FakeClock, client: httpx.AsyncClient):
        self.server = server
        self.clock = clock
        self.client = client


@pytest_asyncio.fixture
async def clocked() -> AsyncIterator[Clocked]:
    clock = FakeClock()
    async with SandboxServer(SandboxState(clock=clock)) as server:
        account = server.state.create_account("clock@example.com", balance=Decimal("500.00"))
        async with http_client(server.base_url, account.api_key) as http:
            yield Clocked(server, clock, http)


# ------------------------------------------------------------------ account and auth


async def test_account_profile_and_envelope(
    client: httpx.AsyncClient,
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    resp = await client.get("/account")
    data = ok_data(resp)
    assert data["id"] == sandbox_account.id
    assert data["email"] == sandbox_account.email
    assert data["name"] is None
    assert data["balance"] == "100.00"
    assert '"balance": "100.00"' in resp.text
    assert data["apiKey"] == "*" * 20 + sandbox_account.api_key[-8:]
    assert TIMESTAMP.match(data["createdAt"])
    assert sandbox_account.api_key.startswith("pk_live_")
    assert len(sandbox_account.api_key) == len("pk_live_") + 32


@pytest.mark.parametrize(
    "header",
    [None, "", "Token abc", "Bearer", "Basic dXNlcjpwYXNz", "Bearer a b", "pk_live_abc"],
)
async def test_missing_or_malformed_authorization(
    sandbox: SandboxServer,  # noqa: F811
    header: str | None,
) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with http_client(sandbox.base_url) as http:
        resp = await http.get("/account", headers=headers)
    error_of(resp, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(("method", "path"), SPEC_ENDPOINTS)
async def test_every_endpoint_requires_auth(
    sandbox: SandboxServer,  # noqa: F811
    method: str,
    path: str,
) -> None:
    async with http_client(sandbox.base_url) as http:
        resp = await http.request(method, path, json={} if method == "POST" else None)
    error_of(resp, 401, "UNAUTHORIZED")
    endpoint = method + " " + re.sub(r"/x\b", "/{id}", path).replace("/ipv4", "/{type}")
    assert sandbox.state.request_counts == {endpoint: 1}


async def test_unknown_key_banned_and_unverified(sandbox: SandboxServer) -> None:  # noqa: F811
    state = sandbox.state
    banned = state.create_account("banned@example.com", banned=True)
    unverified = state.create_account("new@example.com", verified=False)
    async with http_client(sandbox.base_url) as http:
        error_of(await http.get("/account", headers=bearer("pk_live_nope")), 401, "INVALID_API_KEY")
        error_of(await http.get("/account", headers=bearer(banned.api_key)), 403, "BANNED")
        error_of(await http.get("/orders", headers=bearer(unverified.api_key)), 403, "UNVERIFIED")


async def test_unknown_route_and_method_use_the_envelope(client: httpx.AsyncClient) -> None:
    error_of(await client.get("/nothing/here"), 404, "NOT_FOUND")
    error_of(await client.delete("/account"), 404, "NOT_FOUND")


# ---------------------------------------------------------------------- reference data


@pytest.mark.parametrize("proxy_type", list(VALID_ORDERS))
async def test_reference_shape_per_type(client: httpx.AsyncClient, proxy_type: str) -> None:
    resp = await client.get(f"/reference/{proxy_type}")
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    data = ok_data(resp)
    if proxy_type == "resident":
        assert set(data) == {"tarifs"}
        assert [t["traffic"] for t in data["tarifs"]][:3] == [1, 5, 10]
        assert all(set(t) == {"id", "name", "price", "traffic"} for t in data["tarifs"])
        return
    expected = {"countries", "periods"} | (
        {"operators", "rotations"} if proxy_type == "mobile" else set()
    )
    assert set(data) == expected
    assert len(data["countries"]) >= 5
    assert all({"id", "name"} <= set(c) for c in data["countries"])
    assert {"id": 1, "name": "1 Week", "days": 7} in data["periods"]
    if proxy_type == "mobile":
        assert {"id": 1, "name": "On demand"} in data["rotations"]
        assert {"id": 2, "name": "Every 5 min"} in data["rotations"]
        assert all(set(o) == {"id", "name"} for o in data["operators"])


async def test_reference_ipv4_has_many_countries(client: httpx.AsyncClient) -> None:
    data = ok_data(await client.get("/reference/ipv4"))
    names = [c["name"] for c in data["countries"]]
    assert len(names) >= 25
    for name in ("United States", "United Kingdom", "Germany", "Netherlands", "France"):
        assert name in names
    assert data["countries"][0] == {"id": 1, "name": "United States", "code": "US"}
    assert [p["days"] for p in data["periods"]][:3] == [7, 30, 90]


async def test_reference_money_and_bad_type(client: httpx.AsyncClient) -> None:
    resp = await client.get("/reference/resident")
    # Per GB, as the spec says: the 1 GB package at 3.50, the 5 GB one at 16.00.
    assert '"price": 3.50' in resp.text
    assert '"price": 3.20' in resp.text
    error_of(await client.get("/reference/socks"), 400, "INVALID_TYPE")


# ------------------------------------------------------------------------------ quotes


async def test_calc_matches_spec_example(client: httpx.AsyncClient) -> None:
    resp = await client.post("/orders/calc", json=IPV4)
    assert ok_data(resp) == {
        "type": "ipv4",
        "quantity": 10,
        "price": 12.5,
        "unitPrice": 1.25,
        "currency": "USD",
    }
    assert '"price": 12.50' in resp.text
    assert '"unitPrice": 1.25' in resp.text


@pytest.mark.parametrize("proxy_type", list(VALID_ORDERS))
async def test_calc_every_type(client: httpx.AsyncClient, proxy_type: str) -> None:
    body = VALID_ORDERS[proxy_type]
    data = ok_data(await client.post("/orders/calc", json=body))
    assert data["type"] == proxy_type
    assert data["currency"] == "USD"
    price, unit = money_of(data["price"]), money_of(data["unitPrice"])
    assert price > 0
    if proxy_type == "resident":
        assert data["quantity"] == 5  # the 5 GB package
    else:
        assert data["quantity"] == body["quantity"]
    assert price == unit * data["quantity"]


async def test_calc_mobile_dedicated_costs_more_and_resident_is_tarif_price(
    client: httpx.AsyncClient,
) -> None:
    dedicated = ok_data(await client.post("/orders/calc", json=VALID_ORDERS["mobile"]))
    shared_body = {**VALID_ORDERS["mobile"], "mobileServiceType": "shared"}
    shared = ok_data(await client.post("/orders/calc", json=shared_body))
    assert money_of(dedicated["price"]) > money_of(shared["price"])
    tarifs = ok_data(await client.get("/reference/resident"))["tarifs"]
    for tarif in tarifs:
        quote = ok_data(
            await client.post("/orders/calc", json={"type": "resident", "tarifId": tarif["id"]})
        )
        assert quote["unitPrice"] == tarif["price"]  # per GB
        assert money_of(quote["price"]) == money_of(tarif["price"]) * tarif["traffic"]
        assert quote["quantity"] == tarif["traffic"]


@pytest.mark.parametrize(
    ("coupon", "price"),
    [("SAVE10", "11.25"), ("welcome5", "11.88"), ("", "12.50"), (None, "12.50")],
)
async def test_calc_coupons_round_half_up(
    client: httpx.AsyncClient, coupon: str | None, price: str
) -> None:
    resp = await client.post("/orders/calc", json={**IPV4, "coupon": coupon})
    assert f'"price": {price}' in resp.text
    assert ok_data(resp)["unitPrice"] == 1.25


@pytest.mark.parametrize(
    ("coupon", "reason"), [("NOPE", "unknown coupon"), ("SPRING2024", "coupon has expired")]
)
async def test_calc_bad_coupon(client: httpx.AsyncClient, coupon: str, reason: str) -> None:
    error = error_of(
        await client.post("/orders/calc", json={**IPV4, "coupon": coupon}), 400, "VALIDATION_ERROR"
    )
    assert error["details"] == {"coupon": reason}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"type": "ipv4"}, {"countryId", "periodId", "quantity"}),
        ({**IPV4, "quantity": 0}, {"quantity"}),
        ({**IPV4, "quantity": 1001}, {"quantity"}),
        ({**IPV4, "quantity": "5"}, {"quantity"}),
        ({**IPV4, "quantity": 2.5}, {"quantity"}),
        ({**IPV4, "quantity": True}, {"quantity"}),
        ({**IPV4, "countryId": 999, "periodId": 99}, {"countryId", "periodId"}),
        ({**IPV4, "protocol": "http"}, {"protocol"}),
        ({"type": "ipv6", "countryId": 1, "periodId": 1, "quantity": 1}, {"protocol"}),
        ({**VALID_ORDERS["ipv6"], "protocol": "https"}, {"protocol"}),
        ({**VALID_ORDERS["isp"], "periodId": 5}, {"periodId"}),
        ({**VALID_ORDERS["mobile"], "countryId": 26}, {"countryId"}),
        (
            {"type": "mobile", "countryId": 1, "periodId": 1, "quantity": 1},
            {"mobileServiceType", "operatorId", "rotationId"},
        ),
        ({**VALID_ORDERS["mobile"], "mobileServiceType": "private"}, {"mobileServiceType"}),
        (
            {**VALID_ORDERS["mobile"], "operatorId": 77, "rotationId": 0},
            {"operatorId", "rotationId"},
        ),
        ({"type": "resident"}, {"tarifId"}),
        ({"type": "resident", "tarifId": 99}, {"tarifId"}),
        ({"type": "resident", "tarifId": 1, "coupon": 5}, {"coupon"}),
        ({"countryId": 1}, {"type"}),
        ([IPV4], {"body"}),
    ],
)
async def test_calc_validation_names_bad_fields(
    client: httpx.AsyncClient, body: Any, fields: set[str]
) -> None:
    error = error_of(await client.post("/orders/calc", json=body), 400, "VALIDATION_ERROR")
    assert set(error["details"]) == fields
    for field in fields:
        assert field in error["message"]


async def test_calc_invalid_type_and_bad_json(client: httpx.AsyncClient) -> None:
    error = error_of(
        await client.post("/orders/calc", json={**IPV4, "type": "ipv5"}), 400, "INVALID_TYPE"
    )
    assert set(error["details"]) == {"type"}
    resp = await client.post(
        "/orders/calc", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert error_of(resp, 400, "VALIDATION_ERROR")["details"] == {"body": "must be valid JSON"}
    error_of(await client.post("/orders/calc"), 400, "VALIDATION_ERROR")


# ------------------------------------------------------------------------------ orders


async def test_create_order_debits_and_records(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    body = {**IPV4, "quantity": 5}
    resp = await client.post("/orders", json=body)
    data = ok_data(resp)
    assert data["ok"] is True
    assert '"charged": 6.25' in resp.text
    assert data["upstreamOrderId"].isdigit()
    assert await balance_of(client) == "93.75"

    orders = sandbox.state.orders_of(sandbox_account.id)
    assert [o.id for o in orders] == [data["orderId"]]
    proxies = orders[0].proxies
    assert len(proxies) == 5
    assert len({p.ip for p in proxies}) == 5
    for proxy in proxies:
        assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", proxy.ip)
        assert not proxy.ip.startswith(("10.", "127.", "192.168.", "192.0.2.", "203.0.113."))
        assert proxy.port_https > 0 and proxy.port_socks5 > 0
        assert proxy.login and proxy.password

    txs, _ = ok_page(await client.get("/account/transactions"))
    assert len(txs) == 1
    assert txs[0]["type"] == "purchase"
    assert txs[0]["amount"] == -6.25
    assert txs[0]["description"] == f"Order {data['orderId']} (ipv4)"
    assert txs[0]["paymentMethod"] == "balance"
    assert txs[0]["status"] == "completed"
    assert len(sandbox.state.transactions_of(sandbox_account.id)) == 1


@pytest.mark.parametrize("proxy_type", list(VALID_ORDERS))
async def test_create_order_every_type(client: httpx.AsyncClient, proxy_type: str) -> None:
    body = VALID_ORDERS[proxy_type]
    quote = ok_data(await client.post("/orders/calc", json=body))
    order_id = await create_order(client, body)
    detail = ok_data(await client.get(f"/orders/{order_id}"))
    assert detail["status"] == "active"
    assert detail["chargedAmount"] == quote["price"]
    assert detail["quantity"] == quote["quantity"]
    proxies = ok_data(await client.get(f"/orders/{order_id}/proxies"))
    assert detail["proxyCount"] == len(proxies)
    if proxy_type == "resident":
        assert len(proxies) == 1
        assert detail["expiresAt"] is None
        assert detail["countryId"] is None and detail["periodId"] is None
        assert proxies[0]["country"] is None and proxies[0]["expiresAt"] is None
    else:
        assert len(proxies) == body["quantity"]
        assert detail["countryId"] == body["countryId"]
        assert detail["periodId"] == body["periodId"]
    if proxy_type == "ipv6":
        assert detail["protocol"] == "socks5"
    if proxy_type == "mobile":
        assert detail["mobileServiceType"] == "dedicated"


async def test_insufficient_funds(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    body = {**IPV4, "periodId": 5, "quantity": 5}  # 5 x 21.90 = 109.50
    error = error_of(await client.post("/orders", json=body), 402, "INSUFFICIENT_FUNDS")
    assert error["details"] == {"required": "109.50", "available": "100.00"}
    assert await balance_of(client) == "100.00"
    assert sandbox.state.orders_of(sandbox_account.id) == []
    assert sandbox.state.transactions_of(sandbox_account.id) == []


async def test_idempotency_key_replays_first_response(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    first = await client.post("/orders", json=IPV4, headers={"Idempotency-Key": "k-1"})
    second = await client.post("/orders", json=IPV4, headers={"Idempotency-Key": "k-1"})
    # A different body under the same key still gets the cached answer.
    third = await client.post(
        "/orders", json={**IPV4, "quantity": 1}, headers={"Idempotency-Key": "k-1"}
    )
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.text == second.text == third.text
    assert len(sandbox.state.orders_of(sandbox_account.id)) == 1
    assert await balance_of(client) == "87.50"
    other = await client.post("/orders", json=IPV4, headers={"Idempotency-Key": "k-2"})
    assert ok_data(other)["orderId"] != ok_data(first)["orderId"]
    assert await balance_of(client) == "75.00"


async def test_idempotency_under_concurrency(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    responses = await asyncio.gather(
        *(client.post("/orders", json=IPV4, headers={"Idempotency-Key": "same"}) for _ in range(5))
    )
    assert {r.text for r in responses} == {responses[0].text}
    assert len(sandbox.state.orders_of(sandbox_account.id)) == 1
    assert await balance_of(client) == "87.50"


async def test_concurrent_orders_never_overdraw(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    body = {**IPV4, "periodId": 5, "quantity": 2}  # 43.80 each, so only two fit in 100.00
    responses = await asyncio.gather(*(client.post("/orders", json=body) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [200, 200, 402, 402]
    assert await balance_of(client) == "12.40"


async def test_idempotency_does_not_cache_rejections(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    big = {**IPV4, "periodId": 5, "quantity": 5}
    key = {"Idempotency-Key": "retry-me"}
    error_of(await client.post("/orders", json=big, headers=key), 402, "INSUFFICIENT_FUNDS")
    error_of(
        await client.post("/orders", json={**big, "countryId": 0}, headers=key),
        400,
        "VALIDATION_ERROR",
    )
    sandbox.state.credit_deposit(sandbox_account.id, Decimal("10.00"), "USDT_TRC20")
    ok_data(await client.post("/orders", json=big, headers=key))
    assert await balance_of(client) == "0.50"


async def test_upstream_error_refunds_and_is_replayed(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    sandbox.state.add_fault("POST /orders", "upstream_error")
    key = {"Idempotency-Key": "flaky"}
    resp = await client.post("/orders", json=IPV4, headers=key)
    error = error_of(resp, 502, "UPSTREAM_ERROR")
    assert error["details"] == {"refunded": True}
    assert await balance_of(client) == "100.00"
    assert sandbox.state.orders_of(sandbox_account.id) == []
    txs, meta = ok_page(await client.get("/account/transactions"))
    assert [(t["type"], t["amount"]) for t in txs] == [("refund", 12.5), ("purchase", -12.5)]
    assert meta["total"] == 2

    replay = await client.post("/orders", json=IPV4, headers=key)
    assert replay.status_code == 502 and replay.text == resp.text
    assert len(sandbox.state.transactions_of(sandbox_account.id)) == 2
    # The fault was used up: a fresh key goes through.
    ok_data(await client.post("/orders", json=IPV4))
    assert await balance_of(client) == "87.50"


async def test_pending_order_is_not_provisioned_until_admin_provisions_it(
    client: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
) -> None:
    sandbox.state.add_fault("POST /orders", "pending")
    order_id = await create_order(client, IPV4)
    detail = ok_data(await client.get(f"/orders/{order_id}"))
    assert (detail["status"], detail["proxyCount"], detail["expiresAt"]) == ("pending", 0, None)
    assert await balance_of(client) == "87.50"
    error_of(await client.get(f"/orders/{order_id}/proxies"), 409, "NOT_PROVISIONED")
    error_of(await client.get(f"/orders/{order_id}/download"), 409, "NOT_PROVISIONED")
    error_of(
        await client.post(f"/orders/{order_id}/extend", json={"periodId": 1}),
        409,
        "NOT_PROVISIONED",
    )
    pending, _ = ok_page(await client.get("/orders", params={"status": "pending"}))
    assert [o["id"] for o in pending] == [order_id]

    resp = await admin.patch(f"/orders/{order_id}", json={"status": "active"})
    assert resp.status_code == 200 and len(resp.json()["proxies"]) == 10
    detail = ok_data(await client.get(f"/orders/{order_id}"))
    assert (detail["status"], detail["proxyCount"]) == ("active", 10)
    assert len(ok_data(await client.get(f"/orders/{order_id}/proxies"))) == 10


async def test_orders_list_order_filters_and_pagination(client: httpx.AsyncClient) -> None:
    ids = [await create_order(client, VALID_ORDERS[t]) for t in ("ipv4", "isp", "ipv4")]
    data, meta = ok_page(await client.get("/orders"))
    assert [o["id"] for o in data] == ids[::-1]
    assert meta == {"page": 1, "perPage": 20, "total": 3, "totalPages": 1}
    assert set(data[0]) == {
        "id",
        "type",
        "status",
        "quantity",
        "chargedAmount",
        "currency",
        "countryId",
        "protocol",
        "expiresAt",
        "createdAt",
        "proxyCount",
    }
    assert TIMESTAMP.match(data[0]["expiresAt"]) and TIMESTAMP.match(data[0]["createdAt"])

    data, meta = ok_page(await client.get("/orders", params={"type": "ipv4", "status": "active"}))
    assert [o["id"] for o in data] == [ids[2], ids[0]]
    data, _ = ok_page(await client.get("/orders", params={"status": "expired"}))
    assert data == []

    data, meta = ok_page(await client.get("/orders", params={"per_page": 2}))
    assert len(data) == 2 and meta == {"page": 1, "perPage": 2, "total": 3, "totalPages": 2}
    data, meta = ok_page(await client.get("/orders", params={"per_page": 2, "page": 2}))
    assert [o["id"] for o in data] == [ids[0]] and meta["page"] == 2
    data, meta = ok_page(await client.get("/orders", params={"page": 9}))
    assert data == [] and meta["total"] == 3
    _, meta = ok_page(await client.get("/orders", params={"per_page": 500}))
    assert meta["perPage"] == 100


@pytest.mark.parametrize(
    ("path", "params", "status", "code", "field"),
    [
        ("/orders", {"per_page": "abc"}, 400, "VALIDATION_ERROR", "per_page"),
        ("/orders", {"per_page": "0"}, 400, "VALIDATION_ERROR", "per_page"),
        ("/orders", {"page": "0"}, 400, "VALIDATION_ERROR", "page"),
        ("/orders", {"page": "-1"}, 400, "VALIDATION_ERROR", "page"),
        ("/orders", {"status": "done"}, 400, "INVALID_TYPE", "status"),
        ("/orders", {"type": "socks"}, 400, "INVALID_TYPE", "type"),
        ("/account/transactions", {"page": "x"}, 400, "VALIDATION_ERROR", "page"),
        ("/account/transactions", {"type": "bonus"}, 400, "INVALID_TYPE", "type"),
    ],
)
async def test_list_parameter_errors(
    client: httpx.AsyncClient,
    path: str,
    params: dict[str, str],
    status: int,
    code: str,
    field: str,
) -> None:
    error = error_of(await client.get(path, params=params), status, code)
    assert set(error["details"]) == {field}


async def test_empty_list_meta(client: httpx.AsyncClient) -> None:
    data, meta = ok_page(await client.get("/orders"))
    assert data == [] and meta == {"page": 1, "perPage": 20, "total": 0, "totalPages": 0}


async def test_order_detail_and_ownership(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
) -> None:
    order_id = await create_order(client, {**IPV4, "quantity": 5})
    resp = await client.get(f"/orders/{order_id}")
    data = ok_data(resp)
    assert list(data) == [
        "id",
        "type",
        "status",
        "quantity",
        "chargedAmount",
        "currency",
        "countryId",
        "periodId",
        "protocol",
        "mobileServiceType",
        "expiresAt",
        "createdAt",
        "updatedAt",
        "proxyCount",
    ]
    assert '"chargedAmount": 6.25' in resp.text
    assert data["protocol"] == "https" and data["mobileServiceType"] is None
    assert data["currency"] == "USD" and data["proxyCount"] == 5
    error_of(await client.get("/orders/cm_missing"), 404, "NOT_FOUND")

    stranger = sandbox.state.create_account("stranger@example.com")
    async with http_client(sandbox.base_url, stranger.api_key) as s:
        for method, suffix in [("GET", ""), ("GET", "/proxies"), ("GET", "/download")]:
            error_of(await s.request(method, f"/orders/{order_id}{suffix}"), 404, "NOT_FOUND")
        error_of(await s.post(f"/orders/{order_id}/extend", json={"periodId": 1}), 404, "NOT_FOUND")
        _, meta = ok_page(await s.get("/orders"))
        assert meta["total"] == 0


async def test_proxies_and_download_formats(client: httpx.AsyncClient) -> None:
    order_id = await create_order(client, {**IPV4, "quantity": 3})
    proxies = ok_data(await client.get(f"/orders/{order_id}/proxies"))
    expires = ok_data(await client.get(f"/orders/{order_id}"))["expiresAt"]
    for proxy in proxies:
        assert set(proxy) == {
            "ip",
            "portHttps",
            "portSocks5",
            "login",
            "password",
            "country",
            "expiresAt",
        }
        assert proxy["country"] == "US"
        assert proxy["expiresAt"] == expires[:10]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", proxy["expiresAt"])

    for fmt in ("ip:port", "user:pass@ip:port"):
        for protocol, port_field in (("https", "portHttps"), ("socks5", "portSocks5")):
            resp = await client.get(
                f"/orders/{order_id}/download", params={"format": fmt, "protocol": protocol}
            )
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/plain")
            assert resp.headers["content-disposition"] == f'attachment; filename="{order_id}.txt"'
            expected = [f"{p['ip']}:{p[port_field]}" for p in proxies]
            if fmt != "ip:port":
                expected = [
                    f"{p['login']}:{p['password']}@{line}"
                    for p, line in zip(proxies, expected, strict=True)
                ]
            assert resp.text == "\n".join(expected)

    default = await client.get(f"/orders/{order_id}/download")
    assert default.text == "\n".join(f"{p['ip']}:{p['portHttps']}" for p in proxies)
    for params, field in [({"format": "csv"}, "format"), ({"protocol": "http"}, "protocol")]:
        error = error_of(
            await client.get(f"/orders/{order_id}/download", params=params),
            400,
            "VALIDATION_ERROR",
        )
        assert set(error["details"]) == {field}


# ----------------------------------------------------------------------- time & extend


async def test_order_expiry_and_derived_expired_status(clocked: Clocked) -> None:
    client, clock = clocked.client, clocked.clock
    order_id = await create_order(client, {**IPV4, "periodId": 2})
    detail = ok_data(await client.get(f"/orders/{order_id}"))
    assert detail["createdAt"] == "2025-03-10T12:00:00.000Z"
    assert detail["expiresAt"] == "2025-04-09T12:00:00.000Z"
    clock.advance(days=30)
    assert ok_data(await client.get(f"/orders/{order_id}"))["status"] == "expired"
    expired, _ = ok_page(await client.get("/orders", params={"status": "expired"}))
    assert [o["id"] for o in expired] == [order_id]
    proxies = ok_data(await client.get(f"/orders/{order_id}/proxies"))
    assert proxies[0]["expiresAt"] == "2025-04-09"


async def test_extend_moves_expiry_and_charges(clocked: Clocked) -> None:
    client, clock = clocked.client, clocked.clock
    order_id = await create_order(client, {**IPV4, "quantity": 5})  # 6.25
    clock.advance(hours=1)
    resp = await client.post(f"/orders/{order_id}/extend", json={"periodId": 2})
    assert ok_data(resp) == {"ok": True, "charged": 12.0}
    assert '"charged": 12.00' in resp.text
    detail = ok_data(await client.get(f"/orders/{order_id}"))
    assert detail["expiresAt"] == "2025-04-16T12:00:00.000Z"  # 7 + 30 days after creation
    assert detail["updatedAt"] == "2025-03-10T13:00:00.000Z"
    assert detail["chargedAmount"] == 6.25
    assert await balance_of(client) == "481.75"
    txs, _ = ok_page(await client.get("/account/transactions", params={"type": "purchase"}))
    assert txs[0]["amount"] == -12.0
    assert txs[0]["description"].startswith(f"Extension of order {order_id}")
    proxies = ok_data(await client.get(f"/orders/{order_id}/proxies"))
    assert {p["expiresAt"] for p in proxies} == {"2025-04-16"}


async def test_extend_expired_order_starts_from_now(clocked: Clocked) -> None:
    client, clock = clocked.client, clocked.clock
    order_id = await create_order(client, IPV4)
    clock.advance(days=20)
    assert ok_data(await client.get(f"/orders/{order_id}"))["status"] == "expired"
    ok_data(await client.post(f"/orders/{order_id}/extend", json={"periodId": 1}))
    detail = ok_data(await client.get(f"/orders/{order_id}"))
    assert detail["status"] == "active"
    assert detail["expiresAt"] == "2025-04-06T12:00:00.000Z"  # day 20 + 7


async def test_extend_selected_proxies(clocked: Clocked) -> None:
    client = clocked.client
    order_id = await create_order(client, {**IPV4, "quantity": 3})
    proxies = ok_data(await client.get(f"/orders/{order_id}/proxies"))
    chosen = [proxies[0]["ip"]]
    resp = await client.post(f"/orders/{order_id}/extend", json={"periodId": 1, "proxyIds": chosen})
    assert ok_data(resp)["charged"] == 1.25
    after = ok_data(await client.get(f"/orders/{order_id}/proxies"))
    assert [p["expiresAt"] for p in after] == ["2025-03-24", "2025-03-17", "2025-03-17"]
    assert ok_data(await client.get(f"/orders/{order_id}"))["expiresAt"].startswith("2025-03-24")
    for ids, reason in [([], "no proxies to extend"), (["1.2.3.4"], "unknown proxies: 1.2.3.4")]:
        error = error_of(
            await client.post(f"/orders/{order_id}/extend", json={"periodId": 1, "proxyIds": ids}),
            400,
            "VALIDATION_ERROR",
        )
        assert error["details"] == {"proxyIds": reason}


async def test_extend_errors(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    order_id = await create_order(client, {**IPV4, "quantity": 10})  # balance 87.50
    for body, field in [
        ({}, "periodId"),
        ({"periodId": "2"}, "periodId"),
        ({"periodId": 9}, "periodId"),
    ]:
        error = error_of(
            await client.post(f"/orders/{order_id}/extend", json=body), 400, "VALIDATION_ERROR"
        )
        assert set(error["details"]) == {field}
    error_of(await client.post("/orders/nope/extend", json={"periodId": 1}), 404, "NOT_FOUND")

    error = error_of(
        await client.post(f"/orders/{order_id}/extend", json={"periodId": 5}),  # 219.00
        402,
        "INSUFFICIENT_FUNDS",
    )
    assert error["details"] == {"required": "219.00", "available": "87.50"}

    before = ok_data(await client.get(f"/orders/{order_id}"))["expiresAt"]
    sandbox.state.add_fault("POST /orders/:id/extend", "upstream_error")
    error = error_of(
        await client.post(f"/orders/{order_id}/extend", json={"periodId": 1}),
        502,
        "UPSTREAM_ERROR",
    )
    assert error["details"] == {"refunded": True}
    assert await balance_of(client) == "87.50"
    assert ok_data(await client.get(f"/orders/{order_id}"))["expiresAt"] == before
    kinds = [t.type for t in sandbox.state.transactions_of(sandbox_account.id)]
    assert kinds == ["refund", "purchase", "purchase"]

    resident_id = await create_order(client, VALID_ORDERS["resident"])
    error = error_of(
        await client.post(f"/orders/{resident_id}/extend", json={"periodId": 1}),
        400,
        "VALIDATION_ERROR",
    )
    assert "not extendable" in error["details"]["type"]

    sandbox.state.set_order(order_id, status="canceled")
    error_of(
        await client.post(f"/orders/{order_id}/extend", json={"periodId": 1}),
        400,
        "VALIDATION_ERROR",
    )


# ------------------------------------------------------------------------ transactions


async def test_transactions_list_and_filter(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    sandbox.state.credit_deposit(sandbox_account.id, Decimal("50"), "BTC")
    await create_order(client, {**IPV4, "quantity": 7})  # 8.75
    resp = await client.get("/account/transactions")
    txs, meta = ok_page(resp)
    assert meta == {"page": 1, "perPage": 20, "total": 2, "totalPages": 1}
    assert [t["type"] for t in txs] == ["purchase", "deposit"]
    assert '"amount": -8.75' in resp.text and '"amount": 50.00' in resp.text
    deposit = txs[1]
    assert deposit["description"] == "Crypto deposit (BTC)"
    assert deposit["paymentMethod"] == "oxapay" and deposit["status"] == "completed"
    assert set(deposit) == {
        "id",
        "type",
        "amount",
        "description",
        "paymentMethod",
        "status",
        "createdAt",
    }
    assert TIMESTAMP.match(deposit["createdAt"])
    only, meta = ok_page(await client.get("/account/transactions", params={"type": "deposit"}))
    assert [t["id"] for t in only] == [deposit["id"]] and meta["total"] == 1
    assert await balance_of(client) == "141.25"


# ---------------------------------------------------------------------------- deposits


async def test_deposit_addresses_listing(client: httpx.AsyncClient) -> None:
    data = ok_data(await client.get("/deposits/addresses"))
    assert [(d["currency"], d["network"]) for d in data] == list(SPEC_CURRENCIES.items())
    assert all(d["address"] is None for d in data)


async def test_generate_every_currency(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
) -> None:
    sandbox.state.configure_rate_limits(enabled=False)  # 53 address requests exceed 30/min
    addresses = {}
    for currency, network in SPEC_CURRENCIES.items():
        resp = await client.post("/deposits/addresses", json={"currency": currency})
        data = ok_data(resp)
        assert data["currency"] == currency and data["network"] == network
        assert re.fullmatch(ADDRESS_PATTERNS[network], data["address"]), data
        again = ok_data(await client.post("/deposits/addresses", json={"currency": currency}))
        assert again == data
        addresses[currency] = data["address"]
    assert len(set(addresses.values())) == 26
    listed = ok_data(await client.get("/deposits/addresses"))
    assert {d["currency"]: d["address"] for d in listed} == addresses

    other = sandbox.state.create_account("other@example.com")
    async with http_client(sandbox.base_url, other.api_key) as o:
        theirs = ok_data(await o.post("/deposits/addresses", json={"currency": "BTC"}))
    assert theirs["address"] != addresses["BTC"]


async def test_deposit_address_errors(client: httpx.AsyncClient) -> None:
    for currency in ("DOGGO", "btc"):
        error = error_of(
            await client.post("/deposits/addresses", json={"currency": currency}),
            400,
            "INVALID_CURRENCY",
        )
        assert set(error["details"]) == {"currency"}
    for body in ({}, {"currency": 5}, ["BTC"]):
        error_of(await client.post("/deposits/addresses", json=body), 400, "VALIDATION_ERROR")


# -------------------------------------------------------------------------- rate limits


async def test_general_rate_limit(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
) -> None:
    sandbox.state.configure_rate_limits(general=2)
    ok_data(await client.get("/account"))
    ok_data(await client.get("/reference/ipv4"))
    resp = await client.get("/account")
    error = error_of(resp, 429, "RATE_LIMITED")
    assert "details" not in error
    assert resp.headers["Retry-After"].isdigit()
    assert 1 <= int(resp.headers["Retry-After"]) <= 30
    # Buckets are per API key.
    other = sandbox.state.create_account("other@example.com")
    async with http_client(sandbox.base_url, other.api_key) as o:
        ok_data(await o.get("/account"))


async def test_order_and_deposit_rate_limits(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
) -> None:
    sandbox.state.configure_rate_limits(orders=1, deposits=2)
    ok_data(await client.post("/orders", json=IPV4))
    resp = await client.post("/orders", json=IPV4)
    error_of(resp, 429, "RATE_LIMITED")
    assert int(resp.headers["Retry-After"]) == 60
    ok_data(await client.post("/orders/calc", json=IPV4))
    for _ in range(2):
        ok_data(await client.post("/deposits/addresses", json={"currency": "BTC"}))
    resp = await client.post("/deposits/addresses", json={"currency": "BTC"})
    error_of(resp, 429, "RATE_LIMITED")
    assert int(resp.headers["Retry-After"]) == 30
    ok_data(await client.get("/deposits/addresses"))
    assert await balance_of(client) == "87.50"


async def test_rate_limit_refills_over_time() -> None:
    ticks = FakeMonotonic()
    state = SandboxState(monotonic=ticks)
    state.configure_rate_limits(general=1)
    account = state.create_account("slow@example.com")
    async with (
        SandboxServer(state) as server,
        http_client(server.base_url, account.api_key) as http,
    ):
        ok_data(await http.get("/account"))
        assert (await http.get("/account")).headers["Retry-After"] == "60"
        ticks.advance(45.5)
        assert (await http.get("/account")).headers["Retry-After"] == "15"
        ticks.advance(14.5)
        ok_data(await http.get("/account"))


# ------------------------------------------------------------------------------- faults


async def test_server_error_and_bad_body_faults(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
) -> None:
    sandbox.state.add_fault("GET /account", "server_error", times=2)
    error_of(await client.get("/account"), 500, "SERVER_ERROR")
    error_of(await client.get("/account"), 500, "SERVER_ERROR")
    ok_data(await client.get("/account"))

    sandbox.state.add_fault("GET /reference/{type}", "bad_body")
    resp = await client.get("/reference/ipv4")
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        resp.json()
    ok_data(await client.get("/reference/ipv4"))

    sandbox.state.add_fault("POST /orders", "server_error")
    error_of(await client.post("/orders", json=IPV4), 500, "SERVER_ERROR")
    assert await balance_of(client) == "100.00"


async def test_upstream_error_on_read_endpoint(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
) -> None:
    order_id = await create_order(client, IPV4)
    sandbox.state.add_fault("GET /api/v1/orders/{id}/proxies", "upstream_error")
    error = error_of(await client.get(f"/orders/{order_id}/proxies"), 502, "UPSTREAM_ERROR")
    assert error["details"] == {"refunded": False}
    assert len(ok_data(await client.get(f"/orders/{order_id}/proxies"))) == 10


async def test_latency_fault_delays_the_response(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
) -> None:
    sandbox.state.add_fault("GET /account", "latency", delay_seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/account", timeout=0.05)
    loop = asyncio.get_running_loop()
    sandbox.state.add_fault("GET /account", "latency", delay_seconds=0.1)
    started = loop.time()
    ok_data(await client.get("/account"))
    assert loop.time() - started >= 0.1


async def _until(predicate: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_hold_fault_keeps_the_request_until_released(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
) -> None:
    held = sandbox.state.add_fault("POST /orders", "hold")
    request = asyncio.create_task(client.post("/orders", json=IPV4))
    await _until(lambda: held.taken == 1, "the held request")
    assert not request.done()
    assert await balance_of(client) == "100.00", "nothing happens while it is held"

    held.release()
    assert ok_data(await request)["ok"] is True
    assert await balance_of(client) == "87.50"
    assert held.dropped == 0


async def test_hold_answer_places_the_order_and_holds_only_its_answer(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    state = sandbox.state
    held = state.add_fault("POST /orders", "hold_answer")
    async with http_client(sandbox.base_url, sandbox_account.api_key) as doomed:
        request = asyncio.create_task(doomed.post("/orders", json=IPV4))
        account = state.get_account(sandbox_account.id)
        await _until(lambda: len(state.orders_of(account.id)) == 1, "the order placed")
        assert not request.done(), "the answer waits"
        request.cancel()  # the client dies before it hears
        with pytest.raises(asyncio.CancelledError):
            await request
    assert await balance_of(client) == "87.50", "charged all the same"
    held.release()
    await _until(lambda: held.dropped == 1, "the answer nobody waits for to be dropped")


async def test_held_request_whose_client_went_away_is_dropped_on_release(
    client: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
    sandbox_account: SandboxAccount,  # noqa: F811
) -> None:
    state = sandbox.state
    state.configure_rate_limits(orders=1)
    held = state.add_fault("POST /orders", "hold")
    async with http_client(sandbox.base_url, sandbox_account.api_key) as doomed:
        request = asyncio.create_task(doomed.post("/orders", json=IPV4))
        await _until(lambda: held.taken == 1, "the held request")
        request.cancel()  # the client dies while its request is held
        with pytest.raises(asyncio.CancelledError):
            await request
    # A round trip on another connection: the server has seen the first one close by now.
    assert await balance_of(client) == "100.00"

    held.release()
    await _until(lambda: held.dropped == 1, "the held request to be dropped")
    account = state.get_account(sandbox_account.id)
    assert account.balance == Decimal("100.00") and not state.orders_of(account.id)
    # It took no rate-limit token either: the one order a minute is still there.
    await create_order(client, IPV4)
    assert await balance_of(client) == "87.50"


def test_fault_validation() -> None:
    state = SandboxState()
    with pytest.raises(AdminError):
        state.add_fault("GET /nowhere", "server_error")
    with pytest.raises(AdminError):
        state.add_fault("GET /account", "explode")
    with pytest.raises(AdminError):
        state.add_fault("GET /account", "pending")
    with pytest.raises(AdminError):
        state.add_fault("GET /account", "server_error", times=0)
    fault = state.add_fault("get /api/v1/orders/:id/download", "server_error")
    assert fault.endpoint == "GET /orders/{id}/download"
    state.clear_faults()
    assert state.faults == []


# -------------------------------------------------------------------------- admin HTTP


async def test_admin_account_lifecycle(sandbox: SandboxServer, admin: httpx.AsyncClient) -> None:  # noqa: F811
    resp = await admin.post(
        "/accounts", json={"email": "bot@example.com", "name": "Bot", "balance": "20.00"}
    )
    assert resp.status_code == 200, resp.text
    created = resp.json()
    assert created["email"] == "bot@example.com" and created["balance"] == "20.00"
    assert re.fullmatch(r"pk_live_[A-Za-z0-9_-]{32}", created["apiKey"])
    account_id = created["id"]
    async with http_client(sandbox.base_url, created["apiKey"]) as api:
        assert ok_data(await api.get("/account"))["name"] == "Bot"

        resp = await admin.post(
            f"/accounts/{account_id}/deposits", json={"amount": "25.00", "currency": "BTC"}
        )
        assert resp.status_code == 200 and resp.json()["balance"] == "45.00"
        txs, _ = ok_page(await api.get("/account/transactions", params={"type": "deposit"}))
        assert txs[0]["description"] == "Crypto deposit (BTC)"
        assert txs[0]["paymentMethod"] == "oxapay" and txs[0]["amount"] == 25.0

        await create_order(api, IPV4)
        info = (await admin.get(f"/accounts/{account_id}")).json()
        assert info["balance"] == "32.50"
        assert (info["orderCount"], info["transactionCount"]) == (1, 2)

        resp = await admin.patch(f"/accounts/{account_id}", json={"balance": "10.00"})
        assert resp.json()["balance"] == "10.00"
        txs, _ = ok_page(await api.get("/account/transactions", params={"type": "adjustment"}))
        assert txs[0]["amount"] == -22.5 and txs[0]["paymentMethod"] == "admin"

        await admin.patch(f"/accounts/{account_id}", json={"banned": True})
        error_of(await api.get("/account"), 403, "BANNED")
        await admin.patch(f"/accounts/{account_id}", json={"banned": False, "verified": False})
        error_of(await api.get("/account"), 403, "UNVERIFIED")

    assert (await admin.get("/accounts/nope")).status_code == 404
    assert (await admin.post("/accounts", json={"name": "no email"})).status_code == 400
    assert (await admin.post("/accounts", content=b"{oops")).status_code == 400
    bad_deposit = {"amount": "-5", "currency": "BTC"}
    assert (
        await admin.post(f"/accounts/{account_id}/deposits", json=bad_deposit)
    ).status_code == 400
    unknown_coin = {"amount": "5", "currency": "ABC"}
    assert (
        await admin.post(f"/accounts/{account_id}/deposits", json=unknown_coin)
    ).status_code == 400
    assert (
        await admin.patch(f"/accounts/{account_id}", json={"balance": "1.001"})
    ).status_code == 400
    assert (await admin.get("/missing")).status_code == 404


async def test_admin_orders_faults_config_stats_reset(
    client: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    sandbox: SandboxServer,  # noqa: F811
) -> None:
    order_id = await create_order(client, IPV4)
    resp = await admin.patch(f"/orders/{order_id}", json={"expiresAt": "2020-01-01T00:00:00Z"})
    assert resp.status_code == 200
    assert resp.json()["expiresAt"] == "2020-01-01T00:00:00.000Z"
    assert resp.json()["status"] == "expired"
    assert ok_data(await client.get(f"/orders/{order_id}"))["status"] == "expired"
    resp = await admin.patch(f"/orders/{order_id}", json={"status": "canceled"})
    assert resp.json()["status"] == "canceled"
    canceled, _ = ok_page(await client.get("/orders", params={"status": "canceled"}))
    assert [o["id"] for o in canceled] == [order_id]
    assert (await admin.patch(f"/orders/{order_id}", json={"status": "expired"})).status_code == 400
    assert (await admin.patch(f"/orders/{order_id}", json={"expiresAt": "soon"})).status_code == 400
    assert (await admin.patch("/orders/nope", json={"status": "active"})).status_code == 404
    assert (await admin.get(f"/orders/{order_id}")).json()["accountId"] == sandbox.state.orders[
        order_id
    ].account_id

    fault = {"endpoint": "GET /orders/:id", "kind": "server_error", "times": 1}
    resp = await admin.post("/faults", json=fault)
    assert resp.json()["faults"] == [
        {
            "endpoint": "GET /orders/{id}",
            "kind": "server_error",
            "remaining": 1,
            "delaySeconds": 0.0,
        }
    ]
    assert (
        await admin.post("/faults", json={"endpoint": "GET /x", "kind": "latency"})
    ).status_code == 400
    assert (await admin.delete("/faults")).json() == {"faults": []}
    ok_data(await client.get(f"/orders/{order_id}"))

    resp = await admin.post("/config", json={"rateLimits": {"general": 1, "deposits": 5}})
    assert resp.json()["rateLimits"] == {"general": 1, "orders": 10, "deposits": 5, "enabled": True}
    assert (await admin.get("/config")).json() == resp.json()
    assert (await admin.post("/config", json={"rateLimits": {"general": 0}})).status_code == 400
    assert (await admin.post("/config", json={"rateLimits": {"burst": 1}})).status_code == 400
    ok_data(await client.get("/account"))
    error_of(await client.get("/account"), 429, "RATE_LIMITED")

    stats = (await admin.get("/stats")).json()["requests"]
    assert stats == {
        "POST /orders": 1,
        "GET /orders/{id}": 2,
        "GET /orders": 1,
        "GET /account": 2,
    }
    assert (await admin.post("/reset")).json() == {"ok": True}
    assert (await admin.get("/stats")).json() == {"requests": {}}
    assert sandbox.state.accounts == {} and sandbox.state.orders == {}
    assert (await admin.get("/config")).json()["rateLimits"]["general"] == 60
    error_of(await client.get("/account"), 401, "INVALID_API_KEY")


def test_adminis_loopback_only() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.3.4.5")
    assert not is_loopback("192.168.1.10")
    assert not is_loopback("8.8.8.8")
    assert not is_loopback(None)
    assert not is_loopback("not-an-ip")


# ------------------------------------------------------------------- python API & misc


def test_state_python_api() -> None:
    clock = FakeClock()
    state = SandboxState(clock=clock, seed=7)
    account = state.create_account("py@example.com", balance=Decimal("5"))
    assert account.balance == Decimal("5.00")
    assert state.account_by_key(account.api_key) is account
    assert state.account_by_key("pk_live_unknown") is None
    tx = state.credit_deposit(account.id, Decimal("1.50"), "LTC")
    assert (tx.type, tx.amount, tx.payment_method) == ("deposit", Decimal("1.50"), "oxapay")
    assert state.transactions_of(account.id) == [tx]
    assert account.balance == Decimal("6.50")
    with pytest.raises(UnknownObjectError):
        state.credit_deposit("nope", Decimal("1"), "BTC")
    with pytest.raises(UnknownObjectError):
        state.set_order("nope", status="active")
    with pytest.raises(AdminError):
        state.create_account("not-an-email")
    with pytest.raises(AdminError):
        state.configure_rate_limits(general=-1)
    limits = state.configure_rate_limits(enabled=False)
    assert (limits.general, limits.enabled) == (60, False)
    fixed = state.create_account("fixed@example.com", api_key="pk_test_fixed_key")
    assert state.account_by_key("pk_test_fixed_key") is fixed
    with pytest.raises(AdminError):
        state.create_account("dup@example.com", api_key="pk_test_fixed_key")


async def test_state_orders_of_exposes_proxies() -> None:
    state = SandboxState(clock=FakeClock())
    account = state.create_account("py@example.com")
    receipt = await state.create_order(account, VALID_ORDERS["ipv6"])
    (order,) = state.orders_of(account.id)
    assert order.id == receipt.order_id
    assert order.expires_at == datetime(2025, 3, 17, 12, tzinfo=UTC)
    proxy = order.proxies[0]
    assert isinstance(proxy.port_https, int) and isinstance(proxy.port_socks5, int)
    assert proxy.login.startswith("user_") and proxy.password
    later = datetime(2030, 1, 1, tzinfo=UTC)
    state.set_order(order.id, expires_at=later)
    assert order.expires_at == later and proxy.expires_at == later
    state.set_order(order.id, status="pending")
    assert order.proxies == [] and order.status_at(later) == "pending"


def test_money_serialization() -> None:
    assert dumps({"price": Decimal("12.5")}) == '{"price": 12.50}'
    assert dumps([Decimal("-8.755"), Decimal("0.005"), Decimal("3")]) == "[-8.76, 0.01, 3.00]"
    assert dumps({"a": None, "b": True, "c": 1, "d": "é\n", "e": 1.5}) == (
        '{"a": null, "b": true, "c": 1, "d": "é\\n", "e": 1.5}'
    )
    assert json.loads(dumps({"x": Decimal("1.10")}), parse_float=Decimal) == {"x": Decimal("1.10")}
    with pytest.raises(TypeError):
        dumps({"x": object()})
    stamp = datetime(2025, 1, 15, 8, 30, 0, 123456, tzinfo=UTC)
    assert iso_ms(stamp) == "2025-01-15T08:30:00.123Z"
    moscow = timezone(timedelta(hours=3))
    assert iso_ms(stamp.astimezone(moscow)) == "2025-01-15T08:30:00.123Z"


async def test_server_urls_and_stop() -> None:
    server = SandboxServer()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    await server.start()
    try:
        assert server.port > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}/api/v1"
        assert server.admin_url == f"http://127.0.0.1:{server.port}/_admin"
    finally:
        await server.stop()
    await server.stop()  # stopping twice is harmless


async def test_cli_serves_a_demo_account() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        "0",
        "--balance",
        "42.50",
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        lines: dict[str, str] = {}
        while "API key" not in lines:
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout=10)).decode()
            assert line, "sandbox exited before printing its banner"
            if ":" in line:
                label, _, value = line.partition(":")
                lines[label.strip()] = value.strip()
        base_url, api_key = lines["base URL"], lines["API key"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", base_url)
        async with http_client(base_url, api_key) as http:
            assert ok_data(await http.get("/account"))["balance"] == "42.50"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
