"""Request validation for the spec routes: order parameters, extension, paging, filters.

Every check collects all bad fields into `details` (field name -> reason) before raising,
so one VALIDATION_ERROR names everything that is wrong with a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.errors import INVALID_TYPE, ApiError
from sandbox.seed import (
    CATALOGS,
    COUPONS,
    MAX_QUANTITY,
    MOBILE_SERVICE_TYPES,
    PROTOCOLS,
    PROXY_TYPES,
    Country,
    Coupon,
    Period,
    Tarif,
)

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
ORDER_STATUSES: tuple[str, ...] = ("active", "expired", "canceled", "pending")
TRANSACTION_TYPES: tuple[str, ...] = ("deposit", "purchase", "refund", "adjustment")
DOWNLOAD_FORMATS: tuple[str, ...] = ("ip:port", "user:pass@ip:port")
DOWNLOAD_PROTOCOLS: tuple[str, ...] = ("https", "socks5")


@dataclass(frozen=True)
class OrderSpec:
    """A validated order (or quote) request, with ids resolved against the catalog."""

    type: str
    quantity: int
    country: Country | None = None
    period: Period | None = None
    protocol: str | None = None  # lower case, as the order resource reports it
    mobile_service_type: str | None = None
    operator_id: int | None = None
    rotation_id: int | None = None
    tarif: Tarif | None = None
    coupon: Coupon | None = None


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def require_object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError.validation({"body": "must be a JSON object"})
    return body


def parse_proxy_type(value: object, field: str = "type") -> str:
    if value is None:
        raise ApiError.validation({field: "is required"})
    if not isinstance(value, str) or value not in PROXY_TYPES:
        raise ApiError(
            INVALID_TYPE,
            f"Invalid proxy type: {value!r}",
            {field: "must be one of " + ", ".join(PROXY_TYPES)},
        )
    return value


def parse_order_request(body: object) -> OrderSpec:
    """Validate a POST /orders or /orders/calc body per "Order Creation Parameters by Type"."""
    body = require_object(body)
    proxy_type = parse_proxy_type(body.get("type"))
    catalog = CATALOGS[proxy_type]
    errors: dict[str, str] = {}

    def integer(field: str) -> int | None:
        value = body.get(field)
        if value is None:
            errors[field] = "is required"
            return None
        if not _is_int(value):
            errors[field] = "must be an integer"
            return None
        return int(value)

    def choice(field: str, allowed: tuple[str, ...], required: bool) -> str | None:
        value = body.get(field)
        if value is None:
            if required:
                errors[field] = "is required"
            return None
        if value not in allowed:
            errors[field] = "must be one of " + ", ".join(allowed)
            return None
        return str(value)

    coupon = _parse_coupon(body.get("coupon"), errors)

    if proxy_type == "resident":
        tarif_id = integer("tarifId")
        tarif = catalog.tarif(tarif_id) if tarif_id is not None else None
        if tarif_id is not None and tarif is None:
            errors["tarifId"] = "unknown tariff for resident"
        if errors or tarif is None:
            raise ApiError.validation(errors)
        return OrderSpec(type=proxy_type, quantity=tarif.traffic_gb, tarif=tarif, coupon=coupon)

    country_id = integer("countryId")
    country = catalog.country(country_id) if country_id is not None else None
    if country_id is not None and country is None:
        errors["countryId"] = f"unknown country for {proxy_type}"
    period_id = integer("periodId")
    period = catalog.period(period_id) if period_id is not None else None
    if period_id is not None and period is None:
        errors["periodId"] = f"unknown period for {proxy_type}"
    quantity = integer("quantity")
    if quantity is not None and not 1 <= quantity <= MAX_QUANTITY:
        errors["quantity"] = f"must be between 1 and {MAX_QUANTITY}"

    # The protocol is only required for ipv6; other per-IP types accept it optionally and
    # report "https" when it is absent, like the spec's ipv4 order example.
    protocol = choice("protocol", PROTOCOLS, required=proxy_type == "ipv6")

    service_type = operator_id = rotation_id = None
    if proxy_type == "mobile":
        service_type = choice("mobileServiceType", MOBILE_SERVICE_TYPES, required=True)
        operator_id = integer("operatorId")
        if operator_id is not None and catalog.operator(operator_id) is None:
            errors["operatorId"] = "unknown mobile operator"
        rotation_id = integer("rotationId")
        if rotation_id is not None and catalog.rotation(rotation_id) is None:
            errors["rotationId"] = "unknown rotation"

    if errors:
        raise ApiError.validation(errors)
    assert quantity is not None and country is not None and period is not None
    return OrderSpec(
        type=proxy_type,
        quantity=quantity,
        country=country,
        period=period,
        protocol=(protocol or "HTTPS").lower(),
        mobile_service_type=service_type,
        operator_id=operator_id,
        rotation_id=rotation_id,
        coupon=coupon,
    )


def _parse_coupon(value: object, errors: dict[str, str]) -> Coupon | None:
    # An empty string counts as "no coupon": forms tend to send "" for an untouched field.
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors["coupon"] = "must be a string"
        return None
    coupon = COUPONS.get(value.strip().upper())
    if coupon is None:
        errors["coupon"] = "unknown coupon"
        return None
    if coupon.expired:
        errors["coupon"] = "coupon has expired"
        return None
    return coupon


@dataclass(frozen=True)
class ExtendRequest:
    period: Period
    proxy_ids: tuple[str, ...] | None  # None means every proxy of the order


def parse_extend_request(body: object, proxy_type: str) -> ExtendRequest:
    body = require_object(body)
    errors: dict[str, str] = {}
    period = None
    period_id = body.get("periodId")
    if period_id is None:
        errors["periodId"] = "is required"
    elif not _is_int(period_id):
        errors["periodId"] = "must be an integer"
    else:
        period = CATALOGS[proxy_type].period(period_id)
        if period is None:
            errors["periodId"] = f"unknown period for {proxy_type}"
    proxy_ids = body.get("proxyIds")
    if proxy_ids is not None:
        if not isinstance(proxy_ids, list) or not all(isinstance(p, str) for p in proxy_ids):
            errors["proxyIds"] = "must be an array of strings"
            proxy_ids = None
        elif not proxy_ids:
            errors["proxyIds"] = "no proxies to extend"
    if errors:
        raise ApiError.validation(errors)
    assert period is not None
    return ExtendRequest(period, tuple(proxy_ids) if proxy_ids is not None else None)


def parse_paging(query: Mapping[str, str]) -> Paging:
    """`page` >= 1 (default 1); `per_page` >= 1 (default 20), silently clamped to 100."""
    errors: dict[str, str] = {}
    values: dict[str, int] = {}
    for field, default in (("page", 1), ("per_page", DEFAULT_PER_PAGE)):
        raw = query.get(field)
        if raw is None or raw == "":
            values[field] = default
            continue
        try:
            number = int(raw.strip())
        except ValueError:
            errors[field] = "must be a positive integer"
            continue
        if number < 1:
            errors[field] = "must be a positive integer"
            continue
        values[field] = number
    if errors:
        raise ApiError.validation(errors)
    return Paging(page=values["page"], per_page=min(values["per_page"], MAX_PER_PAGE))


def parse_filter(query: Mapping[str, str], field: str, allowed: tuple[str, ...]) -> str | None:
    """An optional enum filter; a value outside `allowed` is INVALID_TYPE per the error table."""
    raw = query.get(field)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise ApiError(
            INVALID_TYPE,
            f"Invalid {field} filter: {raw!r}",
            {field: "must be one of " + ", ".join(allowed)},
        )
    return raw


def parse_download_options(query: Mapping[str, str]) -> tuple[str, str]:
    errors: dict[str, str] = {}
    fmt = query.get("format") or "ip:port"
    if fmt not in DOWNLOAD_FORMATS:
        errors["format"] = "must be one of " + ", ".join(DOWNLOAD_FORMATS)
    protocol = query.get("protocol") or "https"
    if protocol not in DOWNLOAD_PROTOCOLS:
        errors["protocol"] = "must be one of " + ", ".join(DOWNLOAD_PROTOCOLS)
    if errors:
        raise ApiError.validation(errors)
    return fmt, protocol
