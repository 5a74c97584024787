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

    # Whether the server may have carried out the request although this error came back.
    # Conservative by default: only answers that prove the request was refused say False.
    _refusal: bool = False

    @property
    def may_have_acted(self) -> bool:
        """True when the request may have changed something at the provider (a debit).

        The one classification every paid action relies on: False only for answers that
        prove the request was refused (a business error, or a throttle/auth refusal of a
        first attempt). An earlier unanswered attempt of the same call makes any later
        refusal inconclusive.
        """
        return self.after_unanswered_attempt or not self._refusal

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class TransportError(ProxyApiError):
    """The API could not be reached: timeout, refused connection, broken stream."""

    code = "TRANSPORT"

    def __init__(self, message: str, *, connected: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        # A connection that was never made carried no request: nothing can have happened.
        self._refusal = not connected


class BadResponse(ProxyApiError):
    """The API answered something that is not the documented envelope."""

    code = "BAD_RESPONSE"


class ServerError(ProxyApiError):
    code = "SERVER_ERROR"


class ValidationError(ProxyApiError):
    code = "VALIDATION_ERROR"
    _refusal = True


class InvalidType(ValidationError):
    code = "INVALID_TYPE"


class InvalidCurrency(ValidationError):
    code = "INVALID_CURRENCY"


class AuthError(ProxyApiError):
    """The key cannot be used: missing, unknown, banned or unverified."""

    _refusal = True  # refused before the request was looked at


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
    _refusal = True

    @property
    def required(self) -> Decimal | None:
        return _decimal_or_none(self.details.get("required"))

    @property
    def available(self) -> Decimal | None:
        return _decimal_or_none(self.details.get("available"))


class NotFound(ProxyApiError):
    code = "NOT_FOUND"
    _refusal = True


class NotProvisioned(ProxyApiError):
    code = "NOT_PROVISIONED"
    _refusal = True


class RateLimited(ProxyApiError):
    code = "RATE_LIMITED"
    _refusal = True  # refused before the request was looked at

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class UpstreamError(ProxyApiError):
    """502: the provider failed; the spec refunds any debit, so nothing stays charged."""

    code = "UPSTREAM_ERROR"
    _refusal = True

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
