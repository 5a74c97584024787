"""The purchase wizard: its steps per proxy type, quotes, and placing an order exactly once.

The wizard's state (``Wizard``) is plain JSON kept in the FSM storage, so a restart
mid-wizard continues where the user was. Every quote records an operation (kind
"order") whose id is the Idempotency-Key of POST /orders: a second tap, a retry after a
timeout or a tap after a restart all resend that same key, and ``claim()`` lets only one
of them talk to the API at a time.

An order whose answer was lost (``unknown``) may already be placed and charged. Until a
resend of its key settles it, the chat gets no new key (``OrderUnresolved``): a new quote
would be a second order that the provider has every reason to accept.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from core.clock import Clock
from proxy_api import (
    Country,
    OrderRequest,
    ProxyApiError,
    ProxyType,
    Quote,
    Reference,
    ValidationError,
)
from services.account import API_KEY_MIN_LENGTH, AccountService
from services.errors import BotError, StaleAction
from storage import Repositories
from storage.operations import IN_FLIGHT, UNKNOWN, Operation

log = logging.getLogger(__name__)

OPERATION_KIND = "order"

TYPE = "type"
COUNTRY = "country"
SERVICE = "service"
OPERATOR = "operator"
ROTATION = "rotation"
PERIOD = "period"
QUANTITY = "quantity"
PROTOCOL = "protocol"
TARIF = "tarif"
QUOTE = "quote"
COUPON = "coupon"

# The steps between choosing the type and the quote, per type (from the API's
# "Order Creation Parameters by Proxy Type").
FLOWS: dict[str, tuple[str, ...]] = {
    ProxyType.IPV4: (COUNTRY, PERIOD, QUANTITY),
    ProxyType.ISP: (COUNTRY, PERIOD, QUANTITY),
    ProxyType.MIX: (COUNTRY, PERIOD, QUANTITY),
    ProxyType.MIX_ISP: (COUNTRY, PERIOD, QUANTITY),
    ProxyType.IPV6: (COUNTRY, PERIOD, QUANTITY, PROTOCOL),
    ProxyType.MOBILE: (COUNTRY, SERVICE, OPERATOR, ROTATION, PERIOD, QUANTITY),
    ProxyType.RESIDENT: (TARIF,),
}
PROXY_TYPES: tuple[str, ...] = ("ipv4", "ipv6", "isp", "mobile", "resident", "mix", "mix_isp")
STEPS: tuple[str, ...] = (
    TYPE, COUNTRY, SERVICE, OPERATOR, ROTATION, PERIOD, QUANTITY, PROTOCOL, TARIF, QUOTE, COUPON,
)

QUANTITY_PRESETS: tuple[int, ...] = (1, 5, 10, 25, 50, 100)
MIN_QUANTITY = 1
# The API documents only "min 1"; a four-digit bound catches typos such as 10000.
MAX_QUANTITY = 1000
SERVICE_TYPES: tuple[str, ...] = ("shared", "dedicated")
PROTOCOLS: tuple[str, ...] = ("HTTPS", "SOCKS5")
COUNTRIES_PER_PAGE = 10
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


class PurchaseFailed(BotError):
    """The provider failed the order (502); ``refunded`` says whether the debit came back."""

    def __init__(self, refunded: bool) -> None:
        super().__init__("purchase failed at the provider")
        self.refunded = refunded


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
    page: int = 0
    search: str = ""
    op_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"step": self.step, "sel": self.sel.to_dict(), "page": self.page}
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
            page=page if page is not None and page >= 0 else 0,
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
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


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
    tarif: str | None = None
    status: str | None = None
    expires_at: datetime | None = None

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
            tarif=data.get("tarif"),
            status=data.get("status"),
            expires_at=datetime.fromisoformat(expires) if expires else None,
        )


@dataclass(frozen=True)
class Screen:
    """One step to draw: the wizard, the data its buttons need, and why it is shown."""

    wizard: Wizard
    reference: Reference | None = None
    countries: tuple[Country, ...] = ()  # the visible page of the (searched) country list
    pages: int = 1
    quote: QuoteView | None = None
    notice: Notice | None = None
    detail: str = ""


def parse_quantity(text: str) -> int | None:
    """A typed quantity: digits only (spaces allowed), within bounds, else None."""
    cleaned = text.strip().replace(" ", "").replace("_", "")
    if not cleaned.isascii() or not cleaned.isdigit() or len(cleaned) > 7:
        return None
    number = int(cleaned)
    return number if MIN_QUANTITY <= number <= MAX_QUANTITY else None


def _matches(country: Country, query: str) -> bool:
    if country.code and country.code.casefold() == query:
        return True
    return query in country.name.casefold()


def search_countries(countries: list[Country], query: str) -> list[Country]:
    """Countries whose name contains ``query`` (or whose code is it); name prefixes first."""
    query = query.strip().casefold()
    if not query:
        return list(countries)
    found = [c for c in countries if _matches(c, query)]
    return sorted(found, key=lambda c: not c.name.casefold().startswith(query))


# -- the service --------------------------------------------------------------------------


class PurchaseService:
    def __init__(self, accounts: AccountService, repos: Repositories, clock: Clock) -> None:
        self._accounts = accounts
        self._repos = repos
        self._clock = clock

    # -- wizard navigation --------------------------------------------------------------

    async def start(self, chat_id: int) -> Screen:
        await self._accounts.api_for(chat_id)  # not linked: say so before the first step
        await self._ensure_resolved(chat_id)
        return Screen(Wizard())

    async def show(self, chat_id: int, wizard: Wizard, notice: Notice | None = None) -> Screen:
        """The current step again (after a restart, a stale tap or stray text)."""
        return await self._screen(chat_id, wizard, notice)

    async def choose(
        self,
        chat_id: int,
        user_id: int | None,
        wizard: Wizard,
        step: str,
        value: str,
    ) -> Screen:
        """Take ``value`` for ``step`` (a tap or typed quantity) and move to the next step."""
        if step != wizard.step or step in (QUOTE, COUPON):
            return await self._screen(chat_id, wizard, Notice.STALE)
        sel = replace(wizard.sel)
        if step == TYPE:
            if value not in FLOWS:
                return await self._screen(chat_id, wizard, Notice.STALE)
            if value != sel.type:
                sel = Selection(type=value)
        else:
            if sel.type is None:
                return await self._screen(chat_id, replace(wizard, step=TYPE), Notice.STALE)
            reference = await self._reference(chat_id, sel.type)
            notice = self._apply(sel, step, value, reference)
            if notice is not None:
                return await self._screen(chat_id, wizard, notice, reference)
        moved = replace(wizard, sel=sel)
        flow = moved.flow()
        following = flow[flow.index(step) + 1]
        if following == QUOTE:
            return await self._quote(chat_id, user_id, moved)
        return await self._enter(chat_id, moved, following)

    async def back(self, chat_id: int, wizard: Wizard) -> Screen:
        if wizard.step == COUPON:
            return await self._screen(chat_id, replace(wizard, step=QUOTE))
        flow = wizard.flow()
        if wizard.step not in flow or wizard.step == TYPE:
            return await self._screen(chat_id, replace(wizard, step=TYPE))
        return await self._enter(chat_id, wizard, flow[flow.index(wizard.step) - 1])

    async def turn_page(self, chat_id: int, wizard: Wizard, page: str) -> Screen:
        number = _int_or_none(page)
        if wizard.step != COUNTRY or number is None or number < 0:
            return await self._screen(chat_id, wizard, Notice.STALE)
        return await self._screen(chat_id, replace(wizard, page=number))

    async def search(self, chat_id: int, wizard: Wizard, text: str) -> Screen:
        """Typed text on the country step narrows the list ("ger" → Germany)."""
        query = " ".join(text.split())[:MAX_SEARCH_LENGTH]
        if wizard.step != COUNTRY or wizard.sel.type is None:
            return await self._screen(chat_id, wizard, Notice.USE_BUTTONS)
        reference = await self._reference(chat_id, wizard.sel.type)
        if not query or not search_countries(reference.countries, query):
            return await self._screen(
                chat_id, replace(wizard, search="", page=0), Notice.NO_MATCH, reference, query
            )
        return await self._screen(chat_id, replace(wizard, search=query, page=0), None, reference)

    async def clear_search(self, chat_id: int, wizard: Wizard) -> Screen:
        if wizard.step != COUNTRY:
            return await self._screen(chat_id, wizard, Notice.STALE)
        return await self._enter(chat_id, replace(wizard, search=""), COUNTRY)

    # -- quotes and coupons ---------------------------------------------------------------

    async def ask_coupon(self, chat_id: int, wizard: Wizard) -> Screen:
        if wizard.step != QUOTE or wizard.op_id is None:
            return await self._screen(chat_id, wizard, Notice.STALE)
        return await self._screen(chat_id, replace(wizard, step=COUPON))

    async def apply_coupon(
        self, chat_id: int, user_id: int | None, wizard: Wizard, code: str
    ) -> Screen:
        """Re-quote with a coupon; a rejected one keeps the current quote, with the reason."""
        code = code.strip()
        if len(code) > MAX_COUPON_LENGTH or not _COUPON_SHAPE.match(code):
            return await self._screen(chat_id, wizard, Notice.BAD_COUPON)
        with_coupon = replace(wizard, sel=replace(wizard.sel, coupon=code))
        try:
            screen = await self._quote(chat_id, user_id, with_coupon)
        except ValidationError as exc:
            reason = str(exc.details.get("coupon") or exc.message)
            log.info("chat %s: coupon rejected (%s)", chat_id, reason)
            return await self._screen(
                chat_id, replace(wizard, step=QUOTE), Notice.COUPON_REJECTED, detail=reason
            )
        return replace(screen, notice=Notice.COUPON_APPLIED)

    async def remove_coupon(
        self, chat_id: int, user_id: int | None, wizard: Wizard
    ) -> Screen:
        if wizard.step not in (QUOTE, COUPON) or wizard.sel.coupon is None:
            return await self._screen(chat_id, wizard, Notice.STALE)
        return await self._quote(
            chat_id, user_id, replace(wizard, sel=replace(wizard.sel, coupon=None))
        )

    async def requote(
        self, chat_id: int, user_id: int | None, wizard: Wizard
    ) -> Screen:
        """Price the same selection again (after a failed purchase): a new quote, a new key."""
        if wizard.step not in (QUOTE, COUPON):
            return await self._screen(chat_id, wizard, Notice.STALE)
        return await self._quote(chat_id, user_id, wizard)

    async def saved_quote(self, chat_id: int, op_id: str) -> Screen:
        """The quote screen of an operation, from the database alone (no API call)."""
        op = await self._operation(chat_id, op_id)
        view = QuoteView.from_dict(op.request["view"])
        wizard = Wizard.from_dict(op.request.get("wizard"))
        return Screen(replace(wizard, step=QUOTE, op_id=op_id), quote=view)

    # -- for checkout ---------------------------------------------------------------------

    async def requote_operation(
        self, chat_id: int, user_id: int | None, op: Operation
    ) -> Screen:
        """A quote too old to buy at, priced again (a new operation, a new key)."""
        wizard = replace(Wizard.from_dict(op.request.get("wizard")), step=QUOTE, op_id=op.op_id)
        screen = await self._quote(chat_id, user_id, wizard)
        return replace(screen, notice=Notice.REQUOTED)

    async def drop(self, op_id: str, why: str) -> None:
        """A quote that must never be bought (say, the chat linked another account)."""
        await self._repos.operations.fail_pending(op_id, {"failure": why})

    # -- internals ------------------------------------------------------------------------

    async def _ensure_resolved(self, chat_id: int) -> None:
        """OrderUnresolved while an order of the chat may be placed without our knowing."""
        op = await self._repos.operations.open_for_chat(chat_id)
        if op is not None and op.kind == OPERATION_KIND:
            raise OrderUnresolved(op.op_id, quote_of(op))

    async def _operation(self, chat_id: int, op_id: str) -> Operation:
        op = await self._repos.operations.get(op_id) if op_id else None
        if op is None or op.chat_id != chat_id or op.kind != OPERATION_KIND:
            raise StaleAction
        return op

    async def _reference(self, chat_id: int, proxy_type: str) -> Reference:
        api = await self._accounts.api_for(chat_id)
        return await api.get_reference(proxy_type)

    @staticmethod
    def _apply(sel: Selection, step: str, value: str, reference: Reference) -> Notice | None:
        """Store ``value`` for ``step`` if it is valid; else the notice to show."""
        number = _int_or_none(value)
        if step == QUANTITY:
            quantity = parse_quantity(value)
            if quantity is None:
                return Notice.BAD_QUANTITY
            sel.quantity = quantity
        elif step == SERVICE and value in SERVICE_TYPES:
            sel.service = value
        elif step == PROTOCOL and value in PROTOCOLS:
            sel.protocol = value
        elif number is None:
            return Notice.STALE
        elif step == COUNTRY and reference.country(number):
            sel.country_id = number
        elif step == PERIOD and reference.period(number):
            sel.period_id = number
        elif step == OPERATOR and reference.operator(number):
            sel.operator_id = number
        elif step == ROTATION and reference.rotation(number):
            sel.rotation_id = number
        elif step == TARIF and reference.tarif(number):
            sel.tarif_id = number
        else:
            return Notice.STALE
        return None

    async def _enter(self, chat_id: int, wizard: Wizard, step: str) -> Screen:
        """Move to ``step``; the country list opens on the page of the chosen country."""
        moved = replace(wizard, step=step)
        if step != COUNTRY:
            return await self._screen(chat_id, moved)
        assert wizard.sel.type is not None
        reference = await self._reference(chat_id, wizard.sel.type)
        ids = [c.id for c in reference.countries]
        chosen = wizard.sel.country_id
        page = ids.index(chosen) // COUNTRIES_PER_PAGE if chosen in ids else 0
        return await self._screen(chat_id, replace(moved, search="", page=page), None, reference)

    async def _screen(
        self,
        chat_id: int,
        wizard: Wizard,
        notice: Notice | None = None,
        reference: Reference | None = None,
        detail: str = "",
    ) -> Screen:
        step = wizard.step
        if step in (QUOTE, COUPON):
            if wizard.op_id is None:
                return await self._screen(chat_id, replace(wizard, step=TYPE), notice)
            op = await self._operation(chat_id, wizard.op_id)
            if op.status in (IN_FLIGHT, UNKNOWN):
                # Its Confirm went out: the quote's buttons would lead to a new key.
                raise OrderUnresolved(op.op_id, quote_of(op))
            quote = QuoteView.from_dict(op.request["view"])
            return Screen(wizard, quote=quote, notice=notice, detail=detail)
        if step == TYPE or wizard.sel.type is None:
            return Screen(replace(wizard, step=TYPE), notice=notice, detail=detail)
        if reference is None:
            reference = await self._reference(chat_id, wizard.sel.type)
        if step != COUNTRY:
            return Screen(wizard, reference=reference, notice=notice, detail=detail)
        found = search_countries(reference.countries, wizard.search)
        pages = max(1, -(-len(found) // COUNTRIES_PER_PAGE))
        page = min(wizard.page, pages - 1)
        start = page * COUNTRIES_PER_PAGE
        return Screen(
            replace(wizard, page=page),
            reference=reference,
            countries=tuple(found[start : start + COUNTRIES_PER_PAGE]),
            pages=pages,
            notice=notice,
            detail=detail,
        )

    async def _quote(
        self, chat_id: int, user_id: int | None, wizard: Wizard
    ) -> Screen:
        """Price the selection and record it as a pending operation with a new key."""
        sel = wizard.sel
        missing = sel.missing_step()
        if missing is not None:
            return await self._enter(chat_id, replace(wizard, op_id=None), missing)
        assert sel.type is not None
        api = await self._accounts.api_for(chat_id)
        # Checked before a new key exists: a new quote while an earlier order may be
        # placed would be a second order (and superseding only touches pending ones).
        await self._ensure_resolved(chat_id)
        request = sel.to_request()
        reference = await api.get_reference(sel.type)
        quote = await api.calc_order(request)
        balance = (await api.get_account()).balance
        op_id = uuid.uuid4().hex
        view = _view(op_id, sel, reference, quote, balance)
        stored_wizard = replace(wizard, step=QUOTE, op_id=op_id, search="")
        await self._repos.operations.create(
            op_id,
            chat_id=chat_id,
            user_id=user_id,
            kind=OPERATION_KIND,
            request={
                "body": request.to_body(),
                "wizard": stored_wizard.to_dict(),
                "view": view.to_dict(),
                # Which account the quote was for (a digest, never the key itself).
                "key_id": api.key_id,
            },
        )
        if wizard.op_id and wizard.op_id != op_id:
            await self._supersede(chat_id, wizard.op_id)
        return Screen(stored_wizard, quote=view)

    async def _supersede(self, chat_id: int, op_id: str) -> None:
        """An old quote's Confirm must not buy once the selection changed."""
        old = await self._repos.operations.get(op_id)
        if old is not None and old.chat_id == chat_id:
            await self._repos.operations.fail_pending(op_id, {"failure": "superseded"})


def _view(
    op_id: str, sel: Selection, reference: Reference, quote: Quote, balance: Decimal
) -> QuoteView:
    country = reference.country(sel.country_id) if sel.country_id is not None else None
    period = reference.period(sel.period_id) if sel.period_id is not None else None
    operator = reference.operator(sel.operator_id) if sel.operator_id is not None else None
    rotation = reference.rotation(sel.rotation_id) if sel.rotation_id is not None else None
    tarif = reference.tarif(sel.tarif_id) if sel.tarif_id is not None else None
    steps = FLOWS[str(sel.type)]
    return QuoteView(
        op_id=op_id,
        type=quote.type or str(sel.type),
        total=quote.price,
        unit_price=quote.unit_price,
        balance=balance,
        currency=quote.currency,
        country=country.name if country else None,
        country_code=country.code if country else None,
        country_id=sel.country_id if COUNTRY in steps else None,
        period=period.name if period else None,
        period_id=sel.period_id if PERIOD in steps else None,
        period_days=period.days if period else None,
        quantity=quote.quantity if quote.quantity is not None else sel.quantity,
        protocol=sel.protocol if PROTOCOL in steps else None,
        service=sel.service if SERVICE in steps else None,
        operator=operator.name if operator else None,
        rotation=rotation.name if rotation else None,
        tarif=tarif.name if tarif else None,
        traffic=tarif.traffic if tarif else None,
        coupon=sel.coupon,
    )
