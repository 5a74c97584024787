"""The purchase wizard: moving between steps, searching countries, pricing the quote.

Every quote records an operation (kind "order") whose id is the Idempotency-Key of
POST /orders; confirming it is checkout's business (services/purchase/checkout.py).

An order whose answer was lost (``unknown``) may already be placed and charged. Until it
is settled, the chat gets no new quote (``OrderUnresolved``): a new quote would be a
second order that the provider has every reason to accept.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from decimal import Decimal

from core.clock import Clock
from proxy_api import (
    Country,
    OrderRequest,
    ProxyApi,
    ProxyApiError,
    Quote,
    Reference,
    ValidationError,
)
from services.account import AccountService
from services.catalogue import CATALOGUE
from services.errors import StaleAction
from services.prices import PriceBook
from services.purchase.models import (
    _COUPON_SHAPE,
    COUNTRY,
    COUPON,
    FLOWS,
    MAX_COUPON_LENGTH,
    MAX_SEARCH_LENGTH,
    OPERATION_KIND,
    OPERATOR,
    PERIOD,
    PROBE_QUANTITY,
    PROTOCOL,
    PROTOCOLS,
    QUANTITY,
    QUANTITY_PRESETS,
    QUOTE,
    ROTATION,
    SERVICE,
    SERVICE_TYPES,
    TARIF,
    TYPE,
    CountryNames,
    Notice,
    OrderUnresolved,
    QuoteView,
    Selection,
    Wizard,
    WizardStep,
    _int_or_none,
    api_names,
    parse_quantity,
    quote_of,
    search_countries,
)
from storage import Repositories
from storage.operations import IN_FLIGHT, UNKNOWN, Operation

log = logging.getLogger(__name__)


# -- the service --------------------------------------------------------------------------


class PurchaseService:
    def __init__(
        self,
        accounts: AccountService,
        repos: Repositories,
        clock: Clock,
        prices: PriceBook,
        country_names: CountryNames = api_names,
    ) -> None:
        """``prices``: the API's recent answers, for prices on the choice buttons.
        ``country_names``: what a typed search matches a country against (the Telegram
        side passes the names in the user's language and English: views/names.py)."""
        self._accounts = accounts
        self._repos = repos
        self._clock = clock
        self._prices = prices
        self._country_names = country_names

    # -- wizard navigation --------------------------------------------------------------

    async def start(self, chat_id: int) -> WizardStep:
        api = await self._accounts.api_for(chat_id)  # not linked: say so before the first step
        await self._ensure_resolved(chat_id)
        return WizardStep(Wizard(), prices=self._type_prices(api))

    async def show(self, chat_id: int, wizard: Wizard, notice: Notice | None = None) -> WizardStep:
        """The current step again (after a restart, a stale tap or stray text)."""
        return await self._screen(chat_id, wizard, notice)

    async def choose(
        self,
        chat_id: int,
        user_id: int | None,
        wizard: Wizard,
        step: str,
        value: str,
    ) -> WizardStep:
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

    async def back(self, chat_id: int, wizard: Wizard) -> WizardStep:
        if wizard.step == COUPON:
            return await self._screen(chat_id, replace(wizard, step=QUOTE))
        flow = wizard.flow()
        if wizard.step not in flow or wizard.step == TYPE:
            return await self._screen(chat_id, replace(wizard, step=TYPE))
        return await self._enter(chat_id, wizard, flow[flow.index(wizard.step) - 1])

    async def turn_page(self, chat_id: int, wizard: Wizard, page: str) -> WizardStep:
        number = _int_or_none(page)
        if wizard.step != COUNTRY or number is None or number < 0:
            return await self._screen(chat_id, wizard, Notice.STALE)
        return await self._screen(chat_id, replace(wizard, page=number))

    async def search(self, chat_id: int, wizard: Wizard, text: str) -> WizardStep:
        """Typed text on the country step narrows the list ("ger" → Germany)."""
        query = " ".join(text.split())[:MAX_SEARCH_LENGTH]
        if wizard.step != COUNTRY or wizard.sel.type is None:
            return await self._screen(chat_id, wizard, Notice.USE_BUTTONS)
        reference = await self._reference(chat_id, wizard.sel.type)
        if not query or not self._search(reference, query):
            return await self._screen(
                chat_id, replace(wizard, search="", page=None), Notice.NO_MATCH, reference, query
            )
        return await self._screen(chat_id, replace(wizard, search=query, page=0), None, reference)

    async def clear_search(self, chat_id: int, wizard: Wizard) -> WizardStep:
        if wizard.step != COUNTRY:
            return await self._screen(chat_id, wizard, Notice.STALE)
        return await self._enter(chat_id, replace(wizard, search=""), COUNTRY)

    # -- quotes and coupons ---------------------------------------------------------------

    async def ask_coupon(self, chat_id: int, wizard: Wizard) -> WizardStep:
        if wizard.step != QUOTE or wizard.op_id is None:
            return await self._screen(chat_id, wizard, Notice.STALE)
        return await self._screen(chat_id, replace(wizard, step=COUPON))

    async def apply_coupon(
        self, chat_id: int, user_id: int | None, wizard: Wizard, code: str
    ) -> WizardStep:
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
    ) -> WizardStep:
        if wizard.step not in (QUOTE, COUPON) or wizard.sel.coupon is None:
            return await self._screen(chat_id, wizard, Notice.STALE)
        return await self._quote(
            chat_id, user_id, replace(wizard, sel=replace(wizard.sel, coupon=None))
        )

    async def requote(
        self, chat_id: int, user_id: int | None, wizard: Wizard
    ) -> WizardStep:
        """Price the same selection again (after a failed purchase): a new quote, a new key."""
        if wizard.step not in (QUOTE, COUPON):
            return await self._screen(chat_id, wizard, Notice.STALE)
        return await self._quote(chat_id, user_id, wizard)

    async def saved_quote(self, chat_id: int, op_id: str) -> WizardStep:
        """The quote screen of an operation, from the database alone (no API call)."""
        op = await self._operation(chat_id, op_id)
        view = QuoteView.from_dict(op.request["view"])
        wizard = Wizard.from_dict(op.request.get("wizard"))
        return WizardStep(replace(wizard, step=QUOTE, op_id=op_id), quote=view)

    # -- for checkout ---------------------------------------------------------------------

    async def requote_operation(
        self, chat_id: int, user_id: int | None, op: Operation
    ) -> WizardStep:
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

    def _search(self, reference: Reference, query: str) -> list[Country]:
        return search_countries(reference.countries, query, self._country_names)

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

    async def _enter(self, chat_id: int, wizard: Wizard, step: str) -> WizardStep:
        """Move to ``step``; the country list opens where the chosen country is."""
        moved = replace(wizard, step=step)
        if step == COUNTRY:
            moved = replace(moved, search="", page=None)
        return await self._screen(chat_id, moved)

    async def _screen(
        self,
        chat_id: int,
        wizard: Wizard,
        notice: Notice | None = None,
        reference: Reference | None = None,
        detail: str = "",
    ) -> WizardStep:
        step = wizard.step
        if step in (QUOTE, COUPON):
            if wizard.op_id is None:
                return await self._screen(chat_id, replace(wizard, step=TYPE), notice)
            op = await self._operation(chat_id, wizard.op_id)
            if op.status in (IN_FLIGHT, UNKNOWN):
                # Its Confirm went out: the quote's buttons would lead to a new key.
                raise OrderUnresolved(op.op_id, quote_of(op))
            quote = QuoteView.from_dict(op.request["view"])
            return WizardStep(wizard, quote=quote, notice=notice, detail=detail)
        if step == TYPE or wizard.sel.type is None:
            return WizardStep(
                replace(wizard, step=TYPE), notice=notice, detail=detail,
                prices=self._type_prices(await self._accounts.api_for(chat_id)),
            )
        priced = step in (PERIOD, QUANTITY, TARIF)
        # The account's client once per screen, and only when this screen asks the API.
        api = await self._accounts.api_for(chat_id) if priced or reference is None else None
        if reference is None:
            assert api is not None
            reference = await api.get_reference(wizard.sel.type)
        if priced:
            assert api is not None
            prices, unit = await self._choice_prices(api, chat_id, wizard, reference)
            return WizardStep(
                wizard, reference=reference, notice=notice, detail=detail,
                prices=prices, unit_price=unit,
            )
        if step != COUNTRY:
            return WizardStep(wizard, reference=reference, notice=notice, detail=detail)
        found = self._search(reference, wizard.search)
        return WizardStep(
            wizard,
            reference=reference,
            countries=tuple(found),
            notice=notice,
            detail=detail,
        )

    def _type_prices(self, api: ProxyApi) -> dict[str, Decimal]:
        """The lowest price per proxy the book holds for each type (no call: a type the user
        has not priced within the book's TTL shows none). Not for traffic packages, whose
        unit is a GB."""
        found: dict[str, Decimal] = {}
        for kind in CATALOGUE:
            if kind.traffic_package:
                continue
            lowest = self._prices.lowest_unit_price(api, kind.type.value)
            if lowest is not None:
                found[kind.type.value] = lowest
        return found

    async def _choice_prices(
        self, api: ProxyApi, chat_id: int, wizard: Wizard, reference: Reference
    ) -> tuple[dict[str, Decimal], Decimal | None]:
        """Prices for the buttons of the period, quantity or package step, by button value,
        and the price per unit the step's text names.

        At most one calc per screen, through the price book (so showing the screen again
        within its TTL asks nothing): periods show the price per proxy of the chosen or
        first period, and of any other the book already holds; quantity presets show
        totals when the API's own answer is the unit price times the quantity; packages
        show their total (a recent calc, else the reference's price per GB times the
        package's traffic) and asks nothing. A price the API does not give is left out.
        """
        sel = wizard.sel
        if wizard.step == TARIF:
            totals: dict[str, Decimal] = {}
            for tarif in reference.tarifs:
                request = Selection(type=sel.type, tarif_id=tarif.id).to_request()
                cached = self._prices.cached(api, request)
                if cached is not None:
                    totals[str(tarif.id)] = cached.price
                elif tarif.price is not None and tarif.traffic is not None:
                    totals[str(tarif.id)] = tarif.price * tarif.traffic
            return totals, None
        periods = [p.id for p in reference.periods]
        if wizard.step == PERIOD:
            asked = sel.period_id if sel.period_id in periods else (periods or [None])[0]
        else:
            asked = sel.period_id
        if asked is None:
            return {}, None
        probes = {pid: _probe(sel, pid) for pid in periods}
        probe = probes[asked] if asked in probes else _probe(sel, asked)
        if probe is None:
            return {}, None
        try:
            answer = await self._prices.quote(api, probe)
        except ProxyApiError as exc:
            # The step works without prices; the quote asks again.
            log.info("chat %s: no price for the %s step: %s", chat_id, wizard.step, exc.code)
            return {}, None
        unit = answer.unit_price
        if wizard.step == QUANTITY:
            if unit is None or not _linear(answer):
                return {}, unit
            shown = {*QUANTITY_PRESETS, *([sel.quantity] if sel.quantity else [])}
            return {str(n): unit * n for n in sorted(shown)}, unit
        units: dict[str, Decimal] = {}
        for pid, request in probes.items():
            quote = answer if pid == asked else (
                self._prices.cached(api, request) if request is not None else None
            )
            if quote is not None and quote.unit_price is not None:
                units[str(pid)] = quote.unit_price
        return units, None

    async def _quote(
        self, chat_id: int, user_id: int | None, wizard: Wizard
    ) -> WizardStep:
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
        # With a coupon, the price without it too (the book has it from the quote before),
        # so the quote can say what the coupon took off.
        base = self._base_price(api, replace(sel, coupon=None).to_request()) if sel.coupon else (
            _nothing()
        )
        # The reference (cached) and the prices are independent reads: the quote waits for
        # the slowest of them, not for their sum.
        results = await asyncio.gather(
            api.get_reference(sel.type), api.calc_order(request), base, return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        reference, quote, without = results
        # What the user confirms is this fresh answer; the book keeps it for the labels.
        self._prices.remember(api, request, quote)
        # No balance read for a quote: a short balance is refused by POST /orders (402, with
        # the real figures, nothing charged). One the API gave within a minute still decides
        # Confirm or Top up here.
        balance = self._accounts.recent_balance(api)
        op_id = uuid.uuid4().hex
        view = _view(op_id, sel, reference, quote, balance)
        if without is not None and without.price > quote.price:
            view = replace(view, discount=without.price - quote.price)
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
        return WizardStep(stored_wizard, quote=view)

    async def _base_price(self, api: ProxyApi, request: OrderRequest) -> Quote | None:
        """The price without the coupon, or None when the API does not tell it now (the
        quote is then shown without a discount line, never with a guessed one)."""
        try:
            return await self._prices.quote(api, request)
        except ProxyApiError as exc:
            log.info("no price without the coupon: %s", exc.code)
            return None

    async def _supersede(self, chat_id: int, op_id: str) -> None:
        """An old quote's Confirm must not buy once the selection changed."""
        old = await self._repos.operations.get(op_id)
        if old is not None and old.chat_id == chat_id:
            await self._repos.operations.fail_pending(op_id, {"failure": "superseded"})


async def _nothing() -> None:
    return None


def _probe(sel: Selection, period_id: int) -> OrderRequest | None:
    """The calc a period or quantity screen prices its buttons with: the choices so far,
    ``period_id``, ``PROBE_QUANTITY`` proxies, no coupon. None while a choice it needs is
    missing."""
    probe = replace(sel, period_id=period_id, quantity=PROBE_QUANTITY, coupon=None)
    if probe.type is None or probe.missing_step() is not None:
        return None
    return probe.to_request()


def _linear(answer: Quote) -> bool:
    """The answer's total is its unit price times its quantity, to the cent.

    The spec defines ``unitPrice`` as the price per unit and documents no volume pricing;
    an answer at ``PROBE_QUANTITY`` that agrees is the evidence the presets' totals
    (n × unit price) rest on. One that does not (a volume discount) leaves the presets
    without totals and only the unit price in the text. Whatever a preset says, the quote
    prices the chosen quantity afresh before anything is bought.
    """
    if answer.unit_price is None or answer.quantity is None:
        return False
    return answer.price == answer.unit_price * answer.quantity


def _view(
    op_id: str, sel: Selection, reference: Reference, quote: Quote, balance: Decimal | None
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
