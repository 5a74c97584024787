"""The main menu's dashboard: the balance and the orders that expire soonest."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.clock import Clock
from proxy_api.errors import ProxyApiError
from services.account import AccountService
from services.errors import NotLinked
from storage import Repositories
from storage.orders import LocalOrder

__all__ = ["EXPIRING_SHOWN", "Dashboard", "DashboardService", "LocalOrder"]

log = logging.getLogger(__name__)

# How many of the soonest-expiring orders the dashboard lists.
EXPIRING_SHOWN = 3


@dataclass(frozen=True, slots=True)
class Dashboard:
    # None when the API could not be asked (the dashboard is shown without it).
    balance: Decimal | None
    expiring: list[LocalOrder]
    now: datetime  # when it was read (how long each order has left)


class DashboardService:
    def __init__(self, accounts: AccountService, repos: Repositories, clock: Clock) -> None:
        self._accounts = accounts
        self._repos = repos
        self._clock = clock

    async def read(self, chat_id: int) -> Dashboard:
        """At most one balance read (GET /account) and the local orders table.

        The menu is opened far more often than money moves: a balance the API gave within
        the last minute with no paid action since (``AccountService.recent_balance``) is
        shown as it is; the 💰 Balance screen always asks the API.
        """
        try:
            api = await self._accounts.api_for(chat_id)
            balance = self._accounts.recent_balance(api)
            if balance is None:
                balance = (await self._accounts.read_account(api)).balance
        except (ProxyApiError, NotLinked) as exc:
            log.info("chat %s: dashboard without the balance (%s)", chat_id, type(exc).__name__)
            balance = None
        now = self._clock.now()
        expiring = await self._repos.orders.expiring_soonest(chat_id, now, EXPIRING_SHOWN)
        return Dashboard(balance, expiring, now)
