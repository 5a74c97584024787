"""Member requests in a group: a member's quote waits for an admin's Approve or Decline.

A member who is not an admin goes through the wizard like anyone; at the quote they ask
for approval instead of confirming. The request is a row of `storage.groups` pointing at
the quote's operation (an ordinary pending order of the group), so approving it is the
same paid action as a Confirm and goes through the one runner (services/paid.py):

- **Exactly once.** Approve calls `CheckoutService.begin` with the request's operation:
  the runner's claim decides between admins tapping at the same moment (the others get
  AlreadyProcessing, "already being placed"), and a later tap finds the stored receipt.
- **Never a price nobody saw.** A quote older than QUOTE_TTL is priced again first (a new
  operation, a new key; the request now points at it) and nothing is bought: the admins
  see the new price on the request and approve again. A quote that can no longer be
  bought (the provider failed it, the group linked another key) is priced again the same
  way.
- **Closing.** Decline and expiry first drop the quote (pending → failed, one atomic
  step) and only then close the request, so they can never close a request whose order
  is on its way: while it is in flight or unresolved, decline is refused and expiry waits
  for the outcome. `decide` closes a request for exactly one caller.
- **Refusals keep it open.** Not enough balance, a throttle, a key problem, a provider
  failure or an unclear answer leave the request open (until it expires), with the reason
  on it: an admin tops up or waits, and approves again (the same key, never a second
  order) — or declines.

Services return results; the handler (handlers/requests.py) posts and edits the messages,
and bot/request_job.py closes expired requests every minute.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from datetime import timedelta

from core.clock import Clock
from services.errors import AlreadyProcessing, StaleAction
from services.paid import PaidActionBlocked, Ticket
from services.purchase import (
    OPERATION_KIND,
    QUOTE_TTL,
    PurchaseService,
    QuoteView,
    Receipt,
    WizardStep,
    quote_of,
)
from services.purchase.checkout import CheckoutService, OrderPending, PurchaseOutcome
from storage import Repositories
from storage.errors import DuplicateRequest
from storage.groups import APPROVED, DECLINED, EXPIRED, OPEN, GroupRequest
from storage.operations import DONE, FAILED, IN_FLIGHT, PENDING, UNKNOWN, Operation

__all__ = [
    # The request and its states, for the layers that may not import storage.
    "APPROVED",
    "DECLINED",
    "EXPIRED",
    "OPEN",
    "GroupRequest",
    "GroupRequests",
    "RequestBusy",
    "RequestClaimed",
    "RequestClosed",
    "RequestDeclined",
    "RequestExists",
    "RequestOpened",
    "RequestRepriced",
    "RequestSettled",
]


# -- what asking returns ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestOpened:
    """A new open request: post it in the group, then `posted` its message."""

    request: GroupRequest
    quote: QuoteView


@dataclass(frozen=True, slots=True)
class RequestExists:
    """This quote already has an open request (one per quote)."""

    request: GroupRequest
    quote: QuoteView | None


# -- what an admin's tap returns -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestClosed:
    """Approved, declined or expired before this tap; ``now``: it expired on this tap."""

    request: GroupRequest
    quote: QuoteView | None
    now: bool = False


@dataclass(frozen=True, slots=True)
class RequestRepriced:
    """The quote was priced again: show the new price and ask the admins to approve it."""

    request: GroupRequest
    quote: QuoteView


@dataclass(frozen=True, slots=True)
class RequestClaimed:
    """This tap won the claim: show "placing…", then `place`."""

    request: GroupRequest
    ticket: Ticket
    quote: QuoteView | None
    by_id: int
    by_name: str


@dataclass(frozen=True, slots=True)
class RequestSettled:
    """How the order went. A Receipt closed the request as approved (``first``: by this
    tap, which tells the requester); anything else leaves it open with the reason."""

    request: GroupRequest
    outcome: PurchaseOutcome
    quote: QuoteView | None
    first: bool = False


@dataclass(frozen=True, slots=True)
class RequestBusy:
    """Another purchase or extend of the group is at the provider or unresolved."""

    request: GroupRequest
    quote: QuoteView | None


@dataclass(frozen=True, slots=True)
class RequestDeclined:
    request: GroupRequest
    quote: QuoteView | None


ApproveResult = RequestClosed | RequestRepriced | RequestClaimed | RequestSettled | RequestBusy


class GroupRequests:
    def __init__(
        self,
        repos: Repositories,
        purchases: PurchaseService,
        checkout: CheckoutService,
        clock: Clock,
        ttl: timedelta,
    ) -> None:
        self._repos = repos
        self._groups = repos.groups
        self._purchases = purchases
        self._checkout = checkout
        self._clock = clock
        self._ttl = ttl
        # In-process: one re-pricing per request at a time, and fewer racing inserts (one
        # open request per quote is the database's unique index, across processes).
        # (The order itself is decided by the runner's claim, which needs no lock.)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @property
    def ttl(self) -> timedelta:
        return self._ttl

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[name] = lock
        return lock

    # -- a member asks ----------------------------------------------------------------

    async def ask(
        self, chat_id: int, user_id: int, name: str, op_id: str
    ) -> RequestOpened | RequestExists | WizardStep:
        """Open a request for the member's quote ``op_id``.

        A WizardStep: the quote was too old, so it was priced again (the member checks the
        new price and asks again). StaleAction: not this member's quote, or no longer one
        that can be bought.
        """
        op = await self._operation(chat_id, op_id)
        if op.user_id not in (None, user_id):
            raise StaleAction  # someone else's quote (the menu policy stops this first)
        async with self._lock(f"ask:{op_id}"):
            existing = await self._groups.open_request_for_op(op_id)
            if existing is not None:
                return RequestExists(existing, quote_of(op))
            op = await self._operation(chat_id, op_id)
            if op.status != PENDING:
                raise StaleAction
            if self._stale(op):
                return await self._purchases.requote_operation(chat_id, user_id, op)
            quote = quote_of(op)
            if quote is None:
                raise StaleAction
            try:
                request = await self._groups.create_request(
                    chat_id, user_id, name, op_id, self._ttl
                )
            except DuplicateRequest:
                # Another process's tap opened it between our look and the insert.
                existing = await self._groups.open_request_for_op(op_id)
                if existing is None:
                    raise StaleAction from None
                return RequestExists(existing, quote)
            return RequestOpened(request, quote)

    async def posted(self, request_id: str, message_id: int) -> None:
        await self._groups.set_request_message(request_id, message_id)

    async def abandon(self, request_id: str) -> None:
        """Its message could not be posted: close it (the quote stays for another try)."""
        await self._groups.decide(request_id, EXPIRED)

    # -- an admin answers ---------------------------------------------------------------

    async def approve(
        self, chat_id: int, request_id: str, by_id: int, by_name: str
    ) -> ApproveResult:
        """Claim the request's order for this tap (or say why not; see the module doc).

        AlreadyProcessing: another admin's tap is placing it right now.
        """
        request = await self._request(chat_id, request_id)
        closed = await self._closed_or_expired(request)
        if closed is not None:
            return closed
        op = await self._op_of(request)
        if op.status == IN_FLIGHT:
            raise AlreadyProcessing
        if op.status == FAILED or (op.status == PENDING and self._stale(op)):
            return await self._reprice(request, op)
        try:
            started = await self._checkout.begin(chat_id, by_id, op.op_id, request.message_id)
        except PaidActionBlocked:
            # Another paid action of the group (an extend) is unresolved: it goes first.
            return RequestBusy(request, quote_of(op))
        except StaleAction:
            # The group linked another key since the quote: begin dropped it. Price it on
            # the key the group has now; the admins see the price before anything is bought.
            latest = await self._op_of(request)
            if latest.status != FAILED:
                raise
            return await self._reprice(request, latest)
        if isinstance(started, WizardStep):
            # Crossed QUOTE_TTL between our look and begin's: begin priced it again.
            assert started.quote is not None
            return await self._adopt(request, started.quote)
        if isinstance(started, Ticket):
            return RequestClaimed(request, started, quote_of(started.op), by_id, by_name)
        if isinstance(started, OrderPending) and started.op_id != op.op_id:
            # Another order of the group may be placed: nothing new until it is settled.
            return RequestBusy(request, quote_of(op))
        return await self._settled(request, started, quote_of(op), by_id, by_name)

    async def place(self, claimed: RequestClaimed) -> RequestSettled:
        outcome = await self._checkout.place(claimed.ticket)
        return await self._settled(
            claimed.request, outcome, claimed.quote, claimed.by_id, claimed.by_name
        )

    async def decline(
        self, chat_id: int, request_id: str, by_id: int, by_name: str
    ) -> RequestDeclined | RequestClosed | RequestSettled:
        """Close the request and drop its quote. AlreadyProcessing while its order is
        being placed (or may have been: then only Check status settles it)."""
        request = await self._request(chat_id, request_id)
        closed = await self._closed_or_expired(request)
        if closed is not None:
            return closed
        op = await self._repos.operations.get(request.op_id)
        if op is not None:
            await self._purchases.drop(op.op_id, "declined")
            op = await self._repos.operations.get(op.op_id)
        if op is not None and op.status in (IN_FLIGHT, UNKNOWN):
            raise AlreadyProcessing
        if op is not None and op.status == DONE:
            # Approved a moment ago: the order is placed, so the request is approved.
            receipt = Receipt.from_dict(op.result or {})
            return await self._settled(request, receipt, quote_of(op), None, None)
        quote = quote_of(op) if op is not None else None
        if await self._groups.decide(request.request_id, DECLINED, by_id, by_name):
            return RequestDeclined(await self._latest(request), quote)
        return RequestClosed(await self._latest(request), quote)

    # -- expiry ---------------------------------------------------------------------------

    async def expire_due(self) -> list[RequestClosed]:
        """Close every open request past its time (quotes dropped); the ones this call
        closed, to edit their messages. Requests whose order is being placed or unresolved
        wait for the outcome."""
        closed: list[RequestClosed] = []
        for request in await self._groups.expired_requests():
            result = await self._expire(request)
            if result is not None:
                closed.append(result)
        return closed

    async def _expire(self, request: GroupRequest) -> RequestClosed | None:
        op = await self._repos.operations.get(request.op_id)
        if op is not None:
            await self._purchases.drop(op.op_id, "request expired")
            op = await self._repos.operations.get(op.op_id)
        if op is not None and op.status in (IN_FLIGHT, UNKNOWN):
            return None  # an approve is placing it: its outcome decides the request
        quote = quote_of(op) if op is not None else None
        if op is not None and op.status == DONE:
            # Placed by an approve that stopped before closing the request.
            await self._groups.decide(request.request_id, APPROVED)
            return None
        if not await self._groups.decide(request.request_id, EXPIRED):
            return None
        return RequestClosed(await self._latest(request), quote, now=True)

    # -- internals --------------------------------------------------------------------------

    def _stale(self, op: Operation) -> bool:
        return self._clock.now() - op.created_at > QUOTE_TTL

    async def _operation(self, chat_id: int, op_id: str) -> Operation:
        op = await self._repos.operations.get(op_id) if op_id else None
        if op is None or op.chat_id != chat_id or op.kind != OPERATION_KIND:
            raise StaleAction
        return op

    async def _request(self, chat_id: int, request_id: str) -> GroupRequest:
        request = await self._groups.request(request_id) if request_id else None
        if request is None or request.chat_id != chat_id:
            raise StaleAction  # forged, or from another group
        return request

    async def _latest(self, request: GroupRequest) -> GroupRequest:
        return await self._groups.request(request.request_id) or request

    async def _op_of(self, request: GroupRequest) -> Operation:
        return await self._operation(request.chat_id, request.op_id)

    async def _closed_or_expired(self, request: GroupRequest) -> RequestClosed | None:
        if not request.is_open:
            op = await self._repos.operations.get(request.op_id)
            return RequestClosed(request, quote_of(op) if op is not None else None)
        if request.expires_at <= self._clock.now():
            # Past its time and the job has not come yet: it expires on this tap.
            expired = await self._expire(request)
            if expired is not None:
                return expired
            latest = await self._latest(request)
            if not latest.is_open:
                op = await self._repos.operations.get(latest.op_id)
                return RequestClosed(latest, quote_of(op) if op is not None else None)
            # Its order is being placed or unresolved: Check status still settles it.
        return None

    async def _reprice(self, request: GroupRequest, op: Operation) -> ApproveResult:
        """Price the request's selection again; it now stands for the new quote."""
        async with self._lock(f"reprice:{request.request_id}"):
            latest = await self._latest(request)
            if not latest.is_open:
                return RequestClosed(latest, quote_of(op))
            if latest.op_id != op.op_id:
                # Another admin's tap priced it again a moment ago: show that price.
                current = await self._op_of(latest)
                quote = quote_of(current)
                if quote is None:
                    raise StaleAction
                return RequestRepriced(latest, quote)
            step = await self._purchases.requote_operation(
                request.chat_id, request.requester_id, op
            )
            assert step.quote is not None
            return await self._adopt(latest, step.quote)

    async def _adopt(self, request: GroupRequest, quote: QuoteView) -> ApproveResult:
        if not await self._groups.requote_request(request.request_id, quote.op_id):
            # Declined or expired meanwhile: the new quote must never be bought.
            await self._purchases.drop(quote.op_id, "request closed")
            return RequestClosed(await self._latest(request), quote)
        return RequestRepriced(await self._latest(request), quote)

    async def _settled(
        self,
        request: GroupRequest,
        outcome: PurchaseOutcome,
        quote: QuoteView | None,
        by_id: int | None,
        by_name: str | None,
    ) -> RequestSettled:
        first = False
        if isinstance(outcome, Receipt):
            # Only the caller that closes it tells the requester.
            first = await self._groups.decide(request.request_id, APPROVED, by_id, by_name)
        return RequestSettled(await self._latest(request), outcome, quote, first)
