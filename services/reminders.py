"""Expiry reminders: which chats are reminded of which orders, when, and with what.

A reminder is planned per order and expiry for each of the chat's offsets (REMINDER_OFFSETS,
or the chat's own choice in /settings). Planning reads the local copy of the orders
(storage/orders.py), which the order sync (services/sync.py) keeps fresh, so orders bought
or extended on the website are reminded too. Only ``active`` orders with an expiry get
reminders: a pending order has none yet, a traffic package (residential) never expires.

The job in bot/ claims the due ones (``claim_due``), builds each message from ``content``
and hands it off (``hand_off``): marking the reminder sent and queueing its message in the
outbox is one transaction, so a reminder is sent at most once and never lost on the way.
This service never talks to Telegram.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from core.clock import Clock
from core.durations import format_duration
from proxy_api import (
    NotFound,
    Order,
    OrderDetails,
    OrderRequest,
    OrderStatus,
    Period,
    ProxyApi,
    ProxyApiError,
)
from services.account import AccountService
from services.catalogue import kind_of
from services.errors import BotError, NotLinked
from services.orders import remember
from services.prices import PriceBook, own_period, same_again
from storage import Repositories
from storage.orders import LocalOrder
from storage.outbox import OutgoingMessage
from storage.reminders import Reminder

log = logging.getLogger(__name__)

DEFAULT_OFFSETS: tuple[timedelta, ...] = (
    timedelta(days=3), timedelta(days=1), timedelta(hours=3),
)
# Shorter than a minute cannot be kept (the job runs about once a minute); longer than a
# month reminds of an order before most periods have even started.
MIN_OFFSET = timedelta(minutes=1)
MAX_OFFSET = timedelta(days=30)
# More than this is noise, and the settings keyboard has room for this many.
MAX_OFFSETS = 6
# How long a claim is held before another worker may take the reminder over.
DEFAULT_LEASE = timedelta(minutes=5)

_ACTIVE = OrderStatus.ACTIVE.value


class InvalidOffsets(BotError):
    """Reminder times outside the rules; the message says which and why."""


def normalize_offsets(offsets: Iterable[timedelta]) -> tuple[timedelta, ...]:
    """Whole seconds, each between MIN_OFFSET and MAX_OFFSET, no twins, largest first, at most
    MAX_OFFSETS. InvalidOffsets otherwise. An empty list stays empty (reminders off)."""
    found: set[timedelta] = set()
    for offset in offsets:
        whole = timedelta(seconds=round(offset.total_seconds()))
        if whole < MIN_OFFSET:
            raise InvalidOffsets(f'"{format_duration(offset)}" is shorter than 1 minute')
        if whole > MAX_OFFSET:
            raise InvalidOffsets(f'"{format_duration(offset)}" is longer than 30 days')
        found.add(whole)
    if len(found) > MAX_OFFSETS:
        raise InvalidOffsets(f"at most {MAX_OFFSETS} reminder times ({len(found)} given)")
    return tuple(sorted(found, reverse=True))


@dataclass(frozen=True, slots=True)
class DueReminder:
    """A reminder claimed by ``owner`` until ``lease_until``: build its message and hand it
    off (or release it) before then."""

    reminder_id: int
    chat_id: int
    order_id: str
    expires_at: datetime  # the expiry the message is about
    offset: timedelta
    due_at: datetime
    owner: str
    lease_until: datetime


class PricedPeriod(NamedTuple):
    """A period the order can be extended by, and what buying the same again for it costs
    (None: no price for this type, e.g. mobile, or the API did not give one)."""

    period: Period
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class ReminderContent:
    order: LocalOrder  # the local copy, refreshed from the API when it answered
    expired: bool  # the expiry passed between claiming and building the message
    # The one-tap Extend buttons; empty: not extendable, or the reference is unavailable.
    periods: list[PricedPeriod]
    # Periods left out of `periods` (not priced yet): "Other periods" opens the order's
    # extend menu, which prices them.
    more_periods: bool = False


@dataclass(frozen=True, slots=True)
class _ChatGate:
    """Whether a chat gets reminders now, and at which offsets (seconds)."""

    offsets: tuple[int, ...]
    reason: str | None  # why not, or None


def _order_fields(order: LocalOrder | Order) -> tuple[str, str, datetime | None]:
    if isinstance(order, LocalOrder):
        return order.order_id, order.status, order.expires_at
    return order.id, order.status, order.expires_at


class ReminderService:
    def __init__(
        self,
        repos: Repositories,
        accounts: AccountService,
        clock: Clock,
        prices: PriceBook,
        default_offsets: Iterable[timedelta] = DEFAULT_OFFSETS,
    ) -> None:
        self._repos = repos
        self._accounts = accounts
        self._clock = clock
        self._default = normalize_offsets(default_offsets)
        # Orders alike (the same type, country, quantity) share one price per period:
        # 5,000 reminders due at once are a handful of calcs, not 5,000.
        self._prices = prices

    # -- the chat's settings ----------------------------------------------------------------

    @property
    def default_offsets(self) -> tuple[timedelta, ...]:
        return self._default

    async def offsets_for(self, chat_id: int) -> tuple[timedelta, ...]:
        """The chat's reminder times, largest first; () when it turned reminders off."""
        stored = await self._repos.reminders.offsets(chat_id)
        if stored is None:
            return self._default
        return tuple(timedelta(seconds=s) for s in stored)

    async def set_offsets(
        self, chat_id: int, offsets: Iterable[timedelta] | None
    ) -> tuple[timedelta, ...]:
        """Choose the chat's reminder times (None: back to the default; empty: off) and
        re-plan its orders. InvalidOffsets when a time is out of range or there are too
        many. Returns the times now in force."""
        if offsets is None:
            await self._repos.reminders.set_offsets(chat_id, None)
            chosen = self._default
        else:
            chosen = normalize_offsets(offsets)
            if not chosen:
                await self.turn_off(chat_id)
                return ()
            await self._repos.reminders.set_offsets(
                chat_id, [int(o.total_seconds()) for o in chosen]
            )
        await self.plan_chat(chat_id)
        return chosen

    async def turn_off(self, chat_id: int) -> None:
        await self._repos.reminders.set_offsets(chat_id, ())
        await self._repos.reminders.drop_chat(chat_id)

    async def mute_order(self, chat_id: int, order_id: str) -> bool:
        """No more reminders for the order (its planned ones are dropped); False if muted."""
        return await self._repos.reminders.mute(chat_id, order_id)

    async def unmute_order(self, chat_id: int, order_id: str) -> bool:
        """Reminders for the order again, planned at once from the local copy."""
        changed = await self._repos.reminders.unmute(chat_id, order_id)
        local = await self._repos.orders.get(chat_id, order_id)
        if local is not None:
            await self.plan_order(chat_id, local)
        return changed

    async def muted_orders(self, chat_id: int) -> list[str]:
        return await self._repos.reminders.muted(chat_id)

    async def reminder(self, chat_id: int, reminder_id: int) -> Reminder | None:
        """The chat's reminder a button names (any state); None if not this chat's."""
        return await self._repos.reminders.get(chat_id, reminder_id)

    # -- planning ----------------------------------------------------------------------

    async def plan_order(self, chat_id: int, order: LocalOrder | Order) -> int:
        """Plan (or re-plan) the order's reminders for its current expiry; rows added.

        Nothing, and planned ones dropped, unless the order is active with an expiry, the
        chat gets reminders (linked, reachable, key working, not turned off) and the order
        is not muted. StorageError when the chat is gone meanwhile.
        """
        return await self._plan(chat_id, order, await self._gate(chat_id))

    async def plan_chat(self, chat_id: int) -> int:
        """Re-plan every local order of the chat; reminder rows added."""
        return await self.plan_orders(chat_id, await self._repos.orders.list_for_chat(chat_id))

    async def plan_orders(self, chat_id: int, orders: Iterable[LocalOrder | Order]) -> int:
        """``plan_order`` for many orders of one chat (its settings read once)."""
        gate = await self._gate(chat_id)
        added = 0
        for order in orders:
            added += await self._plan(chat_id, order, gate)
        return added

    async def drop_order(self, chat_id: int, order_id: str) -> int:
        return await self._repos.reminders.drop_order(chat_id, order_id)

    async def _plan(self, chat_id: int, order: LocalOrder | Order, gate: _ChatGate) -> int:
        order_id, status, expires_at = _order_fields(order)
        if (
            gate.reason is not None
            or status != _ACTIVE
            or expires_at is None
            or await self._repos.reminders.is_muted(chat_id, order_id)
        ):
            await self._repos.reminders.drop_order(chat_id, order_id)
            return 0
        return await self._repos.reminders.plan(chat_id, order_id, expires_at, gate.offsets)

    async def _gate(self, chat_id: int) -> _ChatGate:
        status = await self._repos.chats.status(chat_id)
        stored = await self._repos.reminders.offsets(chat_id)
        offsets = (
            tuple(int(o.total_seconds()) for o in self._default) if stored is None else stored
        )
        reason = None
        if status is None or not status.linked:
            reason = "not linked"
        elif not status.active:
            reason = "chat inactive"
        elif status.key_revoked_at is not None:
            # Its orders are not synced any more and a one-tap extend would be refused.
            reason = "key revoked"
        elif not offsets:
            reason = "reminders off"
        return _ChatGate(offsets, reason)

    # -- claiming and handing off -------------------------------------------------------

    async def claim_due(
        self, owner: str, lease: timedelta = DEFAULT_LEASE, limit: int = 50
    ) -> list[DueReminder]:
        """Claim the reminders due now for ``owner``; the ones that no longer apply (order
        muted, gone, no longer active, expired or with another expiry now; chat inactive,
        turned off, key revoked) are marked skipped instead and not returned."""
        now = self._clock.now()
        gates: dict[int, _ChatGate] = {}
        due: list[DueReminder] = []
        for row in await self._repos.reminders.claim_due(owner, lease, limit):
            gate = gates.get(row.chat_id)
            if gate is None:
                gate = gates[row.chat_id] = await self._gate(row.chat_id)
            reason = await self._why_not(row, gate, now)
            if reason is not None:
                log.info("chat %s: reminder %s for order %s skipped: %s",
                         row.chat_id, row.reminder_id, row.order_id, reason)
                await self._repos.reminders.skip(row.reminder_id, owner)
                continue
            assert row.lease_until is not None
            due.append(DueReminder(
                reminder_id=row.reminder_id,
                chat_id=row.chat_id,
                order_id=row.order_id,
                expires_at=row.expires_at,
                offset=row.offset,
                due_at=row.due_at,
                owner=owner,
                lease_until=row.lease_until,
            ))
        return due

    async def _why_not(self, row: Reminder, gate: _ChatGate, now: datetime) -> str | None:
        if gate.reason is not None:
            return gate.reason
        if int(row.offset.total_seconds()) not in gate.offsets:
            return "offset no longer chosen"
        if await self._repos.reminders.is_muted(row.chat_id, row.order_id):
            return "muted"
        local = await self._repos.orders.get(row.chat_id, row.order_id)
        if local is None:
            return "order gone"
        if local.status != _ACTIVE:
            return f"order {local.status}"
        if local.expires_at != row.expires_at:
            # Extended meanwhile: the new expiry gets its own reminders.
            await self.plan_order(row.chat_id, local)
            return "expiry changed"
        if row.expires_at <= now:
            # Fell due while the bot was down and the order has expired since: too late.
            return "expired"
        return None

    async def hand_off(self, due: DueReminder, message: OutgoingMessage) -> bool:
        """Mark the reminder sent and queue ``message``, in one transaction; False (nothing
        queued) when this claim no longer holds it (handed off before, or taken over)."""
        return await self._repos.reminders.hand_off(due.reminder_id, due.owner, message)

    async def release(self, due: DueReminder) -> bool:
        """Give the claim back (the message cannot be built now); it is due again."""
        return await self._repos.reminders.release(due.reminder_id, due.owner)

    async def skip(self, due: DueReminder) -> bool:
        """Send nothing for this reminder, ever."""
        return await self._repos.reminders.skip(due.reminder_id, due.owner)

    # -- what the message says ---------------------------------------------------------------

    async def content(self, due: DueReminder) -> ReminderContent | None:
        """What the reminder's message needs, or None when it no longer applies.

        The order is read from the API first (falling back to the local copy when the API
        does not answer): extended or canceled on the website since the last sync, the
        reminder is skipped (and the order re-planned) instead of telling the user something
        stale. None means: it has been skipped, send nothing. Never raises for API errors.
        """
        api = await self._api(due.chat_id)
        details: OrderDetails | None = None
        if api is not None:
            try:
                details = await api.get_order(due.order_id)
                await remember(self._repos, due.chat_id, details)
            except NotFound:
                await self._repos.reminders.drop_order(due.chat_id, due.order_id)
                await self.skip(due)
                return None
            except ProxyApiError as exc:
                log.info("chat %s: order %s not refreshed for its reminder (%s)",
                         due.chat_id, due.order_id, exc.code)
        local = await self._repos.orders.get(due.chat_id, due.order_id)
        if local is None:
            await self.skip(due)
            return None
        # Expired since the claim is still this reminder (the message says so); another
        # expiry (extended) or another status (canceled) is not.
        live = local.status in (_ACTIVE, OrderStatus.EXPIRED.value)
        if not live or local.expires_at != due.expires_at:
            log.info("chat %s: reminder %s skipped: order %s changed (%s, expires %s)",
                     due.chat_id, due.reminder_id, due.order_id, local.status,
                     local.expires_at)
            await self.skip(due)
            await self.plan_order(due.chat_id, local)
            return None
        expired = local.expires_at is not None and local.expires_at <= self._clock.now()
        periods, more = await self._priced_periods(api, local, details)
        return ReminderContent(order=local, expired=expired, periods=periods, more_periods=more)

    async def _api(self, chat_id: int) -> ProxyApi | None:
        try:
            return await self._accounts.api_for(chat_id)
        except NotLinked:
            return None

    async def _priced_periods(
        self, api: ProxyApi | None, order: LocalOrder, details: OrderDetails | None
    ) -> tuple[list[PricedPeriod], bool]:
        """The one-tap periods, and whether the order has others (see ReminderContent).

        One calc per reminder: the order's own period (else the first), the renewal most
        people want; other periods get a one-tap button only when the price book holds their
        price already (an alike order's reminder asked), the rest wait behind "Other
        periods". A calc for every period was five requests per reminder: a fan-out of
        5,000 spent the bot's CPU on 25,000 calcs, and one account's reminders ate its
        60-a-minute request budget. A type 1001Proxy cannot price in advance (mobile) keeps
        every period one tap away, unpriced, and the message says so.
        """
        kind = kind_of(order.type)
        if api is None or kind is None or not kind.extendable:
            return [], False
        try:
            reference = await api.get_reference(order.type)
        except ProxyApiError as exc:
            log.info("reference for %s unavailable for a reminder: %s", order.type, exc.code)
            return [], False
        periods = list(reference.periods)
        if not periods:
            return [], False
        own = own_period(periods, order.period_id)
        own_request = self._request(order, details, own)
        if own_request is None:
            return [PricedPeriod(period, None) for period in periods], False
        known: dict[int, Decimal | None] = dict(
            self._prices.known_prices(api, periods, lambda p: self._request(order, details, p))
        )
        known[own.id] = await self._price(api, order, own, own_request)
        shown = [PricedPeriod(period, known[period.id]) for period in periods
                 if period.id in known]
        return shown, len(shown) < len(periods)

    @staticmethod
    def _request(
        order: LocalOrder, details: OrderDetails | None, period: Period
    ) -> OrderRequest | None:
        """Buying the same again for ``period``: what extending should cost (None: mobile, or
        IPv6 whose protocol only the API knows)."""
        quantity = (details.proxy_count if details else 0) or order.quantity
        return same_again(
            order.type, order.country_id, period.id, quantity,
            details.protocol if details else None,
        )

    async def _price(
        self, api: ProxyApi, order: LocalOrder, period: Period, request: OrderRequest
    ) -> Decimal | None:
        """The API's price for ``request`` (buying the same again for ``period``: what
        extending should cost); None when it did not answer."""
        try:
            price: Decimal | None = (await self._prices.quote(api, request)).price
        except ProxyApiError as exc:
            # Not cached: the next reminder asks again.
            log.info("no reminder price for %s, period %s: %s",
                     order.order_id, period.id, type(exc).__name__)
            return None
        return price
