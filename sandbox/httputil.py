"""Pieces shared by the spec routes and the admin routes."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web

from sandbox.jsonout import dumps
from sandbox.state import SandboxState

STATE_KEY = web.AppKey("sandbox_state", SandboxState)
API_PREFIX = "/api/v1"
ADMIN_PREFIX = "/_admin"


class BodyError(ValueError):
    """The request body is not valid JSON."""


def json_response(
    payload: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=dumps(payload), status=status, content_type="application/json", headers=headers
    )


async def read_json(request: web.Request) -> object:
    """The decoded body, or None when it is empty."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise BodyError("request body is not valid JSON") from None
