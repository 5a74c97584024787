"""Deposit arrivals: the chat hears when a deposit reaches its balance, once.

What is read: ``GET /account/transactions?type=deposit`` (the first page, more only while
every deposit on a page is new to us), through the chat's own ``ProxyApi`` handle, so the
per-key rate limiter paces it together with what people do in the chat; ``GET /account``
only when something arrived, for the new balance.

When: every linked chat at the order sync's pace (ORDER_SYNC_INTERVAL, each chat in its own
slot of the interval, like services/sync.py), and every DEPOSIT_POLL_INTERVAL for an hour
after ``watch`` (a deposit address was shown, or Top up was tapped). A failed read backs off
exponentially (capped at the slow interval, never sooner than a 429's Retry-After); a key
the API refuses stops the watch until a key is linked again, and the caller hears of it
once (``on_key_revoked``). The state lives in SQLite (storage/deposits.py), so a restart
neither forgets a fast window nor resets a backoff.

Which deposits are announced: completed ones the chat has not been told about, created at
or after its baseline (the later of the key's link and this feature's start), plus any seen
while still pending that completed since. Older ones are recorded without a word: linking a
key or upgrading the bot never announces history.

Exactly once: ``poll_due`` returns arrivals without marking them; the job builds each
message and hands it off (``hand_off``), which marks the deposit announced and queues the
message in one transaction. A crash before the hand-off announces it on the next read; one
after it never announces it again. This service never talks to Telegram.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.clock import Clock
from proxy_api import (
    DEPOSIT_CURRENCIES,
    AuthError,
    ProxyApi,
    ProxyApiError,
    RateLimited,
    Transaction,
    TransactionType,
)
from services.account import AccountService
from services.errors import NotLinked
from services.orders import EXTEND_KIND
from services.purchase import OPERATION_KIND
from storage import Repositories
from storage.deposits import PENDING, SKIPPED, ReturnTarget, WatchTarget
from storage.errors import StorageError
from storage.operations import PENDING as OP_PENDING
from storage.outbox import OutgoingMessage

log = logging.getLogger(__name__)

# How long reads stay fast after a deposit address was shown: on-chain confirmations take
# minutes, rarely more than an hour.
WATCH_FOR = timedelta(hours=1)
# A way back to a quote or extend older than this is dropped: the user has moved on.
RETURN_TTL = timedelta(days=1)
BACKOFF_INITIAL = timedelta(seconds=30)
# Deposits per page read, and the most pages one read goes through (only while every
# deposit on the pages so far was new to us).
PER_PAGE = 20
MAX_PAGES = 3
# The fewest chats a tick may read; more when there are many chats (see _per_tick).
MIN_PER_TICK = 10
# Slots are counted from a fixed moment, so a chat keeps its slot across restarts.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

RETURN_KINDS = (OPERATION_KIND, EXTEND_KIND)
# Transaction statuses of the API.
COMPLETED = "completed"
UNCONFIRMED = "pending"

# What to do with one deposit read from the API.
ANNOUNCE = "announce"
SKIP = SKIPPED
WAIT = PENDING


@dataclass(frozen=True, slots=True)
class Arrival:
    """A completed deposit the chat has not been told about."""

    chat_id: int
    tx_id: str
    amount: Decimal
    currency: str | None  # a code such as BTC or USDT_TRC20, when the API names one
    balance: Decimal | None  # the balance read right after (None: it could not be read)
    created_at: datetime
    back: ReturnTarget | None  # the quote or extend to go back to, if one is waiting


def deposit_currency(tx: Transaction) -> str | None:
    """The currency a deposit's description or payment method names ("Crypto deposit (BTC)"
    → BTC), or None."""
    for text in (tx.description, tx.payment_method):
        if not text:
            continue
        upper = text.upper()
        for token in re.findall(r"\(([A-Z0-9_ \-]{2,24})\)", upper):
            code = re.sub(r"[ \-]+", "_", token.strip())
            if code in DEPOSIT_CURRENCIES:
                return code
        for code in sorted(DEPOSIT_CURRENCIES, key=len, reverse=True):
            pattern = re.escape(code).replace("_", "[_ \\-]")
            if re.search(rf"(?<![A-Z0-9]){pattern}(?![A-Z0-9])", upper):
                return code
    return None


def classify(tx: Transaction, known: str | None, baseline: datetime | None) -> str | None:
    """What one deposit means now: ANNOUNCE, SKIP (record it, never announce), WAIT (record
    it as pending: announced once it completes) or None (nothing to do).

    ``known``: what the chat recorded about it before (None: never seen); ``baseline``:
    deposits created before it were there before the watch (None: unknown, so nothing
    unseen is announced).
    """
    if known in (SKIPPED, "announced"):
        return None
    if tx.status == COMPLETED:
        if tx.amount <= 0:
            return SKIP if known is None else None
        if known == PENDING:
            return ANNOUNCE  # seen while it was being confirmed: news now
        if baseline is not None and tx.created_at >= baseline:
            return ANNOUNCE
        return SKIP
    if tx.status == UNCONFIRMED and known is None:
        return WAIT
    return None


class DepositWatch:
    def __init__(
        self,
        accounts: AccountService,
        repos: Repositories,
        clock: Clock,
        *,
        poll_interval: timedelta,
        slow_interval: timedelta,
        watch_for: timedelta = WATCH_FOR,
        return_ttl: timedelta = RETURN_TTL,
        backoff_initial: timedelta = BACKOFF_INITIAL,
    ) -> None:
        self._accounts = accounts
        self._repos = repos
        self._clock = clock
        self.poll_interval = poll_interval
        self.slow_interval = max(slow_interval, poll_interval)
        self._watch_for = watch_for
        self._return_ttl = return_ttl
        self._backoff_initial = backoff_initial
        # One read of the due chats at a time (the scheduled job and a direct call).
        self._lock = asyncio.Lock()
        # Set by the composition root: called once per chat whose key was just found
        # refused (to tell the chat). Its errors are logged, never raised.
        self.on_key_revoked: Callable[[int], Awaitable[None]] | None = None

    @property
    def tick(self) -> timedelta:
        """How often ``poll_due`` should run: fine enough for the fast interval."""
        return min(max(self.poll_interval / 2, timedelta(seconds=1)), timedelta(seconds=30))

    # -- what handlers call --------------------------------------------------------------

    async def watch(self, chat_id: int) -> None:
        """A deposit address was shown: read the chat's deposits every DEPOSIT_POLL_INTERVAL
        for the next hour. Never raises for a chat that is gone (nothing to watch)."""
        now = self._clock.now()
        try:
            await self._repos.deposits.watch(
                chat_id, now + self._watch_for, now + self.poll_interval
            )
        except StorageError as exc:
            log.info("chat %s: deposits not watched: %s", chat_id, exc)

    async def remember_return(self, chat_id: int, op_id: str, kind: str) -> bool:
        """Top up was tapped on a quote (``order``) or an extend (``extend``) refused for lack
        of funds: the deposit's announcement leads back to it, and the watch turns fast.
        False (nothing remembered) when the operation is not the chat's."""
        op = await self._repos.operations.get(op_id) if op_id else None
        if kind not in RETURN_KINDS or op is None or op.chat_id != chat_id or op.kind != kind:
            log.info("chat %s: no way back to %r (%s)", chat_id, op_id, kind)
            await self.watch(chat_id)
            return False
        try:
            await self._repos.deposits.remember_return(chat_id, op_id, kind)
        except StorageError as exc:
            log.info("chat %s: %s", chat_id, exc)
            return False
        await self.watch(chat_id)
        return True

    async def pending_return(self, chat_id: int) -> ReturnTarget | None:
        """The quote or extend the chat goes back to after a deposit, while it still can."""
        target = await self._repos.deposits.target(chat_id)
        return await self._valid_back(target) if target is not None else None

    # -- what the job calls ----------------------------------------------------------------

    async def poll_due(self) -> list[Arrival]:
        """Read the deposits of the chats whose turn it is (most overdue first, at most
        ``_per_tick``); the arrivals to announce, oldest first per chat. Never raises for
        one chat's trouble."""
        async with self._lock:
            now = self._clock.now()
            targets = await self._repos.deposits.targets()
            await self._repos.deposits.schedule_new(
                (t.chat_id, self.next_slot(t.chat_id, now))
                for t in targets if t.next_poll_at is None
            )
            due = sorted(
                (t for t in targets if t.next_poll_at is not None and t.next_poll_at <= now),
                key=lambda t: (t.next_poll_at, t.chat_id),
            )
            arrivals: list[Arrival] = []
            for target in due[: self._per_tick(len(targets))]:
                try:
                    arrivals += await self._poll(target)
                except Exception:
                    # One chat's surprise must not stop the others, nor the job.
                    log.exception("chat %s: reading deposits crashed", target.chat_id)
                    await self._failed(target, "CRASH")
            return arrivals

    async def hand_off(self, arrival: Arrival, message: OutgoingMessage) -> bool:
        """Mark the deposit announced and queue ``message``, in one transaction; False (and
        nothing queued) when it was announced before (or the chat is gone)."""
        return await self._repos.deposits.announce(
            arrival.chat_id, arrival.tx_id, arrival.amount, message
        )

    # -- one chat ----------------------------------------------------------------------

    async def _poll(self, target: WatchTarget) -> list[Arrival]:
        chat_id = target.chat_id
        try:
            api = await self._accounts.api_for(chat_id)
            fresh = await self._read(api, target)
            balance = None
            if fresh:
                try:
                    balance = (await self._accounts.read_account(api)).balance
                except AuthError:
                    raise
                except ProxyApiError as exc:
                    # The deposit is the news; the balance line is left out.
                    log.info("chat %s: balance unavailable for a deposit (%s)", chat_id, exc.code)
        except NotLinked:
            return []
        except AuthError as exc:
            await self._revoked(chat_id, exc)
            return []
        except ProxyApiError as exc:
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            await self._failed(target, exc.code, retry_after)
            return []
        except StorageError as exc:
            log.info("chat %s: deposits not recorded: %s", chat_id, exc)
            return []
        now = self._clock.now()
        await self._repos.deposits.polled(
            chat_id, now + self.poll_interval, self.next_slot(chat_id, now)
        )
        if not fresh:
            return []
        back = await self._valid_back(target)
        log.info("chat %s: %d new deposit(s)", chat_id, len(fresh))
        return [
            Arrival(
                chat_id=chat_id,
                tx_id=tx.id,
                amount=tx.amount,
                currency=deposit_currency(tx),
                balance=balance,
                created_at=tx.created_at,
                back=back,
            )
            for tx in sorted(fresh, key=lambda t: (t.created_at, t.id))
        ]

    async def _read(self, api: ProxyApi, target: WatchTarget) -> list[Transaction]:
        """The deposits to announce; the ones to remember silently are recorded here."""
        baseline = target.baseline
        fresh: list[Transaction] = []
        quiet: list[tuple[str, str, Decimal]] = []
        page = 1
        while True:
            result = await api.list_transactions(
                page=page, per_page=PER_PAGE, type=TransactionType.DEPOSIT
            )
            items = [t for t in result.items if t.type == TransactionType.DEPOSIT.value]
            known = await self._repos.deposits.seen(target.chat_id, (t.id for t in items))
            for tx in items:
                action = classify(tx, known.get(tx.id), baseline)
                if action == ANNOUNCE:
                    fresh.append(tx)
                elif action in (SKIP, WAIT):
                    quiet.append((tx.id, action, tx.amount))
            # Newest first: a further page can only hold news while everything on this one
            # was unknown and not older than the baseline.
            oldest = min((t.created_at for t in items), default=None)
            more = (
                items
                and not known
                and page < min(result.meta.total_pages, MAX_PAGES)
                and baseline is not None
                and oldest is not None
                and oldest >= baseline
            )
            if not more:
                break
            page += 1
        await self._repos.deposits.record(target.chat_id, quiet)
        return fresh

    async def _valid_back(self, target: WatchTarget) -> ReturnTarget | None:
        back = target.back
        if back is None:
            return None
        op = await self._repos.operations.get(back.op_id)
        stale = self._clock.now() - back.at > self._return_ttl
        if stale or op is None or op.chat_id != target.chat_id or op.status != OP_PENDING:
            # Bought, extended, superseded or too old: nothing to go back to any more.
            await self._repos.deposits.forget_return(target.chat_id, back.op_id)
            return None
        return back

    async def _revoked(self, chat_id: int, exc: AuthError) -> None:
        first = await self._repos.chats.mark_key_revoked(chat_id)
        if not first:
            return
        log.warning("chat %s: the API refused the linked key (%s); deposit watch stopped",
                    chat_id, exc.code)
        if self.on_key_revoked is not None:
            try:
                await self.on_key_revoked(chat_id)
            except Exception:
                log.exception("chat %s: telling it about the refused key failed", chat_id)

    async def _failed(
        self, target: WatchTarget, code: str, retry_after: float | None = None
    ) -> None:
        failures = target.failures + 1
        delay = self._backoff_initial * 2 ** min(failures - 1, 30)
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        delay = min(delay, self.slow_interval)
        retry_at = self._clock.now() + max(delay, self.poll_interval)
        await self._repos.deposits.failed(target.chat_id, retry_at)
        log.info("chat %s: reading deposits failed (%s), attempt %d; next at %s",
                 target.chat_id, code, failures, retry_at.isoformat(timespec="seconds"))

    # -- spreading ---------------------------------------------------------------------

    def slot(self, chat_id: int) -> timedelta:
        """The chat's fixed place in the slow interval (a stable hash)."""
        seconds = max(int(self.slow_interval.total_seconds()), 1)
        return timedelta(seconds=zlib.crc32(f"deposits:{chat_id}".encode()) % seconds)

    def next_slot(self, chat_id: int, after: datetime) -> datetime:
        """The first moment of the chat's slot strictly after ``after``."""
        start = _EPOCH + self.slot(chat_id)
        cycles = math.floor((after - start) / self.slow_interval) + 1
        return start + cycles * self.slow_interval

    def _per_tick(self, chats: int) -> int:
        # Twice the steady share of a tick, so a backlog drains within a few ticks.
        share = chats * (self.tick / self.slow_interval)
        return max(MIN_PER_TICK, math.ceil(2 * share))
