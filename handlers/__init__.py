"""Routers of every feature, composed in one explicit order.

Order matters: /cancel and key handling come before feature routers so they win
in any state; the fallback router is last and sees only what nobody handled.

Each feature module exposes ``setup() -> Router``, which builds its router anew; handlers
are plain module-level functions and hold no state. Who may use a handler (private chats
only, …) is declared with flags when it is registered: see `handlers.policies`.
"""

from __future__ import annotations

from aiogram import Router

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
    root.include_routers(
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
    )
    return root
