"""The sandbox's world as JSON, so a program that runs it (the playground) can stop and resume.

`dump_state` turns a `SandboxState` into plain JSON types; `restore_state` fills a *fresh*
one from that. What is kept: accounts (key, balance, deposit addresses, the replayable
outcomes of POST /orders per Idempotency-Key), orders with their proxies, transactions, the
addresses handed out and the id generator's position, so new ids and addresses never repeat
old ones. What is not: injected faults (their gates belong to one process), request counts
and rate-limit buckets (they refill within seconds anyway).

A snapshot the code cannot read (another version, a missing or mistyped field) raises
`SnapshotError` and leaves it to the caller to start fresh; `SandboxState` itself stays
in-memory only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.errors import ApiError
from sandbox.state import Account, Order, OrderReceipt, Proxy, SandboxState, Transaction

VERSION = 1


class SnapshotError(ValueError):
    """A snapshot this version cannot restore."""


def dump_state(state: SandboxState) -> dict[str, Any]:
    version, internal, gauss = state._rng.getstate()
    return {
        "version": VERSION,
        "accounts": [_account(a) for a in state.accounts.values()],
        "orders": [_order(o) for o in state.orders.values()],
        "transactions": [_transaction(t) for t in state.transactions],
        "used_ips": sorted(state._used_ips),
        "rng": [version, list(internal), gauss],
        "upstream_seq": state._upstream_seq,
    }


def restore_state(state: SandboxState, data: object) -> None:
    """Fill `state` (just created, still empty) from `dump_state`'s output."""
    if state.accounts or state.orders or state.transactions:
        raise ValueError("restore_state fills a fresh SandboxState only")
    try:
        if not isinstance(data, Mapping) or data.get("version") != VERSION:
            raise SnapshotError(f"not a sandbox snapshot of version {VERSION}")
        for item in data["accounts"]:
            account = _load_account(item)
            state.accounts[account.id] = account
            state._by_key[account.api_key] = account
        for item in data["orders"]:
            order = _load_order(item)
            if order.account_id not in state.accounts:
                raise SnapshotError(f"order {order.id} of an unknown account")
            state.orders[order.id] = order
        state.transactions.extend(_load_transaction(t) for t in data["transactions"])
        state._used_ips.update(str(ip) for ip in data["used_ips"])
        version, internal, gauss = data["rng"]
        state._rng.setstate((int(version), tuple(int(x) for x in internal), gauss))
        state._upstream_seq = int(data["upstream_seq"])
    except SnapshotError:
        raise
    except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
        raise SnapshotError(f"unreadable sandbox snapshot: {exc!r}") from exc


# -- one object each way ----------------------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _load_when(value: object) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise SnapshotError(f"a time without a zone: {value!r}")
    return moment


def _load_required_when(value: object) -> datetime:
    moment = _load_when(value)
    if moment is None:
        raise SnapshotError("a required time is missing")
    return moment


def _account(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "email": account.email,
        "name": account.name,
        "api_key": account.api_key,
        "balance": str(account.balance),
        "banned": account.banned,
        "verified": account.verified,
        "created_at": _when(account.created_at),
        "deposit_addresses": dict(account.deposit_addresses),
        "idempotency": {key: _receipt(r) for key, r in account.idempotency.items()},
    }


def _load_account(item: Mapping[str, Any]) -> Account:
    return Account(
        id=str(item["id"]),
        email=str(item["email"]),
        name=item["name"] if item["name"] is None else str(item["name"]),
        api_key=str(item["api_key"]),
        balance=Decimal(str(item["balance"])),
        banned=bool(item["banned"]),
        verified=bool(item["verified"]),
        created_at=_load_required_when(item["created_at"]),
        deposit_addresses={str(k): str(v) for k, v in item["deposit_addresses"].items()},
        idempotency={str(k): _load_receipt(v) for k, v in item["idempotency"].items()},
    )


def _receipt(receipt: OrderReceipt) -> dict[str, Any]:
    error = receipt.error
    return {
        "order_id": receipt.order_id,
        "charged": str(receipt.charged),
        "upstream_order_id": receipt.upstream_order_id,
        "error": None if error is None else {
            "code": error.code, "message": error.message, "details": error.details,
            "retry_after": error.retry_after,
        },
    }


def _load_receipt(item: Mapping[str, Any]) -> OrderReceipt:
    error = item["error"]
    return OrderReceipt(
        order_id=str(item["order_id"]),
        charged=Decimal(str(item["charged"])),
        upstream_order_id=str(item["upstream_order_id"]),
        error=None if error is None else ApiError(
            str(error["code"]), str(error["message"]), dict(error["details"]),
            retry_after=error["retry_after"],
        ),
    )


def _order(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "account_id": order.account_id,
        "type": order.type,
        "quantity": order.quantity,
        "charged_amount": str(order.charged_amount),
        "status": order.status,
        "created_at": _when(order.created_at),
        "updated_at": _when(order.updated_at),
        "upstream_order_id": order.upstream_order_id,
        "country_id": order.country_id,
        "period_id": order.period_id,
        "protocol": order.protocol,
        "mobile_service_type": order.mobile_service_type,
        "operator_id": order.operator_id,
        "rotation_id": order.rotation_id,
        "tarif_id": order.tarif_id,
        "coupon": order.coupon,
        "currency": order.currency,
        "expires_at": _when(order.expires_at),
        "proxies": [
            {
                "ip": p.ip, "port_https": p.port_https, "port_socks5": p.port_socks5,
                "login": p.login, "password": p.password, "country": p.country,
                "expires_at": _when(p.expires_at),
            }
            for p in order.proxies
        ],
    }


def _optional_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _load_order(item: Mapping[str, Any]) -> Order:
    return Order(
        id=str(item["id"]),
        account_id=str(item["account_id"]),
        type=str(item["type"]),
        quantity=int(item["quantity"]),
        charged_amount=Decimal(str(item["charged_amount"])),
        status=str(item["status"]),
        created_at=_load_required_when(item["created_at"]),
        updated_at=_load_required_when(item["updated_at"]),
        upstream_order_id=str(item["upstream_order_id"]),
        country_id=_optional_int(item["country_id"]),
        period_id=_optional_int(item["period_id"]),
        protocol=_optional_str(item["protocol"]),
        mobile_service_type=_optional_str(item["mobile_service_type"]),
        operator_id=_optional_int(item["operator_id"]),
        rotation_id=_optional_int(item["rotation_id"]),
        tarif_id=_optional_int(item["tarif_id"]),
        coupon=_optional_str(item["coupon"]),
        currency=str(item["currency"]),
        expires_at=_load_when(item["expires_at"]),
        proxies=[
            Proxy(
                ip=str(p["ip"]),
                port_https=int(p["port_https"]),
                port_socks5=int(p["port_socks5"]),
                login=str(p["login"]),
                password=str(p["password"]),
                country=_optional_str(p["country"]),
                expires_at=_load_when(p["expires_at"]),
            )
            for p in item["proxies"]
        ],
    )


def _transaction(tx: Transaction) -> dict[str, Any]:
    return {
        "id": tx.id,
        "account_id": tx.account_id,
        "type": tx.type,
        "amount": str(tx.amount),
        "description": tx.description,
        "payment_method": tx.payment_method,
        "status": tx.status,
        "created_at": _when(tx.created_at),
    }


def _load_transaction(item: Mapping[str, Any]) -> Transaction:
    return Transaction(
        id=str(item["id"]),
        account_id=str(item["account_id"]),
        type=str(item["type"]),
        amount=Decimal(str(item["amount"])),
        description=str(item["description"]),
        payment_method=str(item["payment_method"]),
        status=str(item["status"]),
        created_at=_load_required_when(item["created_at"]),
    )
