"""Order sync: each linked chat's orders are read from the API now and then, so the local
copy (and with it the reminders) knows about orders bought, extended or canceled on the
website, not only those handled in the bot.

Scheduling: one scheduler job calls ``sync_all`` every ``tick`` (a fraction of
ORDER_SYNC_INTERVAL). Every chat has its own slot in the interval, from a hash of its id,
so the chats are spread over the interval instead of all reading their orders at once,
and each chat is synced about once per interval. A failed sync is retried sooner, backing
off exponentially (capped at the interval). A key the API refuses (401/403) stops the
chat's sync until a key is linked again; the caller is told once, to tell the chat.

Requests go through the chat's own ``ProxyApi`` handle, so the per-key rate limiter of the
client paces them together with what people do in the chat; a sync that would wait too
long is refused (RateLimited) and retried later like any failure.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.clock import Clock
from proxy_api import AuthError, Order, ProxyApiError, RateLimited
from services.account import AccountService
from services.errors import NotLinked
from services.orders import remember
from services.reminders import ReminderService
from storage import Repositories
from storage.errors import StorageError

log = logging.getLogger(__name__)

SYNCED = "synced"
FAILED = "failed"
REVOKED = "revoked"
SKIPPED = "skipped"

# Slots are counted from a fixed moment, so a chat keeps its slot across restarts.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
BACKOFF_INITIAL = timedelta(seconds=30)
# The fewest chats a tick may sync; more when there are many chats (see _per_tick).
MIN_PER_TICK = 10
ORDERS_PER_PAGE = 100  # the API's maximum: fewest requests per sync


@dataclass(frozen=True, slots=True)
class SyncResult:
    chat_id: int
    outcome: str  # synced | failed | revoked | skipped
    orders: int = 0  # orders read from the API
    planned: int = 0  # reminder rows added
    gone: tuple[str, ...] = ()  # local orders the account no longer has (deleted)
    # The key was refused just now for the first time: tell the chat once (relink).
    tell_chat: bool = False
    retry_at: datetime | None = None  # failed: when the next attempt is due
    error: str | None = None  # failed: the error code


class OrderSync:
    def __init__(
        self,
        accounts: AccountService,
        repos: Repositories,
        reminders: ReminderService,
        clock: Clock,
        interval: timedelta,
        *,
        backoff_initial: timedelta = BACKOFF_INITIAL,
    ) -> None:
        self._accounts = accounts
        self._repos = repos
        self._reminders = reminders
        self._clock = clock
        self.interval = interval
        self._backoff_initial = backoff_initial
        # In memory: after a restart the slots follow from synced_at, failures start over.
        self._next: dict[int, datetime] = {}
        self._failures: dict[int, int] = {}
        # Set by the composition root: called once per chat whose key was just found
        # revoked (to queue a message there). Its errors are logged, never raised.
        self.on_key_revoked: Callable[[int], Awaitable[None]] | None = None

    @property
    def tick(self) -> timedelta:
        """How often ``sync_all`` should run: fine enough to keep each chat near its slot
        and to retry failures on time, coarse enough to cost nothing when idle."""
        return min(max(self.interval / 20, timedelta(seconds=5)), timedelta(seconds=60))

    # -- one chat --------------------------------------------------------------------

    async def sync_chat(self, chat_id: int) -> SyncResult:
        """Read all the chat's orders, refresh the local copy, re-plan every reminder.

        Orders the account no longer has are deleted from the local copy; canceled and
        expired ones keep no planned reminders (plan_order drops them).
        """
        status = await self._repos.chats.status(chat_id)
        if (
            status is None
            or not status.linked
            or not status.active
            or status.key_revoked_at is not None
        ):
            self._forget(chat_id)
            return SyncResult(chat_id, SKIPPED)
        started = self._clock.now()
        try:
            api = await self._accounts.api_for(chat_id)
            orders: list[Order] = [o async for o in api.iter_orders(per_page=ORDERS_PER_PAGE)]
        except NotLinked:
            self._forget(chat_id)
            return SyncResult(chat_id, SKIPPED)
        except AuthError as exc:
            return await self._revoked(chat_id, exc)
        except ProxyApiError as exc:
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            return self._failed(chat_id, exc.code, retry_after)
        try:
            for order in orders:
                await remember(self._repos, chat_id, order)
            planned = await self._reminders.plan_orders(chat_id, orders)
            gone = await self._repos.orders.forget_missing(
                chat_id, {o.id for o in orders}, started
            )
            for order_id in gone:
                await self._reminders.drop_order(chat_id, order_id)
            await self._repos.chats.mark_synced(chat_id)
        except StorageError as exc:
            # The chat logged out while its orders were written: next time it is no target.
            log.info("chat %s: orders not synced: %s", chat_id, exc)
            return self._failed(chat_id, "STORAGE")
        self._failures.pop(chat_id, None)
        self._next[chat_id] = self.next_slot(chat_id, self._clock.now())
        if gone:
            log.info("chat %s: %d order(s) no longer on the account", chat_id, len(gone))
        return SyncResult(chat_id, SYNCED, orders=len(orders), planned=planned, gone=tuple(gone))

    async def _revoked(self, chat_id: int, exc: AuthError) -> SyncResult:
        first = await self._repos.chats.mark_key_revoked(chat_id)
        # Claims would skip them anyway; dropped so nothing waits for a key that is gone.
        await self._repos.reminders.drop_chat(chat_id)
        self._forget(chat_id)
        if first:
            log.warning("chat %s: the API refused the linked key (%s); order sync stopped",
                        chat_id, exc.code)
        return SyncResult(chat_id, REVOKED, tell_chat=first, error=exc.code)

    def _failed(self, chat_id: int, code: str, retry_after: float | None = None) -> SyncResult:
        failures = self._failures.get(chat_id, 0) + 1
        self._failures[chat_id] = failures
        delay = self._backoff_initial * 2 ** min(failures - 1, 30)
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        retry_at = self._clock.now() + min(delay, self.interval)
        self._next[chat_id] = retry_at
        log.info("chat %s: order sync failed (%s), attempt %d; next at %s",
                 chat_id, code, failures, retry_at.isoformat(timespec="seconds"))
        return SyncResult(chat_id, FAILED, retry_at=retry_at, error=code)

    def _forget(self, chat_id: int) -> None:
        self._next.pop(chat_id, None)
        self._failures.pop(chat_id, None)

    # -- every chat ------------------------------------------------------------------

    def slot(self, chat_id: int) -> timedelta:
        """The chat's fixed place in the interval (a stable hash, not Python's ``hash``)."""
        seconds = max(int(self.interval.total_seconds()), 1)
        return timedelta(seconds=zlib.crc32(str(chat_id).encode()) % seconds)

    def next_slot(self, chat_id: int, after: datetime) -> datetime:
        """The first moment of the chat's slot strictly after ``after``."""
        start = _EPOCH + self.slot(chat_id)
        cycles = math.floor((after - start) / self.interval) + 1
        return start + cycles * self.interval

    def next_sync(self, chat_id: int) -> datetime | None:
        """When ``sync_all`` next syncs the chat (None: not scheduled yet, or no target)."""
        return self._next.get(chat_id)

    async def sync_all(self) -> list[SyncResult]:
        """The scheduler's tick: sync the chats whose turn it is (their slot came, or a
        failed attempt's retry is due), most overdue first, at most ``_per_tick`` of them.

        A chat never synced, or last synced before its latest slot (the bot was down), is
        due at once; the per-tick cap spreads such a crowd over the following ticks.
        """
        now = self._clock.now()
        targets = await self._repos.chats.sync_targets()
        ids = {t.chat_id for t in targets}
        for chat_id in set(self._next) - ids:
            self._forget(chat_id)
        for target in targets:
            if target.chat_id not in self._next:
                last = target.synced_at or now - self.interval
                self._next[target.chat_id] = self.next_slot(target.chat_id, last)
        due = sorted((at, chat_id) for chat_id, at in self._next.items() if at <= now)
        results = []
        for _, chat_id in due[: self._per_tick(len(ids))]:
            try:
                result = await self.sync_chat(chat_id)
            except Exception:
                # One chat's surprise must not stop the others, nor the job.
                log.exception("chat %s: order sync crashed", chat_id)
                result = self._failed(chat_id, "CRASH")
            results.append(result)
            if result.tell_chat and self.on_key_revoked is not None:
                try:
                    await self.on_key_revoked(chat_id)
                except Exception:
                    log.exception("chat %s: telling it about the revoked key failed", chat_id)
        return results

    def _per_tick(self, chats: int) -> int:
        # Twice the steady share of a tick, so a backlog drains within a few ticks.
        share = chats * (self.tick / self.interval)
        return max(MIN_PER_TICK, math.ceil(2 * share))
