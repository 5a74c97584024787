"""The purchase wizard's data: its state, the priced quote, the receipt, and their rules.

The wizard's state (``Wizard``) is plain JSON kept in the FSM storage, so a restart
mid-wizard continues where the user was; ``from_dict`` accepts anything storage or a
forged button could hold and falls back to safe defaults.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from core.geo import fold, iso_code
from proxy_api import Country, OrderRequest, ProxyApiError, ProxyType, Reference
from services.account import API_KEY_MIN_LENGTH
from services.catalogue import CATALOGUE, Step
from services.errors import BotError
from storage.operations import Operation

OPERATION_KIND = "order"

TYPE = Step.TYPE
COUNTRY = Step.COUNTRY
SERVICE = Step.SERVICE
OPERATOR = Step.OPERATOR
ROTATION = Step.ROTATION
PERIOD = Step.PERIOD
QUANTITY = Step.QUANTITY
PROTOCOL = Step.PROTOCOL
TARIF = Step.TARIF
QUOTE = Step.QUOTE
COUPON = Step.COUPON

# The steps between choosing the type and the quote, per type (from the catalogue).
FLOWS: dict[str, tuple[str, ...]] = {kind.type.value: kind.steps for kind in CATALOGUE}
PROXY_TYPES: tuple[str, ...] = tuple(FLOWS)
STEPS: tuple[str, ...] = tuple(Step)

QUANTITY_PRESETS: tuple[int, ...] = (1, 5, 10, 25, 50, 100)
# The quantity the period and quantity screens price their buttons at (one calc per screen,
# the same request on both, so the second finds the first's answer in the price book). Not 1:
# an answer at 10 shows whether the total is the unit price times the quantity, which the
# preset totals rely on.
PROBE_QUANTITY = 10
MIN_QUANTITY = 1
# The API documents only "min 1"; a four-digit bound catches typos such as 10000.
MAX_QUANTITY = 1000
SERVICE_TYPES: tuple[str, ...] = ("shared", "dedicated")
PROTOCOLS: tuple[str, ...] = ("HTTPS", "SOCKS5")
MAX_SEARCH_LENGTH = 40
# Shorter than any API key, so a typed coupon is never taken for a pasted key.
MAX_COUPON_LENGTH = API_KEY_MIN_LENGTH - 1
_COUPON_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
# Prices may change; a quote older than this is priced again before anything is bought.
QUOTE_TTL = timedelta(minutes=30)

def quote_of(op: Operation) -> QuoteView | None:
    """The quote an order operation was recorded with (to remind the user of it)."""
    try:
        return QuoteView.from_dict(op.request["view"])
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None  # only shown to remind the user; the key is what matters


class Notice(StrEnum):
    """Why a screen is shown again instead of moving on; the view turns it into words."""

    STALE = "stale"
    BAD_QUANTITY = "bad_quantity"
    NO_MATCH = "no_match"
    USE_BUTTONS = "use_buttons"
    BAD_COUPON = "bad_coupon"
    COUPON_REJECTED = "coupon_rejected"
    COUPON_APPLIED = "coupon_applied"
    REQUOTED = "requoted"


class OrderUnresolved(BotError):
    """An order of this chat may already be placed; it must be settled before a new one.

    ``op_id`` is its key (a resend settles it), ``quote`` what was ordered and ``cause``
    the API error of the attempt that just ended without an answer, if any.
    """

    def __init__(
        self, op_id: str, quote: QuoteView | None = None, cause: ProxyApiError | None = None
    ) -> None:
        super().__init__("an earlier order is unresolved")
        self.op_id = op_id
        self.quote = quote
        self.cause = cause


# -- wizard state -----------------------------------------------------------------------


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value):
        return int(value)
    return None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class Selection:
    """What the user picked so far; only the fields of ``type``'s flow are ever sent."""

    type: str | None = None
    country_id: int | None = None
    service: str | None = None
    operator_id: int | None = None
    rotation_id: int | None = None
    period_id: int | None = None
    quantity: int | None = None
    protocol: str | None = None
    tarif_id: int | None = None
    coupon: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: object) -> Selection:
        if not isinstance(data, dict):
            return cls()
        proxy_type = data.get("type")
        return cls(
            type=proxy_type if proxy_type in FLOWS else None,
            country_id=_int_or_none(data.get("country_id")),
            service=data.get("service") if data.get("service") in SERVICE_TYPES else None,
            operator_id=_int_or_none(data.get("operator_id")),
            rotation_id=_int_or_none(data.get("rotation_id")),
            period_id=_int_or_none(data.get("period_id")),
            quantity=_int_or_none(data.get("quantity")),
            protocol=data.get("protocol") if data.get("protocol") in PROTOCOLS else None,
            tarif_id=_int_or_none(data.get("tarif_id")),
            coupon=_str_or_none(data.get("coupon")),
        )

    def value(self, step: str) -> object:
        return {
            TYPE: self.type,
            COUNTRY: self.country_id,
            SERVICE: self.service,
            OPERATOR: self.operator_id,
            ROTATION: self.rotation_id,
            PERIOD: self.period_id,
            QUANTITY: self.quantity,
            PROTOCOL: self.protocol,
            TARIF: self.tarif_id,
        }.get(step)

    def missing_step(self) -> str | None:
        """The first step of the flow without a choice, or None when the order is complete."""
        if self.type is None:
            return TYPE
        return next((s for s in FLOWS[self.type] if self.value(s) is None), None)

    def to_request(self) -> OrderRequest:
        assert self.type is not None and self.missing_step() is None
        steps = FLOWS[self.type]
        return OrderRequest(
            type=ProxyType(self.type),
            country_id=self.country_id if COUNTRY in steps else None,
            period_id=self.period_id if PERIOD in steps else None,
            quantity=self.quantity if QUANTITY in steps else None,
            protocol=self.protocol if PROTOCOL in steps else None,
            mobile_service_type=self.service if SERVICE in steps else None,
            operator_id=self.operator_id if OPERATOR in steps else None,
            rotation_id=self.rotation_id if ROTATION in steps else None,
            tarif_id=self.tarif_id if TARIF in steps else None,
            coupon=self.coupon,
        )


@dataclass
class Wizard:
    """Where the user is: the step, the choices, the country list position, the quote."""

    step: str = TYPE
    sel: Selection = field(default_factory=Selection)
    # The country list page the user turned to; None: wherever the chosen country is.
    page: int | None = None
    search: str = ""
    op_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"step": self.step, "sel": self.sel.to_dict()}
        if self.page is not None:
            data["page"] = self.page
        if self.search:
            data["search"] = self.search
        if self.op_id:
            data["op"] = self.op_id
        return data

    @classmethod
    def from_dict(cls, data: object) -> Wizard:
        if not isinstance(data, dict):
            return cls()
        step = data.get("step")
        page = _int_or_none(data.get("page"))
        search = data.get("search")
        return cls(
            step=step if step in STEPS else TYPE,
            sel=Selection.from_dict(data.get("sel")),
            page=page if page is not None and page >= 0 else None,
            search=search[:MAX_SEARCH_LENGTH] if isinstance(search, str) else "",
            op_id=_str_or_none(data.get("op")),
        )

    def flow(self) -> tuple[str, ...]:
        middle = FLOWS[self.sel.type] if self.sel.type else ()
        return (TYPE, *middle, QUOTE)

    def leads_to_quote(self, step: str) -> bool:
        """Whether a choice at ``step`` now goes on to price the quote (slow: API calls)."""
        flow = self.flow()
        if step != self.step or step not in flow:
            return False
        return flow[flow.index(step) + 1] == QUOTE


# -- what the screens show --------------------------------------------------------------


def _dec(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    # "NaN" or "Infinity" from storage would crash the first comparison: not an amount.
    return number if number.is_finite() else None


@dataclass(frozen=True)
class QuoteView:
    """A priced selection as shown on the quote screen; stored with its operation."""

    op_id: str
    type: str
    total: Decimal
    unit_price: Decimal | None = None
    balance: Decimal | None = None
    currency: str = "USD"
    country: str | None = None
    country_code: str | None = None
    country_id: int | None = None
    period: str | None = None
    period_id: int | None = None
    period_days: int | None = None
    quantity: int | None = None
    protocol: str | None = None
    service: str | None = None
    operator: str | None = None
    rotation: str | None = None
    tarif: str | None = None
    traffic: Decimal | None = None
    coupon: str | None = None
    # What the coupon took off: the API's price without it minus its price with it.
    discount: Decimal | None = None

    @property
    def balance_after(self) -> Decimal | None:
        return None if self.balance is None else self.balance - self.total

    @property
    def affordable(self) -> bool:
        return self.balance is None or self.balance >= self.total

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (str(v) if isinstance(v, Decimal) else v)
            for k, v in asdict(self).items()
            if v is not None
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuoteView:
        return cls(
            op_id=str(data["op_id"]),
            type=str(data["type"]),
            total=Decimal(str(data["total"])),
            unit_price=_dec(data.get("unit_price")),
            balance=_dec(data.get("balance")),
            currency=str(data.get("currency") or "USD"),
            country=data.get("country"),
            country_code=data.get("country_code"),
            country_id=_int_or_none(data.get("country_id")),
            period=data.get("period"),
            period_id=_int_or_none(data.get("period_id")),
            period_days=_int_or_none(data.get("period_days")),
            quantity=_int_or_none(data.get("quantity")),
            protocol=data.get("protocol"),
            service=data.get("service"),
            operator=data.get("operator"),
            rotation=data.get("rotation"),
            tarif=data.get("tarif"),
            traffic=_dec(data.get("traffic")),
            coupon=data.get("coupon"),
            discount=_dec(data.get("discount")),
        )


@dataclass(frozen=True)
class Receipt:
    order_id: str
    type: str
    charged: Decimal
    balance: Decimal | None = None
    quantity: int | None = None
    country: str | None = None
    country_code: str | None = None
    period: str | None = None
    period_days: int | None = None
    tarif: str | None = None
    status: str | None = None
    expires_at: datetime | None = None
    service: str | None = None
    operator: str | None = None
    rotation: str | None = None
    protocol: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["charged"] = str(self.charged)
        data["balance"] = str(self.balance) if self.balance is not None else None
        data["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Receipt:
        expires = data.get("expires_at")
        return cls(
            order_id=str(data["order_id"]),
            type=str(data.get("type") or ""),
            charged=Decimal(str(data["charged"])),
            balance=_dec(data.get("balance")),
            quantity=_int_or_none(data.get("quantity")),
            country=data.get("country"),
            country_code=data.get("country_code"),
            period=data.get("period"),
            period_days=_int_or_none(data.get("period_days")),
            tarif=data.get("tarif"),
            status=data.get("status"),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            service=data.get("service"),
            operator=data.get("operator"),
            rotation=data.get("rotation"),
            protocol=data.get("protocol"),
        )


@dataclass(frozen=True)
class WizardStep:
    """Where the wizard is and what its step needs: the service's answer to every action.

    ``countries`` is the whole (searched) country list; how much of it a screen shows at
    once is the Telegram side's business (views/buy.py).
    """

    wizard: Wizard
    reference: Reference | None = None
    countries: tuple[Country, ...] = ()
    quote: QuoteView | None = None
    notice: Notice | None = None
    detail: str = ""
    # The API's prices for this step's choices, by the value a button sends: the price per
    # proxy of a period, the total of a quantity preset, the total of a traffic package.
    prices: dict[str, Decimal] = field(default_factory=dict)
    # The price per proxy (per GB for packages) the step's text names, when one is known.
    unit_price: Decimal | None = None


def parse_quantity(text: str) -> int | None:
    """A typed quantity: digits only (spaces allowed), within bounds, else None."""
    cleaned = text.strip().replace(" ", "").replace("_", "")
    if not cleaned.isascii() or not cleaned.isdigit() or len(cleaned) > 7:
        return None
    number = int(cleaned)
    return number if MIN_QUANTITY <= number <= MAX_QUANTITY else None


CountryNames = Callable[[Country], Sequence[str]]


def api_names(country: Country) -> tuple[str, ...]:
    """The names of a country as the API gives them (the search's default)."""
    return (country.name,)


def search_countries(
    countries: list[Country], query: str, names: CountryNames = api_names
) -> list[Country]:
    """Countries one of whose ``names`` contains ``query``, or whose ISO code is it; name
    prefixes and codes first, otherwise in the API's order.

    ``names`` gives the names a user may type (their language's and English: the Telegram
    side knows which, see views/names.py). Case, accents and ё do not matter.
    """
    folded = fold(query)
    if not folded:
        return list(countries)
    ranked: list[tuple[bool, Country]] = []
    for country in countries:
        code = iso_code(country.name, country.code)
        if code is not None and code.casefold() == folded:
            ranked.append((True, country))
            continue
        candidates = [fold(name) for name in names(country)]
        if any(folded in name for name in candidates):
            ranked.append((any(name.startswith(folded) for name in candidates), country))
    # sorted() is stable: within each group the API's order stays.
    return [country for first, country in sorted(ranked, key=lambda r: not r[0])]
