"""The one sender of everything scheduled: drains the outbox within Telegram's limits.

Whatever the bot says without being asked (expiry reminders, announcements) is queued in
the outbox (storage/outbox.py) inside the transaction that decided it, and leaves through
this one loop, so Telegram's limits are kept in one place however many features queue:

- about 30 messages a second in all (`SendLimits.per_second`), the answers handlers send
  meanwhile included (`OtherSends`), one a second per chat, 20 a minute per group;
- a 429 puts the message (and, the outbox being first in, first out per chat, its chat)
  back until `retry_after` has passed; nothing waits in place, the other chats go on;
- network errors and 5xx back off, per message (bounded attempts, then dropped with a log
  line) and for the whole sender (Telegram is probably down for everyone);
- a 403 (blocked by the user, removed from the group) marks the chat inactive and drops
  everything queued for it (services/membership.py);
- other refusals (400: a chat that is gone, a text Telegram will never take) drop the
  message with a log line: sending it again would only be refused again.

Every claim is leased (storage/outbox.py), so a sender that dies loses nothing: its claims
are taken over when the lease runs out. A message whose send went out but whose "sent"
never reached the database (a crash in between, a lost answer) may go out twice; one that
was marked sent never does.

Time comes from the injected clock: tests move it instead of waiting.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiogram.methods import SendDocument, SendMessage, SendPhoto, TelegramMethod
from aiogram.types import (
    ForceReply,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.telegram_retry import without_retry
from core.clock import Clock
from services.membership import ChatMembership
from storage.errors import StorageError
from storage.outbox import OutboxEntry, OutboxRepository
from views.best_effort import TELEGRAM_FAILURES

log = logging.getLogger(__name__)

ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply

# The shortest wait worth sleeping for; anything less is "go on now".
_MIN_WAIT = 0.01
# A claim with this much more than a request's timeout left is sent without renewing it.
_LEASE_MARGIN = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class SendLimits:
    """What Telegram allows a bot (https://core.telegram.org/bots/faq#broadcasting-to-users)."""

    # Telegram's "about 30 messages per second" in all. Replies that handlers send through
    # the same token meanwhile count too (`OtherSends`), so the sender takes what is left.
    per_second: int = 30
    # One message per second in one chat.
    chat_interval: float = 1.0
    # And no more than 20 a minute in one group.
    group_per_minute: int = 20
    group_window: float = 60.0


class SendWindow:
    """Telegram's limits as the sender keeps them, in seconds of ``clock.monotonic()``.

    A send holds its place from the moment it starts until one interval after its answer
    came back. Telegram counts a message when it arrives, which is somewhere between those
    two moments, so counting this way never puts more into any of Telegram's windows than
    it allows, however the network delays requests (or a test moves the clock meanwhile).

    Why nothing looser is safe: take any 31 messages Telegram counted within one second, and
    among them the one whose send started last, at ``s``. It arrived at or after ``s``, so
    each of the others arrived less than a second before ``s``, hence before its own answer:
    at ``s`` each of them was in flight or had its answer less than a second ago, and this
    book had 30 places taken. A place counted from the start plus a guessed delay is not
    enough (a send can be slow on the way out and fast on the way back); what makes the
    sender fast is starting a send the moment a place frees (``OutboxSender`` claims ahead)
    and reading its answer as soon as it is back.
    """

    def __init__(self, limits: SendLimits) -> None:
        self._limits = limits
        self._in_flight = 0
        self._busy: set[int] = set()
        self._recent: deque[float] = deque()  # when each send of the last second ended
        self._last: dict[int, float] = {}  # chat → when its last send ended
        self._groups: dict[int, deque[float]] = {}  # group → ends within the group window

    def room(self, now: float) -> int:
        """How many sends may start now, all chats together."""
        self._prune(now)
        return max(0, self._limits.per_second - self._in_flight - len(self._recent))

    def blocked(self, now: float) -> set[int]:
        """Chats that may not be sent to now."""
        self._prune(now)
        full = {
            group
            for group, ends in self._groups.items()
            if len(ends) + (group in self._busy) >= self._limits.group_per_minute
        }
        return self._busy | set(self._last) | full

    def next_change(self, now: float) -> float | None:
        """Seconds until more room or a blocked chat frees up; None if nothing is held."""
        self._prune(now)
        second = [self._recent[0] + 1.0] if self._recent else []
        return self._soonest(second + self._unblocks(), now)

    def next_unblock(self, now: float) -> float | None:
        """Seconds until a chat the sender itself sent to may be sent to again; None if none
        is held (more room in the second alone brings nothing when room was left over)."""
        self._prune(now)
        return self._soonest(self._unblocks(), now)

    def _unblocks(self) -> list[float]:
        """When each chat or group the sender holds back may be sent to again."""
        moments = [end + self._limits.chat_interval for end in self._last.values()]
        moments += [
            ends[0] + self._limits.group_window
            for ends in self._groups.values()
            if len(ends) >= self._limits.group_per_minute
        ]
        return moments

    @staticmethod
    def _soonest(moments: list[float], now: float) -> float | None:
        return max(0.0, min(moments) - now) if moments else None

    def begin(self, chat_id: int) -> None:
        self._in_flight += 1
        self._busy.add(chat_id)

    def begin_other(self) -> None:
        """A message not from the outbox (a handler's reply) is on its way."""
        self._in_flight += 1

    def end_other(self, now: float) -> None:
        self._in_flight -= 1
        self._recent.append(now)

    def end(self, chat_id: int, now: float) -> None:
        self._in_flight -= 1
        self._busy.discard(chat_id)
        self._recent.append(now)
        self._last[chat_id] = now
        if chat_id < 0:
            self._groups.setdefault(chat_id, deque()).append(now)

    def _prune(self, now: float) -> None:
        # Ends are appended as sends finish, so each deque is in time order.
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        expired = [c for c, end in self._last.items() if end <= now - self._limits.chat_interval]
        for chat_id in expired:
            del self._last[chat_id]
        for group in list(self._groups):
            ends = self._groups[group]
            while ends and ends[0] <= now - self._limits.group_window:
                ends.popleft()
            if not ends:
                del self._groups[group]


def parse_markup(raw: str | None) -> ReplyMarkup | None:
    """The reply_markup JSON stored with a message (``markup.model_dump_json()``)."""
    if raw is None:
        return None
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("reply markup is not a JSON object")
    kinds: tuple[tuple[str, type[ReplyMarkup]], ...] = (
        ("inline_keyboard", InlineKeyboardMarkup),
        ("keyboard", ReplyKeyboardMarkup),
        ("remove_keyboard", ReplyKeyboardRemove),
        ("force_reply", ForceReply),
    )
    for key, model in kinds:
        if key in data:
            return model.model_validate(data)
    raise ValueError("not a reply markup")


# Set in the sender's own send tasks: their messages are counted by the sender itself.
_OWN_SEND: ContextVar[bool] = ContextVar("outbox_own_send", default=False)
# What Telegram counts against the 30 messages a second.
_MESSAGES = (SendMessage, SendPhoto, SendDocument)


class OtherSends(BaseRequestMiddleware):
    """Counts the messages handlers send (answers to users) in the sender's window.

    With a fixed share for the sender (it used to take 25 of the 30 a second), a fan-out
    of reminders stayed below Telegram's rate even when nobody else was sending, and went
    over it when many users were being answered at once. Counting the others' messages
    too, the sender fills what they leave, and never pushes the total past the limit.
    """

    def __init__(self, window: SendWindow, clock: Clock) -> None:
        self._window = window
        self._clock = clock

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        if _OWN_SEND.get() or not isinstance(method, _MESSAGES):
            return await make_request(bot, method)
        self._window.begin_other()
        try:
            return await make_request(bot, method)
        finally:
            self._window.end_other(self._clock.monotonic())


class OutboxSender:
    """One background loop per process that sends what the outbox holds.

    ``start()`` from the app's start-up hook, ``stop()`` from ``App.close()``; ``wake()``
    after queueing something, so it goes out now rather than at the next poll.

    Claiming and sending are two paces. Claims (a database write, which under load queues
    behind other writers) are taken ahead, up to a second's worth (``SendLimits.per_second``),
    by a task of their own; the loop starts a claimed message the moment the window has a
    place for it. Claiming only once a place was free held every place that much longer:
    a fan-out of reminders ran at 30 / (1 s + the claim + a send) messages a second.
    """

    def __init__(
        self,
        bot: Bot,
        outbox: OutboxRepository,
        membership: ChatMembership,
        clock: Clock,
        *,
        owner: str,
        limits: SendLimits | None = None,
        poll_interval: float = 1.0,
        lease: timedelta = timedelta(seconds=60),
        request_timeout: int = 20,
        max_attempts: int = 10,
        backoff: timedelta = timedelta(seconds=5),
        max_backoff: timedelta = timedelta(minutes=15),
        concurrency: int = 8,
    ) -> None:
        # A send must end (or time out) well within the lease renewed right before it,
        # or another sender could take the row over while it is still on its way.
        if request_timeout * 2 > lease.total_seconds():
            raise ValueError("the lease must be at least twice the request timeout")
        limits = limits or SendLimits()
        self._bot = bot
        self._outbox = outbox
        self._membership = membership
        self._clock = clock
        self.owner = owner
        self._window = SendWindow(limits)
        self._poll = poll_interval
        self._lease = lease
        self._request_timeout = request_timeout
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._concurrency = concurrency  # sends waiting for their answer at once
        # Claimed and not started yet, in queue order; at most a second's worth, claimed
        # again when half of it has left.
        self._ready: deque[OutboxEntry] = deque()
        self._ahead = max(1, limits.per_second)
        self._held: set[int] = set()  # outbox ids claimed here and not settled yet
        self._claiming: asyncio.Task[list[OutboxEntry]] | None = None
        self._asked = 0  # the limit of the claim under way (or the last one)
        self._on_wire = 0  # sends started and not answered
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._sending: set[asyncio.Task[None]] = set()
        # After network errors and 5xx the whole sender pauses, longer each time in a row:
        # when Telegram is down for one message it is down for all of them.
        self._failures_in_a_row = 0
        self._paused_until = 0.0
        # The last claim found less than it asked for, and nothing was queued since: no
        # claim until a wake(), or a wait that ran out (a held-back chat free, the poll).
        self._drained = False
        # (kind, outcome) of each send for the metrics: sent, deferred, failed, dropped.
        self.on_outcome: Callable[[str, str], None] | None = None

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def ready(self) -> int:
        """Messages claimed and waiting for a place in the window."""
        return len(self._ready)

    async def start(self) -> None:
        """Start the loop (async: aiogram runs start-up hooks that are not in a thread)."""
        if self.running:
            return
        self._stopping = False
        self._loop_task = asyncio.create_task(self._run(), name="outbox sender")

    def wake(self) -> None:
        """Something was queued (or time moved): look at the outbox now."""
        self._drained = False
        self._wake.set()

    def other_sends(self) -> OtherSends:
        """The Bot session middleware that counts everyone else's messages in the window."""
        return OtherSends(self._window, self._clock)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, let the sends under way settle (``grace`` seconds), then end.

        Claims not started go back to the queue; a send cut off here leaves its claim to
        run out and be taken over: not lost.
        """
        task, self._loop_task = self._loop_task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        _, pending = await asyncio.wait({task}, timeout=grace)
        for left in pending:
            left.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if self._claiming is not None:  # its answer joins the claims given back
            await asyncio.gather(self._claiming, return_exceptions=True)
        await self._give_back()
        if self._sending:
            _, pending = await asyncio.wait(set(self._sending), timeout=grace)
            for left in pending:
                left.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _give_back(self) -> None:
        """Claims never started go back to the queue, in their place (not a failed attempt),
        so a restart sends them at once instead of after their lease."""
        while self._ready:
            entry = self._ready.popleft()
            self._held.discard(entry.outbox_id)
            try:
                await self._outbox.reschedule(entry.outbox_id, self.owner, entry.not_before,
                                              count_attempt=False)
            except StorageError as exc:  # its lease runs out: taken again then
                log.warning("outbox %s: claim not given back (%s)", entry.outbox_id, exc)

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before looking, so a wake() while we look is not lost.
            self._wake.clear()
            try:
                wait = self._round()
            except Exception:
                # Never let the loop die: nothing scheduled would leave the process again.
                log.exception("outbox sender: round failed; trying again shortly")
                wait = self._poll
            if wait >= _MIN_WAIT and not self._stopping and await self._idle(wait):
                # The wait ran out rather than being woken: a held-back chat is free, or the
                # poll is due (a retry_after or a backoff may have passed): look again.
                self._drained = False

    def _round(self) -> float:
        """Start what may be sent now, claim more when running low; how long to wait.

        No await here: the window's "is there a place" and the send's start are one step.
        """
        now = self._clock.monotonic()
        if now < self._paused_until:
            return self._paused_until - now
        self._dispatch(now)
        if (
            self._claiming is None
            and not self._drained
            and len(self._ready) <= self._ahead // 2
        ):
            self._asked = self._ahead - len(self._ready)
            self._claiming = asyncio.create_task(self._claim(self._asked), name="outbox claim")
            self._claiming.add_done_callback(self._claimed)
        if self._ready:
            # Waiting for a place (or a chat's second): the window says when; a send ending
            # (concurrency) wakes the loop itself.
            change = self._window.next_change(now)
        elif self._claiming is not None:
            return self._poll  # the claim wakes the loop when it is back
        else:
            # Nothing claimed and nothing to claim: until a held-back chat comes free (its
            # next message may be queued), a wake(), or the poll. Handlers' replies leaving
            # the second change nothing for the outbox.
            change = self._window.next_unblock(now)
        return self._poll if change is None else min(self._poll, change)

    def _dispatch(self, now: float) -> None:
        """Start claimed messages, in queue order, while the window has places for them."""
        room = min(self._window.room(now), self._concurrency - self._on_wire)
        if room <= 0 or not self._ready:
            return
        blocked = self._window.blocked(now)
        waiting: list[OutboxEntry] = []
        while self._ready and room > 0:
            entry = self._ready.popleft()
            if entry.chat_id in blocked:
                waiting.append(entry)  # its chat's second (or a group's minute) first
                continue
            self._launch(entry)
            blocked.add(entry.chat_id)
            room -= 1
        self._ready.extendleft(reversed(waiting))

    async def _claim(self, limit: int) -> list[OutboxEntry]:
        # Chats held back now are skipped; claims already here are not claimable anyway
        # (one message per chat at a time: the outbox is first in, first out per chat).
        return await self._outbox.claim(
            self.owner,
            limit=limit,
            lease=self._lease,
            skip_chats=self._window.blocked(self._clock.monotonic()),
        )

    def _claimed(self, task: asyncio.Task[list[OutboxEntry]]) -> None:
        if self._claiming is task:
            self._claiming = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            if isinstance(exc, StorageError):
                log.warning("outbox sender: %s; trying again shortly", exc)
            else:
                log.error("outbox sender: claim failed; trying again shortly", exc_info=exc)
            self._drained = True  # the poll tries again, not a tight loop
            return
        self._take(task.result())
        self._wake.set()

    def _take(self, claimed: list[OutboxEntry]) -> None:
        for entry in claimed:
            # Its lease ran out here (a clock moved far, a long pause) and this sender
            # claimed it again: one copy is enough.
            if entry.outbox_id not in self._held:
                self._held.add(entry.outbox_id)
                self._ready.append(entry)
        if len(claimed) < self._asked:
            self._drained = True

    async def _idle(self, seconds: float) -> bool:
        """Wait ``seconds`` or until woken; True when the time ran out."""
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            return not waker.done()
        finally:
            sleeper.cancel()
            waker.cancel()

    def _launch(self, entry: OutboxEntry) -> None:
        self._window.begin(entry.chat_id)
        self._on_wire += 1
        task = asyncio.create_task(self._deliver(entry), name=f"outbox {entry.outbox_id}")
        self._sending.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)

    def _answered(self, entry: OutboxEntry) -> None:
        """The send is over (answered, failed, or never made): its place counts from now."""
        self._window.end(entry.chat_id, self._clock.monotonic())
        self._on_wire -= 1
        self._wake.set()  # a place in the concurrency; the window's own change is timed

    # -- one message ---------------------------------------------------------------------

    async def _deliver(self, entry: OutboxEntry) -> None:
        _OWN_SEND.set(True)  # this task only: `OtherSends` leaves it to the window above
        ended: list[bool] = []
        try:
            await self._send(entry, ended)
        except StorageError as exc:
            # The claim stays until its lease runs out; then the message is tried again.
            log.warning("outbox %s: %s", entry.outbox_id, exc)
        except Exception:
            log.exception("outbox %s: unexpected failure while sending", entry.outbox_id)
        finally:
            self._held.discard(entry.outbox_id)
            if not ended:  # never sent (claim lost, unreadable markup) or failed before
                self._answered(entry)

    def _fresh(self, entry: OutboxEntry) -> bool:
        """Claimed a moment ago: the send ends (or times out) well within the lease.

        Renewing such a claim before the send was a database write inside the message's
        place in the window; during a fan-out it queued behind the reminder job's writes and
        held each place that much longer (the rate is 30 / (1 s + a send's duration)).
        """
        if entry.lease_until is None:
            return False
        left = entry.lease_until - self._clock.now()
        return left >= timedelta(seconds=self._request_timeout) + _LEASE_MARGIN

    async def _send(self, entry: OutboxEntry, ended: list[bool]) -> None:
        if not self._fresh(entry) and not await self._outbox.confirm(
            entry.outbox_id, self.owner, self._lease
        ):
            log.info("outbox %s: claim taken over by another sender; not sending",
                     entry.outbox_id)
            return
        try:
            markup = parse_markup(entry.markup)
        except ValueError as exc:
            log.error("outbox %s (%s %s, chat %s): unreadable reply markup (%s); dropped",
                      entry.outbox_id, entry.kind, entry.ref, entry.chat_id, exc)
            await self._outbox.drop(entry.outbox_id)
            return
        try:
            # Our own 429 handling below: the session's retry middleware would wait in place.
            with without_retry():
                try:
                    sent = await self._bot.send_message(
                        entry.chat_id,
                        entry.text,
                        reply_markup=markup,
                        request_timeout=self._request_timeout,
                    )
                finally:
                    # The answer is back: Telegram has counted the message. Its place in
                    # the window ends now, not after our database work (which, under
                    # load, held the next sends back: a fan-out ran at half the rate).
                    self._answered(entry)
                    ended.append(True)
        except TelegramRetryAfter as exc:
            await self._throttled(entry, exc.retry_after)
        except TelegramForbiddenError as exc:
            await self._membership.lost(entry.chat_id, exc.message)
        except TelegramMigrateToChat as exc:
            # The group became a supergroup before we heard: move it (this message with
            # it) and send again to the new id, not counted as a failed attempt.
            await self._membership.moved(entry.chat_id, exc.migrate_to_chat_id)
            await self._outbox.reschedule(entry.outbox_id, self.owner, self._clock.now(),
                                          count_attempt=False)
        except (TelegramBadRequest, TelegramEntityTooLarge) as exc:
            # Telegram will refuse this message every time: retrying only adds noise.
            log.error("outbox %s (%s %s, chat %s) refused: %s; dropped",
                      entry.outbox_id, entry.kind, entry.ref, entry.chat_id, exc.message)
            await self._outbox.drop(entry.outbox_id)
        except TELEGRAM_FAILURES as exc:  # network, 5xx, and answers that are not the API's
            await self._failed(entry, exc)
        else:
            self._failures_in_a_row = 0
            await self._outbox.mark_sent(entry.outbox_id, sent.message_id)
            self._count(entry, "sent")

    def _count(self, entry: OutboxEntry, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(entry.kind, outcome)

    async def _throttled(self, entry: OutboxEntry, retry_after: int) -> None:
        log.warning("outbox %s (chat %s): Telegram asked to wait %s s; rescheduled",
                    entry.outbox_id, entry.chat_id, retry_after)
        self._count(entry, "deferred")
        not_before = self._clock.now() + timedelta(seconds=retry_after)
        # Not a failed attempt: the message is fine, it only has to wait.
        await self._outbox.reschedule(entry.outbox_id, self.owner, not_before,
                                      count_attempt=False)
        # We (or another process with this token) outran Telegram's count: a short pause
        # for everyone, while only this chat waits the whole retry_after.
        self._pause(min(float(retry_after), 1.0))

    async def _failed(self, entry: OutboxEntry, exc: Exception) -> None:
        self._count(entry, "failed")
        self._failures_in_a_row += 1
        self._pause(min(2.0 ** (self._failures_in_a_row - 1), 30.0))
        attempts = entry.attempts + 1
        what = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
        if attempts >= self._max_attempts:
            log.error("outbox %s (%s %s, chat %s): %s, attempt %d of %d; dropped",
                      entry.outbox_id, entry.kind, entry.ref, entry.chat_id, what,
                      attempts, self._max_attempts)
            await self._outbox.drop(entry.outbox_id)
            return
        delay = min(self._backoff * 2 ** (attempts - 1), self._max_backoff)
        log.warning("outbox %s (chat %s): %s, attempt %d of %d; next in %.0f s",
                    entry.outbox_id, entry.chat_id, what, attempts, self._max_attempts,
                    delay.total_seconds())
        await self._outbox.reschedule(entry.outbox_id, self.owner, self._clock.now() + delay)

    def _pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

