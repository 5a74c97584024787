"""One runner for every paid action: record → claim → send → settle → resolve after restart.

A paid action is a request that moves money (placing an order, extending one; later a
one-tap extend from a reminder and a group admin approving a request). Each kind plugs
in a ``PaidAction``: how to send it, what a refusal means, how to find out what happened
to an attempt whose answer was lost. The runner owns the protocol around it:

1. The operation was recorded (``pending``) when the confirmation was drawn; its id is
   in the Confirm button.
2. ``claim`` moves it to ``in_flight`` in one transaction that also checks the chat has
   no other paid action in flight or unresolved. Exactly one tap wins.
3. ``run`` calls the action's checks, then marks the operation *sent* right before the
   money-moving request leaves the process. Anything that fails before that mark
   (including a Telegram error in the caller, which never reaches here) releases the
   claim unchanged: an operation becomes ``unknown`` only if its request may have left.
4. The answer settles it: success → ``done``; an error that proves the request was
   refused (``ProxyApiError.may_have_acted`` is False) → the action decides (``pending``
   to allow the same confirmation again, or ``failed``); anything else → ``unknown``.
5. ``unknown`` operations are never sent blindly: the action investigates them (an order
   is resent with its own Idempotency-Key while the provider still remembers it; an
   extend, which has no key, is decided only by proof). Start-up recovery and a periodic
   job do this without a tap; the caller is handed every outcome to show the user.

Services return results and never talk to Telegram: the handler that shows "placing…"
does so between ``claim`` and ``run``, and whatever happens to that message cannot
change the operation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from core.clock import Clock
from proxy_api import AuthError, ProxyApi, ProxyApiError, RateLimited
from services.account import AccountService
from services.errors import AlreadyProcessing, BotError, NotLinked, StaleAction
from storage import Repositories
from storage.operations import DONE, FAILED, IN_FLIGHT, PENDING, UNKNOWN, ChatBusy, Operation

__all__ = ["IN_FLIGHT", "Operation", "PaidActionBlocked", "PaidActionRunner", "Ticket"]

log = logging.getLogger(__name__)

# Refusals given before the request itself was read.
_UNREAD = (RateLimited, AuthError)


class PaidActionBlocked(BotError):
    """Another paid action of the chat is in flight or unresolved; ``other`` is it."""

    def __init__(self, other: Operation) -> None:
        super().__init__("another paid action of this chat is open")
        self.other = other


class Abort(Exception):
    """Raised by an action before sending: settle the operation as given, send nothing."""

    def __init__(self, status: str, result: dict[str, Any], reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.result = result
        self.reason = reason


# -- what a run ends with -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    """It happened; ``op.result`` holds what the action recorded."""

    op: Operation


@dataclass(frozen=True, slots=True)
class Refused:
    """The API proved the request was refused; ``op.status`` says whether it may be
    sent again (pending) or is over (failed)."""

    op: Operation
    error: ProxyApiError


@dataclass(frozen=True, slots=True)
class Unclear:
    """The request may have reached the provider and nothing proves either outcome yet."""

    op: Operation
    error: ProxyApiError | None = None


@dataclass(frozen=True, slots=True)
class NotHappened:
    """An unresolved operation proven not to have happened: pending again, never resent
    by itself. ``interrupted``: it never left the process (a stop between claim and send)."""

    op: Operation
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class Aborted:
    """The action's checks stopped it before sending (e.g. the order changed)."""

    op: Operation
    reason: str


RunResult = Done | Refused | Unclear | NotHappened | Aborted


# -- what an action tells the runner ------------------------------------------------


class Finding:
    """What investigating an unknown operation found."""

    RESEND = "resend"  # sending it again is safe (an idempotency key covers it)
    UNDECIDED = "undecided"


@dataclass(frozen=True, slots=True)
class Happened:
    result: dict[str, Any]
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class DidNotHappen:
    result: dict[str, Any]


Investigation = Happened | DidNotHappen | str  # str: a Finding constant


@dataclass(frozen=True, slots=True)
class Ticket:
    """A claimed operation, ready to run; ``claimed_from`` is pending or unknown."""

    op: Operation
    claimed_from: str


class PaidAction(Protocol):
    """One kind of paid action, plugged into the runner."""

    kind: str

    async def check(self, api: ProxyApi, op: Operation) -> dict[str, Any] | None:
        """Right before sending: raise Abort to settle without sending. What it returns is
        stored with the operation as it is sent (evidence for a later investigation)."""

    async def send(self, api: ProxyApi, op: Operation) -> object:
        """The one money-moving request."""

    async def settle(self, api: ProxyApi, op: Operation, response: object) -> Happened:
        """What to store after success; best effort extras must not raise."""

    def refused(self, op: Operation, error: ProxyApiError) -> tuple[str, dict[str, Any] | None]:
        """The status (pending or failed) and result after a proven refusal."""

    async def investigate(self, api: ProxyApi, op: Operation) -> Investigation:
        """Decide an unknown operation by proof, or say it may be resent, or cannot tell."""


class PaidActionRunner:
    def __init__(
        self, accounts: AccountService, repos: Repositories, clock: Clock, owner: str
    ) -> None:
        self._accounts = accounts
        self._repos = repos
        self._clock = clock
        self._owner = owner  # this process instance: whose claims are whose
        self._actions: dict[str, PaidAction] = {}
        self._after_done: list[Callable[[Operation], Awaitable[object]]] = []

    @property
    def owner(self) -> str:
        return self._owner

    def after_done(self, hook: Callable[[Operation], Awaitable[object]]) -> None:
        """Call ``hook`` after every paid action that happened (e.g. re-plan reminders:
        an order or an extend changes what expires when). Its failure is logged only."""
        self._after_done.append(hook)

    async def _done(self, op: Operation) -> Done:
        for hook in self._after_done:
            try:
                await hook(op)
            except Exception:
                log.exception("after-done hook failed for op %s", op.op_id)
        return Done(op)

    def register(self, action: PaidAction) -> None:
        self._actions[action.kind] = action

    async def operation(self, chat_id: int, op_id: str, kind: str) -> Operation:
        """The chat's operation of ``kind``; StaleAction for anything else (forged buttons)."""
        op = await self._repos.operations.get(op_id) if op_id else None
        if op is None or op.chat_id != chat_id or op.kind != kind:
            raise StaleAction
        return op

    async def claim(self, op: Operation, message_id: int | None = None) -> Ticket:
        """Claim ``op`` for one attempt (from pending, or unknown to investigate it).

        AlreadyProcessing when another tap or worker holds it; PaidActionBlocked when
        another paid action of the chat is open.
        """
        ops = self._repos.operations
        try:
            # unknown is tried first so that a resend is never mistaken for a first attempt.
            for status in (UNKNOWN, PENDING):
                if op.status not in (status, IN_FLIGHT):
                    continue
                if await ops.claim(op.op_id, self._owner, (status,), message_id) == status:
                    claimed = await ops.get(op.op_id)
                    assert claimed is not None
                    return Ticket(claimed, status)
        except ChatBusy as busy:
            raise PaidActionBlocked(busy.other) from None
        raise AlreadyProcessing

    async def run(self, ticket: Ticket) -> RunResult:
        op = ticket.op
        action = self._actions[op.kind]
        ops = self._repos.operations
        sent = False
        notes: dict[str, Any] = {}
        try:
            api = await self._accounts.api_for(op.chat_id)
            if ticket.claimed_from == UNKNOWN:
                finding = await action.investigate(api, op)
                if finding != Finding.RESEND:
                    return await self._conclude(op, finding)
            notes = await action.check(api, op) or {}
            await ops.mark_sent(op.op_id, notes or None)
            sent = True
            log.info("chat %s: sending %s %s", op.chat_id, op.kind, op.op_id)
            # A balance read before (or while) money moves must not decide a quote.
            self._accounts.forget_balance(api)
            try:
                response = await action.send(api, op)
            finally:
                self._accounts.forget_balance(api)
        except Abort as stop:
            return Aborted(await self._settle(op, stop.status, stop.result), stop.reason)
        except ProxyApiError as exc:
            resend = ticket.claimed_from == UNKNOWN
            if sent and (exc.may_have_acted or (resend and isinstance(exc, _UNREAD))):
                # (A throttle or auth refusal of a resend says nothing of the first attempt.)
                log.warning("chat %s: %s %s unclear (%s)", op.chat_id, op.kind, op.op_id,
                            exc.code)
                unclear = {**notes, "error": exc.code}  # the evidence stays for the investigation
                return Unclear(await self._settle(op, UNKNOWN, unclear), exc)
            if not sent:
                # Nothing left the process for this attempt: the claim is released as it was.
                await ops.finish(op.op_id, ticket.claimed_from)
                raise
            status, result = action.refused(op, exc)
            log.info("chat %s: %s %s refused (%s)", op.chat_id, op.kind, op.op_id, exc.code)
            return Refused(await self._settle(op, status, result), exc)
        except BaseException:
            # A crash, cancellation or bug: once sent, only an investigation can tell.
            await ops.finish(op.op_id, UNKNOWN if sent else ticket.claimed_from)
            raise
        happened = await action.settle(api, op, response)
        log.info("chat %s: %s %s done", op.chat_id, op.kind, op.op_id)
        return await self._done(await self._settle(op, DONE, happened.result, happened.order_id))

    async def _conclude(self, op: Operation, finding: Investigation) -> RunResult:
        if isinstance(finding, Happened):
            log.info("chat %s: unresolved %s %s did happen", op.chat_id, op.kind, op.op_id)
            return await self._done(
                await self._settle(op, DONE, finding.result, finding.order_id)
            )
        if isinstance(finding, DidNotHappen):
            log.info("chat %s: unresolved %s %s did not happen", op.chat_id, op.kind, op.op_id)
            return NotHappened(await self._settle(op, PENDING, finding.result))
        return Unclear(await self._settle(op, UNKNOWN, None))

    async def _settle(
        self,
        op: Operation,
        status: str,
        result: dict[str, Any] | None,
        order_id: str | None = None,
    ) -> Operation:
        """Store the new state; the operation as it now is (as it would be, when the
        chat's rows went meanwhile — a logout — so the user still hears the outcome)."""
        await self._repos.operations.finish(op.op_id, status, result, order_id=order_id)
        latest = await self._repos.operations.get(op.op_id)
        if latest is not None:
            return latest
        return replace(op, status=status, result=result if result is not None else op.result,
                       order_id=order_id or op.order_id)

    # -- without a tap ----------------------------------------------------------------

    async def recover(self) -> list[RunResult]:
        """At start: finish what the last process left; every outcome, to tell the users."""
        interrupted = await self._repos.operations.recover_interrupted(self._owner)
        if interrupted.never_sent or interrupted.maybe_sent:
            log.warning(
                "last stop interrupted %d paid action(s) before sending, %d after",
                len(interrupted.never_sent), len(interrupted.maybe_sent),
            )
        results: list[RunResult] = [
            NotHappened(replace(op, status=PENDING), interrupted=True)
            for op in interrupted.never_sent
        ]
        # Every user whose action was cut off hears how it stands, still unclear or not.
        results += await self.resolve_unknown(include_unclear=True)
        return results

    async def resolve_unknown(self, include_unclear: bool = False) -> list[RunResult]:
        """Investigate every unresolved operation once; the ones now decided (and with
        ``include_unclear`` the rest too), to announce."""
        decided: list[RunResult] = []
        for op in await self._repos.operations.unknown():
            if op.kind not in self._actions:
                continue
            try:
                ticket = await self.claim(op)
                result = await self.run(ticket)
            except (AlreadyProcessing, PaidActionBlocked):
                continue  # a tap is on it right now
            except (ProxyApiError, NotLinked) as exc:
                log.info("op %s still unresolved (%s)", op.op_id, type(exc).__name__)
                continue
            except BotError as exc:
                log.info("op %s not resolved: %s", op.op_id, type(exc).__name__)
                continue
            if include_unclear or not isinstance(result, Unclear):
                decided.append(result)
        return decided


def settled_status(op: Operation) -> str | None:
    """``done``/``failed`` for a settled operation, else None."""
    return op.status if op.status in (DONE, FAILED) else None
