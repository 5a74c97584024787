"""Turning one HTTP response into either the envelope's payload or one ProxyApiError.

The API key is scrubbed from everything copied out of a response: a server
(or a proxy in front of it) echoing the key back must not put it into an
exception message that ends up in a log or a chat.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from proxy_api.errors import (
    ERRORS_BY_CODE,
    ERRORS_BY_STATUS,
    BadResponse,
    ProxyApiError,
    RateLimited,
    ServerError,
)
from proxy_api.retry import parse_retry_after

T = TypeVar("T")

_REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer: the envelope's ``data`` and ``meta`` (or the plain text body)."""

    data: Any
    meta: Any
    status: int
    headers: httpx.Headers


def redact(value: Any, secret: str) -> Any:
    """``value`` with every occurrence of ``secret`` in its strings replaced."""
    if isinstance(value, str):
        return value.replace(secret, _REDACTED) if secret else value
    if isinstance(value, dict):
        return {redact(k, secret): redact(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secret) for v in value]
    return value


def _reject_constant(name: str) -> Any:
    # NaN or Infinity is never a valid amount of money.
    raise ValueError(f"non-finite number {name}")


def loads(text: str) -> Any:
    """JSON with every non-integer number as an exact Decimal."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def _is_json(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower().endswith("json")


def decode(
    response: httpx.Response,
    label: str,
    secret: str,
    now: Callable[[], datetime],
    *,
    text_body: bool = False,
) -> Reply:
    """The payload of ``response``; raises the matching ProxyApiError otherwise.

    ``label`` is "METHOD /path" for messages. With ``text_body`` a successful
    non-JSON answer is returned as text (the download endpoint).
    """
    status = response.status_code
    ok = 200 <= status < 300
    if text_body and ok and not _is_json(response):
        return Reply(response.text, None, status, response.headers)

    try:
        body = loads(response.text)
    except ValueError:  # JSONDecodeError and non-finite numbers
        body = None

    if isinstance(body, dict):
        if ok and body.get("success") is True and "data" in body:
            return Reply(body["data"], body.get("meta"), status, response.headers)
        error = body.get("error")
        if body.get("success") is False and isinstance(error, dict):
            raise _error_from_envelope(body, error, response, secret, now)

    # Not the documented envelope: a gateway page, a truncated body, a bug.
    what = "a non-JSON body" if body is None else "JSON that is not the API envelope"
    message = f"{label}: HTTP {status} with {what}"
    if status == 429:
        raise RateLimited(
            message,
            retry_after=parse_retry_after(response.headers.get("retry-after"), now()),
            status=status,
        )
    if status >= 500:
        # The status is trustworthy even when the body is not; 5xx stays retryable.
        raise ServerError(message, status=status)
    raise BadResponse(message, status=status)


def _error_from_envelope(
    body: dict[str, Any],
    error: dict[str, Any],
    response: httpx.Response,
    secret: str,
    now: Callable[[], datetime],
) -> ProxyApiError:
    status = response.status_code
    code = error.get("code") if isinstance(error.get("code"), str) else None
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = f"HTTP {status}" + (f" {code}" if code else "")

    raw_details = error.get("details")
    if isinstance(raw_details, dict):
        details = dict(raw_details)
    elif raw_details is None:
        details = {}
    else:
        details = {"errors": raw_details}
    # The spec only says a refunded order has "a refunded field in the response";
    # wherever it sits, UpstreamError.refunded reads it from details.
    if "refunded" not in details:
        data = body.get("data")
        for source in (error, data if isinstance(data, dict) else {}, body):
            if "refunded" in source:
                details["refunded"] = source["refunded"]
                break

    cls = ERRORS_BY_CODE.get(code or "") or ERRORS_BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else ProxyApiError
    message = redact(message, secret)
    details = redact(details, secret)
    if issubclass(cls, RateLimited):
        return cls(
            message,
            retry_after=parse_retry_after(response.headers.get("retry-after"), now()),
            status=status,
            code=code,
            details=details,
        )
    return cls(message, status=status, code=code, details=details)


def parse(adapter: TypeAdapter[T], data: Any, label: str, status: int | None = None) -> T:
    """``data`` validated into the model; a shape mismatch is a BadResponse."""
    try:
        return adapter.validate_python(data)
    except PydanticValidationError as exc:
        # Only locations and error types: the input values may be passwords.
        problems = exc.errors(include_url=False, include_input=False, include_context=False)
        summary = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '<root>'}: {problem['type']}"
            for problem in problems[:5]
        )
        if len(problems) > 5:
            summary += f"; and {len(problems) - 5} more"
        failure = BadResponse(f"{label}: unexpected response shape ({summary})", status=status)
    # Raised outside the handler so pydantic's error (with its input) is not chained.
    raise failure
