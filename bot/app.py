"""The composition root: the only place long-lived objects are built and wired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError
from aiogram.fsm.storage.memory import DisabledEventIsolation
from aiogram.types import BotCommand
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.background import BackgroundTasks
from bot.deposit_job import DepositJob
from bot.flood import Throttle, ThrottlingMiddleware
from bot.i18n import LANGUAGES, UserLanguageMiddleware, build_i18n
from bot.logs import UpdateContext, log_update, record_handlers
from bot.metrics import Metrics, TelegramMetricsMiddleware, UpdateMetricsMiddleware
from bot.paid_notices import PaidActionNotifier
from bot.reminder_job import ReminderJob
from bot.request_job import RequestExpiryJob
from bot.screens import OpenerMiddleware, ScreenRecorder
from bot.sender import OutboxSender
from bot.settings import Settings
from bot.telegram_retry import RetryAfterMiddleware
from bot.telegram_session import BotSession
from bot.update_tasks import UpdateTasks
from core.clock import Clock, SystemClock
from core.security import KeyVault, load_vault
from handlers import build_root_router
from handlers.errors import track_handlers
from handlers.group_admins import GroupAdmins
from handlers.policies import enforce_policies
from proxy_api import Order, ProxyApiClient, build_http_client
from services.account import AccountService
from services.dashboard import DashboardService
from services.deposit_watch import DepositWatch
from services.deposits import DepositService
from services.group_link import GroupLinkService
from services.group_requests import GroupRequests
from services.groups import GroupService
from services.key_checks import KeyCheckLimiter
from services.membership import ChatMembership
from services.orders import ExtendAction, OrdersService
from services.paid import PaidActionRunner
from services.prices import PriceBook
from services.purchase import PurchaseService
from services.purchase.checkout import CheckoutService, OrderAction
from services.reminders import ReminderService
from services.sync import OrderSync
from storage import Database, Repositories
from storage.fsm import SQLiteStorage
from storage.operations import Operation
from storage.outbox import OutboxRepository
from views.best_effort import BestEffortCallbackAnswerMiddleware, best_effort
from views.commands import menu_commands
from views.names import country_search_names
from views.ui import set_working_delay

if TYPE_CHECKING:
    from aiohttp import web

    from bot.webhook import BoundedWebhookHandler

log = logging.getLogger(__name__)

# How long a graceful stop waits for handlers that are still running.
SHUTDOWN_GRACE_SECONDS = 15.0
# How often paid actions whose answer was lost are investigated again without a tap.
UNRESOLVED_CHECK_SECONDS = 60


class StartupError(Exception):
    """Start-up cannot go on; the message is one line for the operator."""


@dataclass
class App:
    settings: Settings
    clock: Clock
    bot: Bot
    dispatcher: Dispatcher
    db: Database
    repos: Repositories
    http: httpx.AsyncClient
    api_client: ProxyApiClient
    vault: KeyVault
    i18n: I18n
    scheduler: AsyncIOScheduler
    paid_notices: PaidActionNotifier
    background: BackgroundTasks
    # The handlers running now: a stop waits for them (a test harness may cancel them).
    updates: UpdateTasks
    # Everything scheduled leaves through it (bot/sender.py); wake() it after queueing.
    sender: OutboxSender
    reminder_job: ReminderJob
    # None unless served (METRICS_PORT, or webhook mode): see `_serves_metrics`.
    metrics: Metrics | None
    _closed: bool = field(default=False, init=False)
    _stop_requested: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    # Set while serving in webhook mode (tests look at its bound).
    webhook: BoundedWebhookHandler | None = field(default=None, init=False)

    async def run(self, handle_signals: bool = True) -> None:
        """Webhook mode when WEBHOOK_URL is set, long polling otherwise."""
        if self.settings.webhook_mode:
            await self.run_webhook(handle_signals=handle_signals)
        else:
            await self.run_polling(handle_signals=handle_signals)

    def ops_app(self) -> web.Application:
        """An aiohttp app answering /healthz and /metrics."""
        # The operator's endpoints (aiohttp's server, prometheus-client) load only when
        # served, not at every start.
        from aiohttp import web

        from bot.health import add_ops_routes, api_reachable, database_writable

        assert self.metrics is not None, "metrics are built whenever they are served"
        web_app = web.Application()
        add_ops_routes(
            web_app,
            self.metrics,
            {
                "database": lambda: database_writable(self.db),
                "api": lambda: api_reachable(self.http, self.settings.proxy_api_url),
            },
        )
        return web_app

    async def run_webhook(self, handle_signals: bool = True) -> None:
        """Serve the webhook (and /healthz, /metrics) until stopped; then close everything."""
        from bot.webhook import (  # aiohttp's server: only in webhook mode
            MAX_CONNECTIONS,
            BoundedWebhookHandler,
            start_site,
            webhook_path,
        )

        settings = self.settings
        assert settings.webhook_url is not None and settings.webhook_secret is not None
        runner = None
        handler = None
        # What start_polling gives handlers and hooks (feed_update adds "dispatcher").
        workflow: dict[str, object] = {"bots": [self.bot]}
        try:
            await self.check_telegram()
            if handle_signals:
                _stop_on_signals(self._stop_requested)
            await self.dispatcher.emit_startup(
                bot=self.bot, dispatcher=self.dispatcher, **workflow,
                **self.dispatcher.workflow_data,
            )
            web_app = self.ops_app()
            handler = BoundedWebhookHandler(
                self.dispatcher,
                self.bot,
                secret_token=settings.webhook_secret,
                limit=settings.max_concurrent_updates,
                **workflow,
            )
            handler.register(web_app, path=webhook_path(settings.webhook_url))
            self.webhook = handler
            runner = await start_site(web_app, settings.webhook_host, settings.webhook_port)
            # Registered only once we listen, so Telegram's first delivery finds us.
            await self.bot.set_webhook(
                settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
                max_connections=min(MAX_CONNECTIONS, settings.max_concurrent_updates),
            )
            log.info("webhook mode: listening on %s:%d", settings.webhook_host,
                     settings.webhook_port)
            await self._stop_requested.wait()
            log.info("stopping: no new updates are taken")
        finally:
            # New deliveries get 503 (Telegram keeps them for the next process); the
            # webhook stays registered, so updates wait at Telegram meanwhile.
            if handler is not None:
                handler.closing = True
            if runner is not None:
                await runner.cleanup()
            with contextlib.suppress(Exception):
                await self.dispatcher.emit_shutdown(
                    bot=self.bot, dispatcher=self.dispatcher, **workflow,
                    **self.dispatcher.workflow_data,
                )
            await self.close()

    async def check_telegram(self) -> None:
        try:
            # Cached on the Bot: polling's own start asks for it again, and gets it free.
            me = await self.bot.me()
        except TelegramUnauthorizedError:
            raise StartupError(
                "Telegram rejected BOT_TOKEN (401 Unauthorized): check the token from @BotFather"
            ) from None
        except TelegramNetworkError as exc:
            raise StartupError(
                f"Bot API unreachable at {self.settings.telegram_api_url}: {exc.message}"
            ) from None
        log.info("connected to Telegram as @%s", me.username)

    async def run_polling(self, handle_signals: bool = True) -> None:
        """Poll until stopped; closes everything it owns on the way out."""
        ops = None
        try:
            await self.check_telegram()
            # A webhook left by an earlier run in webhook mode would refuse getUpdates (409).
            await best_effort(
                self.bot.delete_webhook(drop_pending_updates=False), "delete the webhook"
            )
            if self.settings.metrics_port is not None:
                from bot.webhook import start_site  # aiohttp's server: only when asked for

                ops = await start_site(self.ops_app(), self.settings.webhook_host,
                                       self.settings.metrics_port)
            await self.dispatcher.start_polling(
                self.bot,
                handle_signals=handle_signals,
                close_bot_session=False,
                polling_timeout=10,
                # A flood waits at Telegram instead of piling up tasks (and memory) here.
                tasks_concurrency_limit=self.settings.max_concurrent_updates,
            )
        finally:
            if ops is not None:
                await ops.cleanup()
            await self.close()

    async def stop(self) -> None:
        self._stop_requested.set()
        with contextlib.suppress(RuntimeError):  # not polling
            await self.dispatcher.stop_polling()

    def in_flight(self) -> set[asyncio.Task[object]]:
        return self.updates.running()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        running = len(self.in_flight())
        if running:
            log.info("waiting for %d running handler(s) to finish", running)
            left = await self.updates.wait(SHUTDOWN_GRACE_SECONDS)
            if left:
                log.warning("%d handler(s) still running after %.0f s; stopping anyway",
                            left, SHUTDOWN_GRACE_SECONDS)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.sender.stop(SHUTDOWN_GRACE_SECONDS)
        await self.background.close(SHUTDOWN_GRACE_SECONDS)
        await self.api_client.aclose()
        await self.http.aclose()
        await self.bot.session.close()
        await self.db.close()
        log.info("stopped")


def _stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM (systemd, docker stop) and SIGINT end the webhook loop like App.stop()."""
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def _on_startup(
    bot: Bot,
    i18n: I18n,
    scheduler: AsyncIOScheduler,
    accounts: AccountService,
    paid_notices: PaidActionNotifier,
    background: BackgroundTasks,
    reminder_job: ReminderJob,
) -> None:
    await accounts.reencrypt_keys()
    # Paid actions the last process left are finished in the background: the API may be
    # slow, and taps meanwhile are safe (every attempt goes through the runner's claim).
    background.spawn(paid_notices.recover(), "recover interrupted paid actions")
    # Reminders that fell due while the bot was down go out now (each once).
    background.spawn(reminder_job.run(), "send reminders due while stopped")
    # The command menu is cosmetic: a throttled Bot API must not hold up polling.
    background.spawn(_register_commands(bot, i18n), "register the command menu")
    if not scheduler.running:
        scheduler.start()


async def _register_commands(bot: Bot, i18n: I18n) -> None:
    for language in LANGUAGES:
        with i18n.context(), i18n.use_locale(language):
            commands = [
                BotCommand(command=name, description=description)
                for name, description in menu_commands()
            ]
        code = None if language == "en" else language
        # The menu is a convenience: a Telegram hiccup (5xx, a long 429) must not keep the
        # bot from starting. Each language is tried on its own; the next start retries.
        await best_effort(
            bot.set_my_commands(commands, language_code=code),
            f"register the {language} command menu",
        )


def _serves_metrics(settings: Settings) -> bool:
    """/metrics is served beside the webhook, or on METRICS_PORT when polling."""
    return settings.webhook_mode or settings.metrics_port is not None


async def build_app(settings: Settings, *, clock: Clock | None = None) -> App:
    clock = clock or SystemClock()
    vault = load_vault(settings.encryption_key, settings.key_file)
    db = Database(settings.database_path)
    await db.connect()
    repos = Repositories.build(db, clock)

    http = build_http_client()
    api_client = ProxyApiClient(http, settings.proxy_api_url, clock=clock)
    i18n = build_i18n()
    scheduler = AsyncIOScheduler(timezone="UTC")

    session = BotSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    bot = Bot(
        token=settings.bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    accounts = AccountService(api_client, repos, vault, clock)
    # Whose claims are whose: a new id per process, so start-up knows the old ones are dead.
    runner = PaidActionRunner(accounts, repos, clock, owner=uuid.uuid4().hex)
    runner.register(OrderAction(repos, clock))
    runner.register(ExtendAction(repos, clock))
    prices = PriceBook(clock)
    purchases = PurchaseService(accounts, repos, clock, prices, country_search_names)
    checkout = CheckoutService(accounts, purchases, runner, clock)
    orders = OrdersService(accounts, repos, clock, runner, prices)
    reminders = ReminderService(repos, accounts, clock, prices, settings.reminder_offsets)
    order_sync = OrderSync(accounts, repos, reminders, clock, settings.order_sync_interval)
    deposit_watch = DepositWatch(
        accounts,
        repos,
        clock,
        poll_interval=settings.deposit_poll_interval,
        slow_interval=settings.order_sync_interval,
    )
    background = BackgroundTasks()
    outbox = OutboxRepository(db, clock)
    membership = ChatMembership(repos.chats, outbox)
    # Its own owner id: claims of a sender that is gone are taken over after their lease.
    sender = OutboxSender(bot, outbox, membership, clock, owner=uuid.uuid4().hex)
    metrics = Metrics(db) if _serves_metrics(settings) else None
    # Handlers' replies share Telegram's 30 messages a second with the sender.
    bot.session.middleware(sender.other_sends())
    retry_after = RetryAfterMiddleware(clock)
    bot.session.middleware(retry_after)
    if metrics is not None:
        retry_after.on_retry = metrics.telegram_retry
        # Inside the retry middleware: every attempt is counted, each 429 too.
        bot.session.middleware(TelegramMetricsMiddleware(metrics))
        api_client.on_response = metrics.api_response
        api_client.on_retry = metrics.api_retry
        sender.on_outcome = metrics.outbox_outcome
    # Who opened each screen in a group, so nobody else's tap changes it.
    bot.session.middleware(ScreenRecorder(repos.groups))
    set_working_delay(settings.working_delay.total_seconds())
    dispatcher = Dispatcher(
        storage=SQLiteStorage(db, clock),
        events_isolation=DisabledEventIsolation(),
        clock=clock,
        repos=repos,
        api_client=api_client,
        vault=vault,
        scheduler=scheduler,
        i18n=i18n,
        accounts=accounts,
        deposits=DepositService(accounts),
        orders=orders,
        reminders=reminders,
        order_sync=order_sync,
        deposit_watch=deposit_watch,
        purchases=purchases,
        checkout=checkout,
        background=background,
    )
    paid_notices = PaidActionNotifier(bot, i18n, repos, runner, checkout, orders, clock)
    dispatcher["paid_notices"] = paid_notices
    dispatcher["membership"] = membership
    dispatcher["group_admins"] = GroupAdmins(bot, clock)
    # Member requests in groups (Approve places the order through the runner, once).
    group_requests = GroupRequests(
        repos, purchases, checkout, clock, settings.group_request_ttl
    )
    dispatcher["group_requests"] = group_requests
    dispatcher["group_link"] = GroupLinkService(api_client, repos, vault)
    dispatcher["groups"] = GroupService(repos)
    dispatcher["dashboard"] = DashboardService(accounts, repos, clock)
    dispatcher["support_url"] = settings.support_url
    updates = UpdateTasks()
    # Outermost: the log line's context, then the count and the latency of every update.
    dispatcher.update.outer_middleware(UpdateContext())
    dispatcher.update.outer_middleware(UpdateMetricsMiddleware(metrics, log_update))
    dispatcher.update.outer_middleware(updates)
    dispatcher.update.outer_middleware(OpenerMiddleware())
    language = UserLanguageMiddleware(i18n, repos.users)
    language.setup(dispatcher)
    throttle = Throttle(
        clock,
        user_limit=settings.throttle_user_limit,
        chat_limit=settings.throttle_chat_limit,
        window=settings.throttle_window.total_seconds(),
    )
    # Outer on the update and ahead of the FSM middleware (which reads the chat's state),
    # so a dropped update never reaches the database or the API.
    dispatcher.update.outer_middleware.unregister(dispatcher.fsm)
    dispatcher.update.outer_middleware(ThrottlingMiddleware(throttle, language))
    dispatcher.update.outer_middleware(dispatcher.fsm)
    dispatcher["key_checks"] = KeyCheckLimiter(
        clock, limit=settings.key_check_limit, window=settings.key_check_window.total_seconds()
    )
    # So the error log can name the handler that failed.
    track_handlers(dispatcher)
    record_handlers(dispatcher)
    # Answer every tap at once (the spinner stops); handlers that need an alert opt out by flag.
    # Best effort: a tap too old to answer (queued while the bot was down) still runs.
    dispatcher.callback_query.middleware(BestEffortCallbackAnswerMiddleware(pre=True))
    dispatcher.include_router(build_root_router())
    # Last of the inner middlewares: a refusal is logged with the handler's name, and the
    # tap it refuses is still answered.
    enforce_policies(dispatcher)
    dispatcher.startup.register(_on_startup)
    dispatcher.startup.register(sender.start)
    reminder_job = ReminderJob(
        reminders, repos, i18n, clock, owner=runner.owner, outbox=outbox, wake_sender=sender.wake
    )
    reminder_job.attach(scheduler)
    dispatcher["reminder_job"] = reminder_job
    order_sync.on_key_revoked = reminder_job.tell_key_revoked
    # Deposits reaching a balance are announced (and lead back to a quote short of money).
    deposit_job = DepositJob(deposit_watch, repos, i18n, wake_sender=sender.wake)
    deposit_job.attach(scheduler)
    dispatcher["deposit_job"] = deposit_job
    # Requests nobody answered in GROUP_REQUEST_TTL close (quote dropped, message edited).
    request_job = RequestExpiryJob(group_requests, repos, bot, i18n)
    request_job.attach(scheduler)
    dispatcher["request_job"] = request_job
    deposit_watch.on_key_revoked = reminder_job.tell_key_revoked

    async def replan_after_paid_action(op: Operation) -> None:
        # A new order or a new expiry gets its reminders at once, not at the next sync.
        # Only that order changed: re-planning the whole chat cost a write per order and
        # offset after every purchase, growing with the orders a chat has.
        order = await repos.orders.get(op.chat_id, op.order_id) if op.order_id else None
        if order is not None:
            await reminders.plan_order(op.chat_id, order)
        else:
            await reminders.plan_chat(op.chat_id)
        await reminder_job.reschedule()

    runner.after_done(replan_after_paid_action)

    async def replan_read_order(chat_id: int, order: Order) -> None:
        # An order opened or listed whose status or expiry the local copy did not know (a
        # purchase's receipt does not read it back): its reminders now, not at the next sync.
        await reminders.plan_order(chat_id, order)
        await reminder_job.reschedule()

    orders.on_order_changed = replan_read_order

    if metrics is not None:

        async def count_paid_action(op: Operation) -> None:
            metrics.paid_action_done(op.kind)

        runner.after_done(count_paid_action)
    scheduler.add_job(
        repos.operations.purge_older_than,
        "interval",
        hours=6,
        args=[timedelta(days=30)],
        id="purge-operations",
        replace_existing=True,
    )
    # Order sync: one job ticks a few times per ORDER_SYNC_INTERVAL and syncs the chats whose
    # slot came (each chat has a fixed slot in the interval, from a hash of its id) or whose
    # failed sync is due again; state is chats.synced_at, so nothing is re-added per chat
    # at start. One tick at a time: a slow API delays the next tick instead of piling up.
    scheduler.add_job(
        order_sync.sync_all,
        "interval",
        seconds=order_sync.tick.total_seconds(),
        id="sync-orders",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        repos.reminders.purge_older_than,
        "interval",
        hours=6,
        args=[timedelta(days=30)],
        id="purge-reminders",
        replace_existing=True,
    )
    scheduler.add_job(
        outbox.purge_finished,
        "interval",
        hours=6,
        args=[timedelta(days=30)],
        id="purge-outbox",
        replace_existing=True,
    )
    scheduler.add_job(
        paid_notices.check_unresolved,
        "interval",
        seconds=UNRESOLVED_CHECK_SECONDS,
        id="check-unresolved-paid-actions",
        replace_existing=True,
    )
    return App(
        settings=settings,
        clock=clock,
        bot=bot,
        dispatcher=dispatcher,
        db=db,
        repos=repos,
        http=http,
        api_client=api_client,
        vault=vault,
        i18n=i18n,
        scheduler=scheduler,
        paid_notices=paid_notices,
        background=background,
        updates=updates,
        sender=sender,
        reminder_job=reminder_job,
        metrics=metrics,
    )
