"""Domain objects -> the JSON shapes of the spec (field names, money, timestamps).

Money stays `Decimal` here so `sandbox.jsonout` writes it as a two-decimal JSON number;
`balance` and the 402 details are the spec's strings and are formatted explicitly.
"""

from __future__ import annotations

from typing import Any

from sandbox.jsonout import iso_date, iso_ms, money_text
from sandbox.seed import Catalog, Currency
from sandbox.state import Account, Order, Page, Proxy, Quote, Transaction

JsonObject = dict[str, Any]


def account(acc: Account) -> JsonObject:
    return {
        "id": acc.id,
        "email": acc.email,
        "name": acc.name,
        "balance": money_text(acc.balance),
        "apiKey": acc.masked_api_key,
        "createdAt": iso_ms(acc.created_at),
    }


def transaction(tx: Transaction) -> JsonObject:
    return {
        "id": tx.id,
        "type": tx.type,
        "amount": tx.amount,
        "description": tx.description,
        "paymentMethod": tx.payment_method,
        "status": tx.status,
        "createdAt": iso_ms(tx.created_at),
    }


def quote(q: Quote) -> JsonObject:
    return {
        "type": q.type,
        "quantity": q.quantity,
        "price": q.price,
        "unitPrice": q.unit_price,
        "currency": q.currency,
    }


def order_summary(order: Order, status: str) -> JsonObject:
    """The GET /orders item; `status` is the derived one (may be "expired")."""
    return {
        "id": order.id,
        "type": order.type,
        "status": status,
        "quantity": order.quantity,
        "chargedAmount": order.charged_amount,
        "currency": order.currency,
        "countryId": order.country_id,
        "protocol": order.protocol,
        "expiresAt": iso_ms(order.expires_at) if order.expires_at else None,
        "createdAt": iso_ms(order.created_at),
        "proxyCount": order.proxy_count,
    }


def order_detail(order: Order, status: str) -> JsonObject:
    """GET /orders/{id}: the fields of the spec's detail example, in its order."""
    return {
        "id": order.id,
        "type": order.type,
        "status": status,
        "quantity": order.quantity,
        "chargedAmount": order.charged_amount,
        "currency": order.currency,
        "countryId": order.country_id,
        "periodId": order.period_id,
        "protocol": order.protocol,
        "mobileServiceType": order.mobile_service_type,
        "expiresAt": iso_ms(order.expires_at) if order.expires_at else None,
        "createdAt": iso_ms(order.created_at),
        "updatedAt": iso_ms(order.updated_at),
        "proxyCount": order.proxy_count,
    }


def proxy(p: Proxy) -> JsonObject:
    return {
        "ip": p.ip,
        "portHttps": p.port_https,
        "portSocks5": p.port_socks5,
        "login": p.login,
        "password": p.password,
        "country": p.country,
        "expiresAt": iso_date(p.expires_at) if p.expires_at else None,
    }


def reference(catalog: Catalog, proxy_type: str) -> JsonObject:
    if proxy_type == "resident":
        return {
            "tarifs": [
                # The spec: "Traffic packages with prices (per GB)".
                {"id": t.id, "name": t.name, "price": t.price_per_gb, "traffic": t.traffic_gb}
                for t in catalog.tarifs
            ]
        }
    data: JsonObject = {
        "countries": [{"id": c.id, "name": c.name, "code": c.code} for c in catalog.countries],
        "periods": [{"id": p.id, "name": p.name, "days": p.days} for p in catalog.periods],
    }
    if proxy_type == "mobile":
        data["operators"] = [{"id": o.id, "name": o.name} for o in catalog.operators]
        data["rotations"] = [{"id": r.id, "name": r.name} for r in catalog.rotations]
    return data


def deposit_address(currency: Currency, address: str | None) -> JsonObject:
    return {"currency": currency.code, "network": currency.network, "address": address}


def meta(page: Page[Any]) -> JsonObject:
    return {
        "page": page.page,
        "perPage": page.per_page,
        "total": page.total,
        "totalPages": page.total_pages,
    }
