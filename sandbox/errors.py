"""Error types shared by the sandbox domain, the spec routes and the admin routes.

`ApiError` carries one of the machine-readable codes from the 1001Proxy error table; the HTTP
layer maps the code to its status through `STATUS_BY_CODE`, so the domain never deals with
HTTP statuses itself.
"""

from __future__ import annotations

from typing import Any

VALIDATION_ERROR = "VALIDATION_ERROR"
INVALID_TYPE = "INVALID_TYPE"
INVALID_CURRENCY = "INVALID_CURRENCY"
UNAUTHORIZED = "UNAUTHORIZED"
INVALID_API_KEY = "INVALID_API_KEY"
INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
BANNED = "BANNED"
UNVERIFIED = "UNVERIFIED"
NOT_FOUND = "NOT_FOUND"
NOT_PROVISIONED = "NOT_PROVISIONED"
RATE_LIMITED = "RATE_LIMITED"
SERVER_ERROR = "SERVER_ERROR"
UPSTREAM_ERROR = "UPSTREAM_ERROR"

STATUS_BY_CODE: dict[str, int] = {
    VALIDATION_ERROR: 400,
    INVALID_TYPE: 400,
    INVALID_CURRENCY: 400,
    UNAUTHORIZED: 401,
    INVALID_API_KEY: 401,
    INSUFFICIENT_FUNDS: 402,
    BANNED: 403,
    UNVERIFIED: 403,
    NOT_FOUND: 404,
    NOT_PROVISIONED: 409,
    RATE_LIMITED: 429,
    SERVER_ERROR: 500,
    UPSTREAM_ERROR: 502,
}


class ApiError(Exception):
    """A failure that the spec routes report with the error envelope."""

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        if code not in STATUS_BY_CODE:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return STATUS_BY_CODE[self.code]

    @classmethod
    def validation(cls, details: dict[str, str], message: str | None = None) -> ApiError:
        if message is None:
            message = "Invalid or missing parameters: " + ", ".join(details)
        return cls(VALIDATION_ERROR, message, details)

    def __repr__(self) -> str:
        return f"ApiError({self.code!r}, {self.message!r}, {self.details!r})"


class AdminError(ValueError):
    """Bad input to an admin operation (the admin routes answer 400)."""


class UnknownObjectError(LookupError):
    """An admin operation named an account or order that does not exist (404)."""
