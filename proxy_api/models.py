"""Typed views of the 1001Proxy API payloads.

Money is always ``Decimal``: amounts that arrive as JSON numbers are parsed
from the raw JSON text (``json.loads(parse_float=Decimal)``), never via float.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ProxyType(StrEnum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    ISP = "isp"
    MOBILE = "mobile"
    RESIDENT = "resident"
    MIX = "mix"
    MIX_ISP = "mix_isp"


class TransactionType(StrEnum):
    DEPOSIT = "deposit"
    PURCHASE = "purchase"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class OrderStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    CANCELED = "canceled"
    PENDING = "pending"


class Protocol(StrEnum):
    HTTPS = "https"
    SOCKS5 = "socks5"


class DownloadFormat(StrEnum):
    IP_PORT = "ip:port"
    USER_PASS_IP_PORT = "user:pass@ip:port"


class ApiModel(BaseModel):
    # Unknown fields are kept out; the API may add fields without breaking us.
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class Account(ApiModel):
    id: str
    email: str
    name: str | None = None
    balance: Decimal
    api_key_masked: str | None = Field(default=None, alias="apiKey")
    created_at: AwareDatetime = Field(alias="createdAt")


class Transaction(ApiModel):
    id: str
    type: str
    amount: Decimal
    description: str | None = None
    payment_method: str | None = Field(default=None, alias="paymentMethod")
    status: str
    created_at: AwareDatetime = Field(alias="createdAt")


class PageMeta(ApiModel):
    page: int
    per_page: int = Field(alias="perPage")
    total: int
    total_pages: int = Field(alias="totalPages")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    meta: PageMeta


class OrderRequest(ApiModel):
    """Body of POST /orders/calc and POST /orders; fields a type does not use stay None."""

    type: ProxyType
    country_id: int | None = Field(default=None, alias="countryId")
    period_id: int | None = Field(default=None, alias="periodId")
    quantity: int | None = None
    protocol: str | None = None
    mobile_service_type: str | None = Field(default=None, alias="mobileServiceType")
    operator_id: int | None = Field(default=None, alias="operatorId")
    rotation_id: int | None = Field(default=None, alias="rotationId")
    tarif_id: int | None = Field(default=None, alias="tarifId")
    coupon: str | None = None

    def to_body(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Quote(ApiModel):
    type: str
    quantity: int | None = None
    price: Decimal
    unit_price: Decimal | None = Field(default=None, alias="unitPrice")
    currency: str = "USD"


class CreatedOrder(ApiModel):
    ok: bool = True
    order_id: str = Field(alias="orderId")
    charged: Decimal
    upstream_order_id: str | None = Field(default=None, alias="upstreamOrderId")


class Order(ApiModel):
    id: str
    type: str
    status: str
    quantity: int
    charged_amount: Decimal = Field(alias="chargedAmount")
    currency: str = "USD"
    country_id: int | None = Field(default=None, alias="countryId")
    protocol: str | None = None
    expires_at: AwareDatetime | None = Field(default=None, alias="expiresAt")
    created_at: AwareDatetime = Field(alias="createdAt")
    proxy_count: int = Field(default=0, alias="proxyCount")


class OrderDetails(Order):
    period_id: int | None = Field(default=None, alias="periodId")
    mobile_service_type: str | None = Field(default=None, alias="mobileServiceType")
    updated_at: AwareDatetime | None = Field(default=None, alias="updatedAt")


class ProxyCredential(ApiModel):
    ip: str | None = None
    port_https: int | None = Field(default=None, alias="portHttps")
    port_socks5: int | None = Field(default=None, alias="portSocks5")
    login: str | None = None
    password: str | None = None
    country: str | None = None
    expires_at: date | None = Field(default=None, alias="expiresAt")


class ExtendResult(ApiModel):
    ok: bool = True
    charged: Decimal


class Country(ApiModel):
    id: int
    name: str
    code: str | None = None


class Period(ApiModel):
    id: int
    name: str
    days: int | None = None


class Tarif(ApiModel):
    id: int
    name: str
    price: Decimal | None = None
    traffic: Decimal | None = None


class Operator(ApiModel):
    id: int
    name: str


class Rotation(ApiModel):
    id: int
    name: str


class Reference(ApiModel):
    countries: list[Country] = Field(default_factory=list)
    periods: list[Period] = Field(default_factory=list)
    tarifs: list[Tarif] = Field(default_factory=list)
    operators: list[Operator] = Field(default_factory=list)
    rotations: list[Rotation] = Field(default_factory=list)

    def country(self, country_id: int) -> Country | None:
        return next((c for c in self.countries if c.id == country_id), None)

    def period(self, period_id: int) -> Period | None:
        return next((p for p in self.periods if p.id == period_id), None)

    def tarif(self, tarif_id: int) -> Tarif | None:
        return next((t for t in self.tarifs if t.id == tarif_id), None)

    def operator(self, operator_id: int) -> Operator | None:
        return next((o for o in self.operators if o.id == operator_id), None)

    def rotation(self, rotation_id: int) -> Rotation | None:
        return next((r for r in self.rotations if r.id == rotation_id), None)


class DepositAddress(ApiModel):
    currency: str
    network: str
    address: str | None = None


DEPOSIT_CURRENCIES: tuple[str, ...] = (
    "USDT_TRC20", "USDT_ERC20", "USDT_BEP20", "USDT_SOL", "USDT_POLYGON", "USDT_TON",
    "USDC_ERC20", "USDC_BEP20", "USDC_SOL", "USDC_BASE", "DAI_ERC20", "DAI_POLYGON",
    "BTC", "ETH", "ETH_BASE", "LTC", "DOGE", "BCH", "XMR", "XRP", "TRX", "BNB", "SOL",
    "POL", "TON", "SHIB_ERC20",
)
