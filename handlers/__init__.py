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
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.types import CallbackQuery

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
    root = Router(name="root")
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
    for router in features:
        skip_foreign_taps(router)
    root.include_routers(*features)
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


def skip_foreign_taps(router: Router) -> None:
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
        return
    accepted: set[tuple[str, str]] = set()
    for handler in router.callback_query.handlers:
        own = {
            (f.callback.callback_data.__prefix__, f.callback.callback_data.__separator__)
            for f in handler.filters or ()
            if isinstance(f.callback, CallbackQueryFilter)
        }
        if not own:
            return
        accepted |= own
    prefixes = frozenset(accepted)

    async def own_tap(query: CallbackQuery) -> bool:
        data = query.data or ""
        return any(data.split(separator, 1)[0] == prefix for prefix, separator in prefixes)

    router.callback_query.filter(own_tap)
