"""Prometheus metrics of one app: what an operator's dashboard shows.

Every App has its own CollectorRegistry (not prometheus-client's global one), so tests can
build the app many times in one process and each scrape shows only that app's counts.
The components report through small hooks (plain callables) so none of them imports this.
Metrics exist only where they are served (METRICS_PORT, or webhook mode): without them the
app builds none, and prometheus-client is not even imported (start-up, issue 14).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.types import TelegramObject, Update

from storage import Database

# Path segments that are ids (orders, transactions) would make one series per order.
_ID_SEGMENT = re.compile(r"^(?=.*\d)[A-Za-z0-9_.:-]{4,}$")


def endpoint_label(method: str, path: str) -> str:
    """`GET /orders/{id}` for `GET /orders/ord_8f2a…`: bounded label values."""
    parts = ["{id}" if _ID_SEGMENT.match(p) else p for p in path.split("?")[0].split("/")]
    return f"{method} {'/'.join(parts)}"


class Metrics:
    """The app's metrics; `render()` gives the Prometheus text format."""

    def __init__(self, db: Database | None = None) -> None:
        # Here, not at the top: a bot that serves no metrics never loads prometheus-client.
        from prometheus_client import (
            CONTENT_TYPE_LATEST,
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
        )

        self.content_type = CONTENT_TYPE_LATEST
        self.registry = CollectorRegistry(auto_describe=True)
        self._db = db
        r = self.registry
        self.updates = Counter(
            "bot_updates_total", "Updates handled, by update type.", ["type"], registry=r
        )
        self.update_errors = Counter(
            "bot_update_errors_total", "Updates whose handler raised, by type.", ["type"],
            registry=r,
        )
        self.handler_seconds = Histogram(
            "bot_handler_duration_seconds", "Time from an update's arrival to its handler's end.",
            ["type"], registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.upstream = Counter(
            "bot_upstream_requests_total", "1001Proxy API requests, by endpoint and status.",
            ["endpoint", "status"], registry=r,
        )
        self.telegram_requests = Counter(
            "bot_telegram_requests_total", "Bot API calls, by method and outcome.",
            ["method", "outcome"], registry=r,
        )
        self.rate_limited = Counter(
            "bot_rate_limited_total", "429 answers, by side (telegram or api).", ["side"],
            registry=r,
        )
        self.retries = Counter(
            "bot_retries_total", "Requests sent again, by side (telegram or api).", ["side"],
            registry=r,
        )
        self.paid_actions = Counter(
            "bot_paid_actions_total", "Paid actions completed (order, extend).", ["kind"],
            registry=r,
        )
        self.outbox = Counter(
            "bot_outbox_messages_total",
            "Scheduled messages (reminders, notices) by kind and outcome "
            "(sent, deferred, failed, dropped).",
            ["kind", "outcome"], registry=r,
        )
        self.sender_queue = Gauge(
            "bot_sender_queue_length", "Messages waiting in the outbox.", registry=r
        )
        self.in_flight = Gauge(
            "bot_updates_in_flight", "Updates being handled now.", registry=r
        )
        # Every label set a dashboard filters on exists from the start, at zero.
        for side in ("telegram", "api"):
            self.rate_limited.labels(side)
            self.retries.labels(side)
        for kind in ("order", "extend"):
            self.paid_actions.labels(kind)
        for outcome in ("sent", "deferred"):
            self.outbox.labels("reminder", outcome)

    # -- hooks the components call -------------------------------------------

    def api_response(self, method: str, path: str, status: int | str) -> None:
        self.upstream.labels(endpoint_label(method, path), str(status)).inc()
        if status == 429:
            self.rate_limited.labels("api").inc()

    def api_retry(self) -> None:
        self.retries.labels("api").inc()

    def telegram_retry(self) -> None:
        self.retries.labels("telegram").inc()

    def outbox_outcome(self, kind: str, outcome: str) -> None:
        self.outbox.labels(kind, outcome).inc()

    def paid_action_done(self, kind: str) -> None:
        self.paid_actions.labels(kind).inc()

    # -- scrape -------------------------------------------------------------------

    async def render(self) -> bytes:
        if self._db is not None:
            # Read at scrape time: the queue lives in SQLite, shared with other senders.
            row = await self._db.fetchone(
                "SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending')"
            )
            self.sender_queue.set(row[0] if row else 0)
        from prometheus_client import generate_latest  # loaded by __init__ already

        return generate_latest(self.registry)


class TelegramMetricsMiddleware(BaseRequestMiddleware):
    """Session middleware inside the retry middleware: sees every attempt, 429s included."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Any:
        name = method.__api_method__
        try:
            result = await make_request(bot, method)
        except TelegramRetryAfter:
            self._metrics.telegram_requests.labels(name, "rate_limited").inc()
            self._metrics.rate_limited.labels("telegram").inc()
            raise
        except Exception:
            self._metrics.telegram_requests.labels(name, "error").inc()
            raise
        self._metrics.telegram_requests.labels(name, "ok").inc()
        return result


UpdateLogger = Callable[[Update, str, float, bool], None]


class UpdateMetricsMiddleware(BaseMiddleware):
    """Outer middleware on `dispatcher.update`: counts, times and logs each update.

    Without metrics (none served) it only times and logs.
    """

    def __init__(
        self, metrics: Metrics | None, log_update: UpdateLogger | None = None
    ) -> None:
        self._metrics = metrics
        self._log_update = log_update

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        kind = _update_type(event)
        started = time.perf_counter()
        failed = True
        metrics = self._metrics
        if metrics is not None:
            metrics.in_flight.inc()
        try:
            result = await handler(event, data)
            failed = False
            return result
        finally:
            elapsed = time.perf_counter() - started
            if metrics is not None:
                metrics.in_flight.dec()
                metrics.updates.labels(kind).inc()
                metrics.handler_seconds.labels(kind).observe(elapsed)
                if failed:
                    metrics.update_errors.labels(kind).inc()
            if self._log_update is not None and isinstance(event, Update):
                self._log_update(event, kind, elapsed, failed)


def _update_type(event: TelegramObject) -> str:
    if not isinstance(event, Update):
        return "unknown"
    try:
        return event.event_type
    except LookupError:
        return "unknown"
