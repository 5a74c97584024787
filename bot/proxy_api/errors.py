"""One exception hierarchy for everything the 1001Proxy API can answer.

The API key never appears in any of these: messages are built from the
server's error payload and the request's method and path only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


class ProxyApiError(Exception):
    """Base of every error raised by the API client."""

    code: str = "ERROR"
    # True when an earlier attempt of the same call got no usable answer (see the client).
    after_unanswered_attempt: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details or {}

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class TransportError(ProxyApiError):
    """The API could not be reached: timeout, refused connection, broken stream."""

    code = "TRANSPORT"


class BadResponse(ProxyApiError):
    """The API answered something that is not the documented envelope."""

    code = "BAD_RESPONSE"


class ServerError(ProxyApiError):
    code = "SERVER_ERROR"


class ValidationError(ProxyApiError):
    code = "VALIDATION_ERROR"


class InvalidType(ValidationError):
    code = "INVALID_TYPE"


class InvalidCurrency(ValidationError):
    code = "INVALID_CURRENCY"


class AuthError(ProxyApiError):
    """The key cannot be used: missing, unknown, banned or unverified."""


class Unauthorized(AuthError):
    code = "UNAUTHORIZED"


class InvalidApiKey(AuthError):
    code = "INVALID_API_KEY"


class Banned(AuthError):
    code = "BANNED"


class Unverified(AuthError):
    code = "UNVERIFIED"


class InsufficientFunds(ProxyApiError):
    code = "INSUFFICIENT_FUNDS"

    @property
    def required(self) -> Decimal | None:
        return _decimal_or_none(self.details.get("required"))

    @property
    def available(self) -> Decimal | None:
        return _decimal_or_none(self.details.get("available"))


class NotFound(ProxyApiError):
    code = "NOT_FOUND"


class NotProvisioned(ProxyApiError):
    code = "NOT_PROVISIONED"


class RateLimited(ProxyApiError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class UpstreamError(ProxyApiError):
    code = "UPSTREAM_ERROR"

    @property
    def refunded(self) -> bool:
        value = self.details.get("refunded")
        return bool(value) if value is not None else False


def _decimal_or_none(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


ERRORS_BY_CODE: dict[str, type[ProxyApiError]] = {
    cls.code: cls
    for cls in (
        ValidationError,
        InvalidType,
        InvalidCurrency,
        Unauthorized,
        InvalidApiKey,
        Banned,
        Unverified,
        InsufficientFunds,
        NotFound,
        NotProvisioned,
        RateLimited,
        ServerError,
        UpstreamError,
    )
}

ERRORS_BY_STATUS: dict[int, type[ProxyApiError]] = {
    400: ValidationError,
    401: Unauthorized,
    402: InsufficientFunds,
    403: AuthError,
    404: NotFound,
    409: NotProvisioned,
    429: RateLimited,
    502: UpstreamError,
}
