"""Routers of every feature, composed in one explicit order.

Order matters: /cancel and key handling come before feature routers so they win
in any state; the fallback router is last and sees only what nobody handled.

Each feature module exposes ``setup() -> Router``, which builds its router anew; handlers
are plain module-level functions and hold no state. Who may use a handler (private chats
only, …) is declared with flags when it is registered: see `handlers.policies`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.bases import REJECTED, UNHANDLED
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.types import CallbackQuery, TelegramObject

from handlers import (
    account,
    buy,
    common,
    deposit,
    errors,
    fallback,
    group_link,
    link,
    membership,
    orders,
    reminders,
    requests,
    settings,
    start,
    topup,
)


def build_root_router() -> Router:
    """A fresh tree of routers: the app can be built more than once in a process (tests
    restart it), and a router can have only one parent."""
    root = TapRouter(name="root")
    features = [
        errors.setup(),
        # my_chat_member only: no other router sees those updates.
        membership.setup(),
        common.setup(),
        # Before start (its /start takes any payload) and link (it takes a key pasted in
        # any state): the deep link of a group's /link, and a key sent for that group.
        group_link.setup(),
        start.setup(),
        link.setup(),
        account.setup(),
        settings.setup(),
        # Before deposit: its Top up buttons remember the way back, then open deposit's screens.
        topup.setup(),
        deposit.setup(),
        orders.setup(),
        reminders.setup(),
        buy.setup(),
        # Request approval on a member's quote; Approve / Decline on the request.
        requests.setup(),
        fallback.setup(),
    ]
    root.include_routers(*features)
    for router in features:
        root.taps_of(router, skip_foreign_taps(router))
    run_filters_inline(root)
    return root


def run_filters_inline(router: Router) -> None:
    """Plain (non-async) filters run on the event loop, not in a thread.

    aiogram runs every plain callable through ``asyncio.to_thread``: each magic filter
    (``F.text``, ``F.chat.type == …``) and each router's tap filter was a thread hop and a
    GIL hand-over, several per update — under the wizard load the thread pool's traffic was
    the largest single cost. They only read the update, so they run inline (handlers are all
    ``async``; tests/test_handler_structure.py checks that nothing plain is left).
    """
    for observer in router.observers.values():
        filters = list(observer._handler.filters or ())
        for handler in observer.handlers:
            filters += handler.filters or ()
        for item in filters:
            if not item.awaitable:
                item.callback = _inline(item.callback)
                item.awaitable = True
    for sub in router.sub_routers:
        run_filters_inline(sub)


def _inline(plain: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def inline(*args: Any, **kwargs: Any) -> Any:
        return plain(*args, **kwargs)

    return inline


def skip_foreign_taps(router: Router) -> frozenset[tuple[str, str]] | None:
    """Let a tap into ``router`` only if one of its handlers can take it.

    A tap is tried against the routers in order, each trying its handlers' filters in
    order: a wizard tap failed some 36 CallbackData filters (an exception each) before
    reaching its own. When every tap handler of a router requires a CallbackData, the
    prefixes say at once whether any of them can match; aiogram checks a router's own
    filter before its handlers, so a foreign tap skips the whole router. Nothing else
    changes: a router with a handler that takes any tap, or with sub-routers, is left
    as it is.
    """
    if router.sub_routers or not router.callback_query.handlers:
        return None
    accepted: set[tuple[str, str]] = set()
    for handler in router.callback_query.handlers:
        own = {
            (f.callback.callback_data.__prefix__, f.callback.callback_data.__separator__)
            for f in handler.filters or ()
            if isinstance(f.callback, CallbackQueryFilter)
        }
        if not own:
            return None
        accepted |= own
    prefixes = frozenset(accepted)

    async def own_tap(query: CallbackQuery) -> bool:
        data = query.data or ""
        return any(data.split(separator, 1)[0] == prefix for prefix, separator in prefixes)

    router.callback_query.filter(own_tap)
    return prefixes


class TapRouter(Router):
    """The root: a tap is offered only to the feature routers that may take it.

    aiogram offers an event to every router in turn, and each offer costs (the event's
    data copied, middlewares wrapped, the router's filter run) even when the router's own
    filter (`skip_foreign_taps`) turns it down at once: a wizard tap was offered to 13
    routers before the one that takes it, ~14% of the bot's CPU under the wizard load. The
    routers a tap's prefix can reach are worked out once per prefix, in the same order;
    routers that take any tap stay in every list, so what handles a tap does not change.
    Other updates go through every router as usual.
    """

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._accepts: dict[Router, frozenset[tuple[str, str]] | None] = {}
        self._by_prefix: dict[str, tuple[Router, ...]] = {}

    def taps_of(self, router: Router, prefixes: frozenset[tuple[str, str]] | None) -> None:
        """``router`` takes only taps with these (prefix, separator) pairs; None: any."""
        self._accepts[router] = prefixes
        self._by_prefix.clear()

    def _routers_for(self, data: str) -> tuple[Router, ...]:
        if not self._by_prefix:
            self._index()
        found = self._by_prefix.get(data.split(":", 1)[0])  # as `skip_foreign_taps` reads it
        return found if found is not None else self._by_prefix[""]

    def _index(self) -> None:
        """Per known prefix, the routers that may take its taps; "": any other tap."""
        if any(sep != ":" for accepts in self._accepts.values() if accepts for _, sep in accepts):
            raise ValueError("a tap router narrows taps by ':'-separated prefixes only")
        known = {prefix for accepts in self._accepts.values() if accepts for prefix, _ in accepts}
        for head in (*known, ""):
            self._by_prefix[head] = tuple(
                router for router in self.sub_routers
                if _may_take_taps(router)
                and ((accepts := self._accepts.get(router)) is None
                     or any(prefix == head for prefix, _ in accepts))
            )


def _may_take_taps(router: Router) -> bool:
    """False when offering a tap to ``router`` can only come back unhandled."""
    taps = router.callback_query
    return bool(router.sub_routers or taps.handlers or taps.outer_middleware)

    async def _propagate_event(
        self,
        observer: TelegramEventObserver | None,
        update_type: str,
        event: TelegramObject,
        **kwargs: Any,
    ) -> Any:
        if update_type != "callback_query" or not isinstance(event, CallbackQuery):
            return await super()._propagate_event(observer, update_type, event, **kwargs)
        # aiogram's own steps (Router._propagate_event), with the routers narrowed down.
        response = UNHANDLED
        if observer:
            result, data = await observer.check_root_filters(event, **kwargs)
            if not result:
                return UNHANDLED
            kwargs.update(data)
            response = await observer.trigger(event, **kwargs)
            if response is REJECTED:
                return UNHANDLED
            if response is not UNHANDLED:
                return response
        for router in self._routers_for(event.data or ""):
            response = await router.propagate_event(update_type=update_type, event=event, **kwargs)
            if response is not UNHANDLED:
                break
        return response
