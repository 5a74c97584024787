"""Routers of every feature, composed in one explicit order.

Order matters: /cancel and key handling come before feature routers so they win
in any state; the fallback router is last and sees only what nobody handled.
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
    link,
    orders,
    settings,
    start,
)


def build_root_router() -> Router:
    feature_routers = [
        errors.router,
        common.router,
        start.router,
        link.router,
        account.router,
        settings.router,
        deposit.router,
        orders.router,
        buy.router,
        fallback.router,
    ]
    root = Router(name="root")
    for router in feature_routers:
        # Feature routers live at module level (aiogram's idiom) and a router has one parent;
        # the app can be rebuilt in one process (tests restart it), so release the old parent.
        router._parent_router = None
        root.include_router(router)
    return root
