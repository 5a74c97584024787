"""aiohttp application serving the 1001Proxy API under /api/v1, plus `SandboxServer`.

Every spec request goes through `api_middleware`, which in order: resolves the route
template ("GET /orders/{id}"), counts it in `state.request_counts` (rejected requests
included, since a client made the call), applies an injected latency, hold or late fault (a
held request whose client went away meanwhile is dropped there), authenticates, takes
rate-limit tokens, applies server_error / bad_body / generic upstream_error faults, and
finally runs the handler (whose answer a hold_answer fault keeps until released). Handlers
only translate HTTP to `SandboxState` calls and domain objects to JSON via `sandbox.wire`.

Errors use the spec envelope `{"success": false, "error": {"message", "code", "details"?}}`;
`details` is present only when it has content. UPSTREAM_ERROR (502) always carries
`error.details.refunded` (boolean): true when the balance was debited and given back.
Unknown routes and wrong methods under /api/v1 answer 404 NOT_FOUND in the same envelope.
An injected `bad_body` fault answers 200 with a truncated JSON document.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from sandbox import wire
from sandbox.admin import admin_middleware, setup_admin_routes
from sandbox.errors import NOT_FOUND, SERVER_ERROR, UPSTREAM_ERROR, ApiError
from sandbox.httputil import (
    ADMIN_PREFIX,
    API_PREFIX,
    STATE_KEY,
    BodyError,
    json_response,
    read_json,
)
from sandbox.seed import PROXY_TYPES
from sandbox.state import GENERIC_FAULTS, MONEY_ENDPOINTS, Account, SandboxState
from sandbox.validation import (
    ORDER_STATUSES,
    TRANSACTION_TYPES,
    parse_download_options,
    parse_filter,
    parse_paging,
)

logger = logging.getLogger("sandbox")

ACCOUNT_KEY = web.RequestKey("sandbox_account", Account)
# Cut off mid-document so any JSON parser fails, while the content type still claims JSON.
BAD_BODY = b'{"success": true, "data": {"id": "cm'


def ok(
    data: object, meta: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    payload: dict[str, Any] = {"success": True, "data": data}
    if meta is not None:
        payload["meta"] = meta
    return json_response(payload, headers=headers)


def error_response(exc: ApiError) -> web.Response:
    error: dict[str, Any] = {"message": exc.message, "code": exc.code}
    if exc.details:
        error["details"] = exc.details
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return json_response({"success": False, "error": error}, status=exc.status, headers=headers)


def endpoint_of(request: web.Request) -> str | None:
    """The matched spec route as "METHOD /template", or None if nothing matched."""
    match_info = request.match_info
    if match_info.http_exception is not None:
        return None
    canonical = match_info.route.resource.canonical if match_info.route.resource else ""
    if not canonical.startswith(API_PREFIX):
        return None
    return f"{request.method} {canonical[len(API_PREFIX) :]}"


@web.middleware
async def api_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path != API_PREFIX and not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    try:
        return await _run_api_request(request, handler, request.app[STATE_KEY])
    except ApiError as exc:
        return error_response(exc)
    except ConnectionResetError:
        # The client went away (a bot killed mid-request in a test): nobody to answer.
        logger.info("client disconnected during %s %s", request.method, request.path)
        return web.Response(status=499)
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(ApiError(SERVER_ERROR, "Internal server error"))


async def _run_api_request(
    request: web.Request, handler: Any, state: SandboxState
) -> web.StreamResponse:
    endpoint = endpoint_of(request)
    if endpoint is None:
        raise ApiError(NOT_FOUND, "Route not found")
    state.count_request(endpoint)
    latency = state.take_fault(endpoint, {"latency"})
    if latency is not None:
        await asyncio.sleep(latency.delay_seconds)
    hold = state.take_fault(endpoint, {"hold"})
    if hold is not None:
        await hold.gate.wait()
        if _client_gone(request):
            # Nobody is waiting for the answer any more: the request is dropped before it
            # does anything (no token taken, nothing charged).
            hold.dropped += 1
            raise ConnectionResetError("the client went away while the request was held")
    hold_answer = state.take_fault(endpoint, {"hold_answer"})
    late = state.take_fault(endpoint, {"late"})
    if late is not None:
        await request.read()  # the body must outlive the answer
        state.spawn(_late(request, handler, state, late.gate))
        raise ApiError(SERVER_ERROR, "Internal server error")
    account = state.authenticate(request.headers.get("Authorization"))
    state.check_rate_limit(account.api_key, endpoint)
    kinds = GENERIC_FAULTS - {"upstream_error"} if endpoint in MONEY_ENDPOINTS else GENERIC_FAULTS
    fault = state.take_fault(endpoint, kinds)
    if fault is not None:
        if fault.kind == "bad_body":
            return web.Response(body=BAD_BODY, content_type="application/json")
        if fault.kind == "server_error":
            raise ApiError(SERVER_ERROR, "Internal server error")
        raise ApiError(UPSTREAM_ERROR, "Proxy provider returned an error", {"refunded": False})
    request[ACCOUNT_KEY] = account
    response = await handler(request)
    if hold_answer is not None:
        # Done (charged, placed); only the answer waits. A client gone meanwhile never gets it.
        await hold_answer.gate.wait()
        if _client_gone(request):
            hold_answer.dropped += 1
            raise ConnectionResetError("the client went away before the answer was sent")
    return response


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _late(
    request: web.Request, handler: Any, state: SandboxState, gate: asyncio.Event
) -> None:
    """Carry out a request whose client was already told it failed, once released."""
    await gate.wait()
    try:
        account = state.authenticate(request.headers.get("Authorization"))
        request[ACCOUNT_KEY] = account
        await handler(request)
    except ApiError as exc:
        logger.info("late %s %s failed: %s", request.method, request.path, exc)


def _state(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


def _account(request: web.Request) -> Account:
    return request[ACCOUNT_KEY]


async def _body(request: web.Request) -> object:
    try:
        return await read_json(request)
    except BodyError:
        raise ApiError.validation({"body": "must be valid JSON"}) from None


# ------------------------------------------------------------------------ handlers


async def get_account(request: web.Request) -> web.Response:
    return ok(wire.account(_account(request)))


async def list_transactions(request: web.Request) -> web.Response:
    tx_type = parse_filter(request.query, "type", TRANSACTION_TYPES)
    paging = parse_paging(request.query)
    page = _state(request).list_transactions(_account(request), paging, tx_type)
    return ok([wire.transaction(t) for t in page.items], meta=wire.meta(page))


async def calc_order(request: web.Request) -> web.Response:
    return ok(wire.quote(_state(request).quote(await _body(request))))


async def create_order(request: web.Request) -> web.Response:
    key = (request.headers.get("Idempotency-Key") or "").strip() or None
    receipt = await _state(request).create_order(_account(request), await _body(request), key)
    return ok(
        {
            "ok": True,
            "orderId": receipt.order_id,
            "charged": receipt.charged,
            "upstreamOrderId": receipt.upstream_order_id,
        }
    )


async def list_orders(request: web.Request) -> web.Response:
    status = parse_filter(request.query, "status", ORDER_STATUSES)
    proxy_type = parse_filter(request.query, "type", PROXY_TYPES)
    paging = parse_paging(request.query)
    state = _state(request)
    page = state.list_orders(_account(request), paging, status, proxy_type)
    now = state.now()
    return ok([wire.order_summary(o, o.status_at(now)) for o in page.items], meta=wire.meta(page))


async def get_order(request: web.Request) -> web.Response:
    state = _state(request)
    order = state.order_for(_account(request), request.match_info["id"])
    return ok(wire.order_detail(order, order.status_at(state.now())))


async def get_proxies(request: web.Request) -> web.Response:
    order = _state(request).provisioned_order_for(_account(request), request.match_info["id"])
    return ok([wire.proxy(p) for p in order.proxies])


async def download_proxies(request: web.Request) -> web.Response:
    state = _state(request)
    order = state.provisioned_order_for(_account(request), request.match_info["id"])
    fmt, protocol = parse_download_options(request.query)
    return web.Response(
        text="\n".join(state.proxy_lines(order, fmt, protocol)),
        content_type="text/plain",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{order.id}.txt"'},
    )


async def extend_order(request: web.Request) -> web.Response:
    state = _state(request)
    order_id = request.match_info["id"]
    # The order is looked up before the body is read so 404/409 win over a bad body.
    state.provisioned_order_for(_account(request), order_id)
    charged = await state.extend_order(_account(request), order_id, await _body(request))
    return ok({"ok": True, "charged": charged})


async def get_reference(request: web.Request) -> web.Response:
    proxy_type = request.match_info["type"]
    catalog = _state(request).reference(proxy_type)
    return ok(wire.reference(catalog, proxy_type), headers={"Cache-Control": "public, max-age=300"})


async def list_deposit_addresses(request: web.Request) -> web.Response:
    pairs = _state(request).deposit_addresses(_account(request))
    return ok([wire.deposit_address(currency, address) for currency, address in pairs])


async def create_deposit_address(request: web.Request) -> web.Response:
    state = _state(request)
    currency, address = state.create_deposit_address(_account(request), await _body(request))
    return ok(wire.deposit_address(currency, address))


def create_app(state: SandboxState) -> web.Application:
    app = web.Application(middlewares=[admin_middleware, api_middleware])
    app[STATE_KEY] = state
    api = API_PREFIX
    router = app.router
    router.add_get(f"{api}/account", get_account, allow_head=False)
    router.add_get(f"{api}/account/transactions", list_transactions, allow_head=False)
    router.add_post(f"{api}/orders/calc", calc_order)
    router.add_post(f"{api}/orders", create_order)
    router.add_get(f"{api}/orders", list_orders, allow_head=False)
    router.add_get(f"{api}/orders/{{id}}", get_order, allow_head=False)
    router.add_get(f"{api}/orders/{{id}}/proxies", get_proxies, allow_head=False)
    router.add_get(f"{api}/orders/{{id}}/download", download_proxies, allow_head=False)
    router.add_post(f"{api}/orders/{{id}}/extend", extend_order)
    router.add_get(f"{api}/reference/{{type}}", get_reference, allow_head=False)
    router.add_get(f"{api}/deposits/addresses", list_deposit_addresses, allow_head=False)
    router.add_post(f"{api}/deposits/addresses", create_deposit_address)
    setup_admin_routes(app)
    return app


class SandboxServer:
    """Runs the sandbox app on a real socket; `port=0` binds a free port."""

    def __init__(
        self,
        state: SandboxState | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
    ) -> None:
        self.state = state if state is not None else SandboxState()
        self.host = host
        self.port = port
        self._access_log = access_log
        self._runner: web.AppRunner | None = None

    @property
    def root_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("SandboxServer is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + API_PREFIX

    @property
    def admin_url(self) -> str:
        return self.root_url + ADMIN_PREFIX

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("SandboxServer is already started")
        kwargs: dict[str, Any] = {} if self._access_log else {"access_log": None}
        # A short shutdown timeout: a request parked in an injected latency fault must not
        # hold up the end of a test for the default 60 seconds.
        runner = web.AppRunner(create_app(self.state), shutdown_timeout=1.0, **kwargs)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        self.state.cancel_background()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


__all__ = ["SandboxServer", "SandboxState", "create_app"]
