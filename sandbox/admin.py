"""Admin control surface under /_admin: not part of the 1001Proxy API.

Tests and developers use it to create accounts, credit deposits, move orders in time, inject
faults, change rate limits and read request counts. Every route mirrors a `SandboxState`
method. There is no authentication; instead requests from anything but a loopback address
are refused (403), even when the sandbox listens on a public interface.

Bodies and answers are plain JSON objects (no spec envelope); money is a string with two
decimals. Errors are `{"error": "<message>"}` with 400 (bad input), 403 (not loopback) or
404 (unknown account, order or route).

    POST   /_admin/accounts                {email, name?, balance?, banned?, verified?, apiKey?}
    GET    /_admin/accounts/{id}
    PATCH  /_admin/accounts/{id}           {banned?, verified?, balance?}
    POST   /_admin/accounts/{id}/deposits  {amount, currency}
    GET    /_admin/orders/{id}
    PATCH  /_admin/orders/{id}             {expiresAt?, status?}
    GET    /_admin/faults
    POST   /_admin/faults                  {endpoint, kind, times?, delaySeconds?}
    DELETE /_admin/faults
    GET    /_admin/config
    POST   /_admin/config                  {rateLimits: {general?, orders?, deposits?, enabled?}}
    POST   /_admin/reset
    GET    /_admin/stats
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from aiohttp import web

from sandbox.errors import AdminError, UnknownObjectError
from sandbox.httputil import ADMIN_PREFIX, STATE_KEY, BodyError, json_response, read_json
from sandbox.jsonout import iso_ms, money_text
from sandbox.ratelimit import RateLimits
from sandbox.state import Account, Fault, Order, SandboxState
from sandbox.wire import order_detail, proxy


def _error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status=status)


def is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@web.middleware
async def admin_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path != ADMIN_PREFIX and not request.path.startswith(ADMIN_PREFIX + "/"):
        return await handler(request)
    if not is_loopback(request.remote):
        return _error(403, "the admin API only accepts loopback clients")
    if request.match_info.http_exception is not None:
        return _error(request.match_info.http_exception.status, "no such admin route")
    try:
        return await handler(request)
    except (AdminError, BodyError) as exc:
        return _error(400, str(exc))
    except UnknownObjectError as exc:
        return _error(404, str(exc.args[0]) if exc.args else "not found")


def _state(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


async def _object(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise AdminError("body must be a JSON object")
    return body


def account_json(state: SandboxState, account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "apiKey": account.api_key,
        "email": account.email,
        "name": account.name,
        "balance": money_text(account.balance),
        "banned": account.banned,
        "verified": account.verified,
        "createdAt": iso_ms(account.created_at),
        "orderCount": len(state.orders_of(account.id)),
        "transactionCount": len(state.transactions_of(account.id)),
    }


def order_json(state: SandboxState, order: Order) -> dict[str, Any]:
    data = order_detail(order, order.status_at(state.now()))
    data["accountId"] = order.account_id
    data["upstreamOrderId"] = order.upstream_order_id
    data["proxies"] = [proxy(p) for p in order.proxies]
    return data


def fault_json(fault: Fault) -> dict[str, Any]:
    return {
        "endpoint": fault.endpoint,
        "kind": fault.kind,
        "remaining": fault.remaining,
        "delaySeconds": fault.delay_seconds,
    }


def limits_json(limits: RateLimits) -> dict[str, Any]:
    return {
        "general": limits.general,
        "orders": limits.orders,
        "deposits": limits.deposits,
        "enabled": limits.enabled,
    }


async def create_account(request: web.Request) -> web.Response:
    body = await _object(request)
    state = _state(request)
    account = state.create_account(
        # Types are checked by the state, which answers AdminError (400) for wrong ones.
        email=body.get("email"),
        name=body.get("name"),
        balance=body.get("balance", "100.00"),
        banned=body.get("banned", False),
        verified=body.get("verified", True),
        api_key=body.get("apiKey"),
    )
    return json_response(account_json(state, account))


async def get_account(request: web.Request) -> web.Response:
    state = _state(request)
    return json_response(account_json(state, state.get_account(request.match_info["id"])))


async def patch_account(request: web.Request) -> web.Response:
    body = await _object(request)
    state = _state(request)
    account = state.update_account(
        request.match_info["id"],
        banned=body.get("banned"),
        verified=body.get("verified"),
        balance=body.get("balance"),
    )
    return json_response(account_json(state, account))


async def credit_deposit(request: web.Request) -> web.Response:
    body = await _object(request)
    state = _state(request)
    account_id = request.match_info["id"]
    currency = body.get("currency")
    if not isinstance(currency, str):
        raise AdminError("currency is required")
    if "amount" not in body:
        raise AdminError("amount is required")
    tx = state.credit_deposit(account_id, body["amount"], currency)
    return json_response(
        {
            "transactionId": tx.id,
            "amount": money_text(tx.amount),
            "description": tx.description,
            "balance": money_text(state.get_account(account_id).balance),
        }
    )


async def get_order(request: web.Request) -> web.Response:
    state = _state(request)
    return json_response(order_json(state, state.get_order(request.match_info["id"])))


async def patch_order(request: web.Request) -> web.Response:
    body = await _object(request)
    state = _state(request)
    expires_at = None
    raw = body.get("expiresAt")
    if raw is not None:
        if not isinstance(raw, str):
            raise AdminError("expiresAt must be an ISO 8601 string")
        try:
            expires_at = datetime.fromisoformat(raw)
        except ValueError:
            raise AdminError("expiresAt must be an ISO 8601 string") from None
    status = body.get("status")
    if status is not None and not isinstance(status, str):
        raise AdminError("status must be a string")
    order = state.set_order(request.match_info["id"], expires_at=expires_at, status=status)
    return json_response(order_json(state, order))


async def list_faults(request: web.Request) -> web.Response:
    return json_response({"faults": [fault_json(f) for f in _state(request).faults]})


async def add_fault(request: web.Request) -> web.Response:
    body = await _object(request)
    state = _state(request)
    endpoint, kind = body.get("endpoint"), body.get("kind")
    if not isinstance(endpoint, str) or not isinstance(kind, str):
        raise AdminError("endpoint and kind are required strings")
    state.add_fault(
        endpoint,
        kind,
        times=body.get("times", 1),
        delay_seconds=body.get("delaySeconds", 0.0),
    )
    return json_response({"faults": [fault_json(f) for f in state.faults]})


async def clear_faults(request: web.Request) -> web.Response:
    _state(request).clear_faults()
    return json_response({"faults": []})


async def get_config(request: web.Request) -> web.Response:
    return json_response({"rateLimits": limits_json(_state(request).rate_limiter.limits)})


async def set_config(request: web.Request) -> web.Response:
    body = await _object(request)
    limits = body.get("rateLimits", {})
    if not isinstance(limits, dict):
        raise AdminError("rateLimits must be an object")
    unknown = set(limits) - {"general", "orders", "deposits", "enabled"}
    if unknown:
        raise AdminError("unknown rateLimits keys: " + ", ".join(sorted(unknown)))
    applied = _state(request).configure_rate_limits(**limits)
    return json_response({"rateLimits": limits_json(applied)})


async def reset(request: web.Request) -> web.Response:
    _state(request).reset()
    return json_response({"ok": True})


async def stats(request: web.Request) -> web.Response:
    return json_response({"requests": dict(_state(request).request_counts)})


def setup_admin_routes(app: web.Application) -> None:
    admin = ADMIN_PREFIX
    router = app.router
    router.add_post(f"{admin}/accounts", create_account)
    router.add_get(f"{admin}/accounts/{{id}}", get_account, allow_head=False)
    router.add_patch(f"{admin}/accounts/{{id}}", patch_account)
    router.add_post(f"{admin}/accounts/{{id}}/deposits", credit_deposit)
    router.add_get(f"{admin}/orders/{{id}}", get_order, allow_head=False)
    router.add_patch(f"{admin}/orders/{{id}}", patch_order)
    router.add_get(f"{admin}/faults", list_faults, allow_head=False)
    router.add_post(f"{admin}/faults", add_fault)
    router.add_delete(f"{admin}/faults", clear_faults)
    router.add_get(f"{admin}/config", get_config, allow_head=False)
    router.add_post(f"{admin}/config", set_config)
    router.add_post(f"{admin}/reset", reset)
    router.add_get(f"{admin}/stats", stats, allow_head=False)
