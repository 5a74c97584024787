"""/orders: the list, one order, its credentials and files, and extending it."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InaccessibleMessage, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from core.clock import Clock
from keyboards.callbacks import (
    CredsCb,
    DownloadCb,
    ExtendCb,
    ExtendConfirmCb,
    MenuCb,
    OrderCb,
    OrdersCb,
)
from keyboards.orders import (
    back_to_order_keyboard,
    big_credentials_keyboard,
    credentials_keyboard,
    download_keyboard,
    extend_confirm_keyboard,
    extend_periods_keyboard,
    order_details_keyboard,
    orders_list_keyboard,
    type_picker_keyboard,
)
from proxy_api import Protocol
from services.errors import CredentialsNeedPrivateChat
from services.exports import export_format, file_name, render_local
from services.groups import GroupService
from services.orders import Credentials, ExtendOutcome, NotExtendable, OrdersService
from services.paid import PaidActionBlocked, Ticket
from views.best_effort import best_effort
from views.errors import error_text
from views.orders import (
    credentials_chunks,
    credentials_summary,
    download_caption,
    download_empty_text,
    download_menu_text,
    extend_menu_text,
    extend_quote_text,
    is_big,
    list_replaced_text,
    not_extendable_text,
    order_details_text,
    orders_list_text,
    protocol_of,
    sent_privately_text,
)
from views.outcomes import blocked_screen, extend_outcome_screen
from views.ui import chat_id_of, show, working

# FSM data key: where "⬅️ Orders" on an order screen returns to (page, status, type).
_LIST_POSITION = "orders_list"
# FSM data key: the messages of a big order's list under its summary {"screen", "parts"}.
_CREDENTIAL_PARTS = "credential_parts"


# -- list ---------------------------------------------------------------------------


async def _list(
    target: Message | CallbackQuery,
    chat_id: int,
    position: OrdersCb,
    orders: OrdersService,
    clock: Clock,
    state: FSMContext,
) -> None:
    async with working(target):
        page = await orders.list_page(chat_id, position.page, position.status, position.type)
    await state.update_data({_LIST_POSITION: [page.page, page.status, page.type]})
    now = clock.now()
    await show(target, orders_list_text(page, now), orders_list_keyboard(page, now))


async def orders_command(
    message: Message, orders: OrdersService, clock: Clock, state: FSMContext
) -> None:
    await _list(message, message.chat.id, OrdersCb(), orders, clock, state)


async def orders_button(
    query: CallbackQuery, orders: OrdersService, clock: Clock, state: FSMContext
) -> None:
    await _list(query, chat_id_of(query), OrdersCb(), orders, clock, state)


async def orders_type_picker(query: CallbackQuery, callback_data: OrdersCb) -> None:
    await show(
        query,
        _("🔎 Show orders of which type?"),
        type_picker_keyboard(callback_data.status, callback_data.type),
    )


async def orders_page(
    query: CallbackQuery,
    callback_data: OrdersCb,
    orders: OrdersService,
    clock: Clock,
    state: FSMContext,
) -> None:
    await _list(query, chat_id_of(query), callback_data, orders, clock, state)


# -- one order ------------------------------------------------------------------------


async def _list_position(state: FSMContext) -> OrdersCb:
    saved = (await state.get_data()).get(_LIST_POSITION)
    try:
        page, status, proxy_type = saved  # type: ignore[misc]
        return OrdersCb(page=int(page), status=str(status), type=str(proxy_type))
    except (TypeError, ValueError):
        return OrdersCb()


async def order_view(
    query: CallbackQuery,
    callback_data: OrderCb,
    orders: OrdersService,
    clock: Clock,
    state: FSMContext,
) -> None:
    async with working(query):
        info = await orders.details(chat_id_of(query), callback_data.order_id)
    await show(
        query,
        order_details_text(info, clock.now()),
        order_details_keyboard(info, await _list_position(state)),
    )


# -- credentials and downloads --------------------------------------------------------------


def _in_group(query: CallbackQuery) -> bool:
    return query.message is not None and query.message.chat.type in ("group", "supergroup")


async def _private_destination(query: CallbackQuery, groups: GroupService) -> int | None:
    """Where a group's secrets go: the tapping admin's private chat when the group keeps
    credentials for admins (the policy let only an admin through), else None (right here)."""
    if not _in_group(query):
        return None
    if await groups.credentials_for_everyone(chat_id_of(query)):
        return None
    return query.from_user.id


async def _send_privately(
    query: CallbackQuery, callback_answer: CallbackAnswer, send: Awaitable[object]
) -> None:
    try:
        await send
    except TelegramForbiddenError:
        # The admin never pressed Start in a private chat with the bot (or blocked it).
        callback_answer.text = error_text(CredentialsNeedPrivateChat())
        callback_answer.show_alert = True
        return
    callback_answer.text = sent_privately_text()


async def _credentials(
    query: CallbackQuery,
    bot: Bot,
    order_id: str,
    proto: str,
    orders: OrdersService,
    groups: GroupService,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    listed: bool = False,
) -> None:
    chat_id = chat_id_of(query)
    destination = await _private_destination(query, groups)
    if destination is None:
        async with working(query):
            creds = await orders.credentials(chat_id, order_id)
    else:
        # The group's screen stays as it is: nothing secret is shown there.
        creds = await orders.credentials(chat_id, order_id)
    protocol = protocol_of(proto)
    if destination is not None:
        # A big order goes as its file (the lines of this protocol) under a summary.
        send = (_send_file(bot, destination, creds, protocol) if is_big(creds)
                else _send_all(bot, destination, credentials_chunks(creds, protocol)))
        await _send_privately(query, callback_answer, send)
        return
    if is_big(creds):
        await _big_credentials(query, bot, creds, protocol, state, listed)
        return
    chunks = credentials_chunks(creds, protocol)
    markup = credentials_keyboard(order_id, protocol)
    if len(chunks) == 1:
        await show(query, chunks[0], markup)
        return
    # Lines longer than the sandbox's could still span messages: buttons under the last.
    await show(query, chunks[0])
    for chunk in chunks[1:-1]:
        await bot.send_message(chat_id, chunk)
    await bot.send_message(chat_id, chunks[-1], reply_markup=markup)


async def _big_credentials(
    query: CallbackQuery,
    bot: Bot,
    creds: Credentials,
    protocol: Protocol,
    state: FSMContext,
    listed: bool,
) -> None:
    """A big order: the summary with its file buttons in place of the tapped screen, and the
    list (when asked for) in messages below it. Every part of a list shown before under
    this summary is replaced — edited in place, the surplus deleted — so a protocol switch
    never leaves lines of the other protocol behind."""
    chat_id = chat_id_of(query)
    shown = await show(query, credentials_summary(creds, protocol, listed),
                       big_credentials_keyboard(creds.order_id, protocol, listed))
    if shown is None:
        return
    saved = (await state.get_data()).get(_CREDENTIAL_PARTS)
    old: list[int] = []
    if isinstance(saved, dict) and saved.get("screen") == shown.message_id:
        old = [p for p in saved.get("parts") or [] if isinstance(p, int)]
    chunks = _lines_only(creds, protocol) if listed else []
    parts: list[int] = []
    for index, chunk in enumerate(chunks):
        if index < len(old):
            edited = await best_effort(
                bot.edit_message_text(chunk, chat_id=chat_id, message_id=old[index]),
                "replace a part of a proxy list",
            )
            if edited is not None:
                parts.append(old[index])
                continue
            await _drop_part(bot, chat_id, old[index])
        parts.append((await bot.send_message(chat_id, chunk)).message_id)
    for part in old[len(chunks):]:
        await _drop_part(bot, chat_id, part)
    await state.update_data({_CREDENTIAL_PARTS: {"screen": shown.message_id, "parts": parts}})


def _lines_only(creds: Credentials, protocol: Protocol) -> list[str]:
    chunks = credentials_chunks(creds, protocol)
    # credentials_chunks puts the header on the first part; the summary above says it.
    first = chunks[0].split("\n\n", 1)
    return [first[1] if len(first) == 2 else first[0], *chunks[1:]]


async def _drop_part(bot: Bot, chat_id: int, message_id: int) -> None:
    """A part of an old list goes; where Telegram refuses to delete it, it is emptied."""
    if await best_effort(bot.delete_message(chat_id, message_id), "delete a list part"):
        return
    await best_effort(bot.edit_message_text(list_replaced_text(), chat_id=chat_id,
                                            message_id=message_id), "empty a list part")


async def _send_file(bot: Bot, chat_id: int, creds: Credentials, protocol: Protocol) -> None:
    fmt = export_format("rs" if protocol == Protocol.SOCKS5 else "rh")
    assert fmt is not None
    data = render_local(creds.proxies, fmt).encode()
    name = file_name(creds.order_id, creds.proxy_type or "proxies", fmt)
    await bot.send_document(
        chat_id, BufferedInputFile(data, filename=name),
        caption=credentials_summary(creds, protocol, listed=False).split("\n")[0],
    )


async def _send_all(bot: Bot, chat_id: int, chunks: list[str]) -> None:
    for chunk in chunks:
        await bot.send_message(chat_id, chunk)


async def order_credentials(
    query: CallbackQuery,
    callback_data: OrderCb,
    bot: Bot,
    orders: OrdersService,
    groups: GroupService,
    callback_answer: CallbackAnswer,
    state: FSMContext,
) -> None:
    await _credentials(
        query, bot, callback_data.order_id, "h", orders, groups, callback_answer, state
    )


async def order_credentials_protocol(
    query: CallbackQuery,
    callback_data: CredsCb,
    bot: Bot,
    orders: OrdersService,
    groups: GroupService,
    callback_answer: CallbackAnswer,
    state: FSMContext,
) -> None:
    await _credentials(
        query, bot, callback_data.order_id, callback_data.proto, orders, groups,
        callback_answer, state, listed=bool(callback_data.lines),
    )


async def order_download_menu(
    query: CallbackQuery, callback_data: OrderCb, orders: OrdersService
) -> None:
    async with working(query):
        # Read first, so a forged or stale id is "not found" before any menu appears.
        info = await orders.details(chat_id_of(query), callback_data.order_id)
    await show(query, download_menu_text(info.order.id), download_keyboard(info.order.id))


async def order_download(
    query: CallbackQuery,
    callback_data: DownloadCb,
    bot: Bot,
    orders: OrdersService,
    groups: GroupService,
    callback_answer: CallbackAnswer,
) -> None:
    chat_id = chat_id_of(query)
    order_id = callback_data.order_id
    destination = await _private_destination(query, groups)
    busy = working(query) if destination is None else contextlib.nullcontext()
    async with busy as state_shown:
        export = await orders.download(chat_id, order_id, callback_data.fmt)
        if export.lines:
            document = bot.send_document(
                destination or chat_id,
                BufferedInputFile(export.data, filename=export.name),
                caption=download_caption(export),
            )
            if destination is None:
                await document
            else:
                await _send_privately(query, callback_answer, document)
                return
    if not export.lines:
        await show(query, download_empty_text(), download_keyboard(order_id))
    elif state_shown is not None and state_shown.shown and query.message is not None:
        # "⏳ Working…" replaced the screen the file was asked from (the download menu,
        # a big order's summary): it comes back as it was.
        message = query.message
        if not isinstance(message, InaccessibleMessage) and message.text is not None:
            markup = message.reply_markup
            await show(query, message.html_text, markup)


# -- extend ---------------------------------------------------------------------------------


async def order_extend_menu(
    query: CallbackQuery, callback_data: OrderCb, orders: OrdersService, clock: Clock
) -> None:
    order_id = callback_data.order_id
    try:
        async with working(query):
            menu = await orders.extend_menu(chat_id_of(query), order_id)
    except PaidActionBlocked as blocked:
        await show(query, *blocked_screen(blocked.other))
        return
    except NotExtendable as exc:
        await show(query, not_extendable_text(exc.reason), back_to_order_keyboard(order_id))
        return
    await show(
        query,
        extend_menu_text(menu, clock.now()),
        extend_periods_keyboard(order_id, menu.periods, menu.prices),
    )


async def order_extend_period(
    query: CallbackQuery, callback_data: ExtendCb, orders: OrdersService, clock: Clock
) -> None:
    order_id = callback_data.order_id
    try:
        async with working(query):
            quote = await orders.prepare_extend(
                chat_id_of(query), query.from_user.id, order_id, callback_data.period_id
            )
    except NotExtendable as exc:
        await show(query, not_extendable_text(exc.reason), back_to_order_keyboard(order_id))
        return
    await show(query, extend_quote_text(quote, clock.now()), extend_confirm_keyboard(quote))


async def run_extend(
    query: CallbackQuery,
    orders: OrdersService,
    clock: Clock,
    begin: Callable[[], Awaitable[ExtendOutcome | Ticket]],
) -> None:
    """Every extend tap (a confirmation, a reminder's one tap): ``begin`` claims it or finds
    its stored outcome; this sends it and shows how it ended."""
    try:
        started = await begin()
        if isinstance(started, Ticket):
            # Cosmetic, and before anything is sent: it cannot change the extend. A paid
            # action shows it at once.
            async with working(query, at_once=True):
                outcome = await orders.finish_extend(started)
        else:
            outcome = started
    except PaidActionBlocked as blocked:
        await show(query, *blocked_screen(blocked.other))
        return
    except NotExtendable as exc:
        await show(query, not_extendable_text(exc.reason), back_to_order_keyboard(exc.order_id))
        return
    await show(query, *extend_outcome_screen(outcome, clock.now()))


async def order_extend_confirm(
    query: CallbackQuery, callback_data: ExtendConfirmCb, orders: OrdersService, clock: Clock
) -> None:
    message_id = query.message.message_id if query.message else None
    await run_extend(query, orders, clock, lambda: orders.begin_extend(
        chat_id_of(query), callback_data.op_id, message_id
    ))


def setup() -> Router:
    router = Router(name=__name__)
    router.message.register(orders_command, Command("orders"))
    router.callback_query.register(orders_button, MenuCb.filter(F.action == "orders"))
    router.callback_query.register(orders_type_picker, OrdersCb.filter(F.pick == "t"))
    router.callback_query.register(orders_page, OrdersCb.filter())
    router.callback_query.register(order_view, OrderCb.filter(F.action == "view"))
    # Credentials and files: in a group only as the group decided (handlers/policies.py:
    # admins only by default, delivered to their private chat). Extending spends money: in
    # a group only a current admin. The list and an order's summary may be shown anywhere.
    router.callback_query.register(
        order_credentials, OrderCb.filter(F.action == "creds"), flags={"secret": "credentials"}
    )
    router.callback_query.register(
        order_credentials_protocol, CredsCb.filter(), flags={"secret": "credentials"}
    )
    router.callback_query.register(
        order_download_menu, OrderCb.filter(F.action == "dl"), flags={"secret": "credentials"}
    )
    router.callback_query.register(
        order_download, DownloadCb.filter(), flags={"secret": "credentials"}
    )
    router.callback_query.register(
        order_extend_menu, OrderCb.filter(F.action == "ext"), flags={"who": "admins"}
    )
    router.callback_query.register(order_extend_period, ExtendCb.filter(), flags={"who": "admins"})
    router.callback_query.register(
        order_extend_confirm, ExtendConfirmCb.filter(), flags={"who": "admins"}
    )
    return router
