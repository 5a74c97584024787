"""The composition root: the only place long-lived objects are built and wired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

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
from bot.paid_notices import PaidActionNotifier
from bot.reminder_job import ReminderJob
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
from proxy_api import ProxyApiClient, build_http_client
from services.account import AccountService
from services.deposit_watch import DepositWatch
from services.deposits import DepositService
from services.groups import GroupService
from services.key_checks import KeyCheckLimiter
from services.membership import ChatMembership
from services.orders import ExtendAction, OrdersService
from services.paid import PaidActionRunner
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
    _closed: bool = field(default=False, init=False)

    async def check_telegram(self) -> None:
        try:
            me = await self.bot.get_me()
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
        try:
            await self.check_telegram()
            await self.dispatcher.start_polling(
                self.bot,
                handle_signals=handle_signals,
                close_bot_session=False,
                polling_timeout=10,
                # A flood waits at Telegram instead of piling up tasks (and memory) here.
                tasks_concurrency_limit=self.settings.max_concurrent_updates,
            )
        finally:
            await self.close()

    async def stop(self) -> None:
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
    accounts = AccountService(api_client, repos, vault)
    # Whose claims are whose: a new id per process, so start-up knows the old ones are dead.
    runner = PaidActionRunner(accounts, repos, clock, owner=uuid.uuid4().hex)
    runner.register(OrderAction(repos, clock))
    runner.register(ExtendAction(repos, clock))
    purchases = PurchaseService(accounts, repos, clock)
    checkout = CheckoutService(accounts, purchases, runner, clock)
    orders = OrdersService(accounts, repos, clock, runner)
    reminders = ReminderService(repos, accounts, clock, settings.reminder_offsets)
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
    # Handlers' replies share Telegram's 30 messages a second with the sender.
    bot.session.middleware(sender.other_sends())
    bot.session.middleware(RetryAfterMiddleware(clock))
    # Who opened each screen in a group, so nobody else's tap changes it.
    bot.session.middleware(ScreenRecorder(repos.groups))
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
    dispatcher["groups"] = GroupService(repos)
    updates = UpdateTasks()
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
    )
