"""Linking a group's key without leaking it: /link, its deep link, /unlink.

In a group, /link (a current admin only: the "managers" policy) answers with a
button opening the admin's private chat through a deep link, ``/start g_<token>``: a
single-use invitation good for a few minutes (services/group_link.py). There the person
is checked again — an administrator of that group, asked of Telegram — and links the key
of their private chat or sends one (deleted at once, as any key). The group is told who
linked which account, the e-mail masked. A key never appears in a group.

/unlink in a group (current admins; the confirmation tap too) clears the key only.
In a private chat /link asks for the chat's own key, as the menu's button does.

The router comes before `handlers.start` (its /start takes any payload) and before
`handlers.link` (its handlers take a key pasted in any state): a key sent while a group
invitation is open is the group's.
"""

from __future__ import annotations

import math

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.deep_linking import create_start_link

from handlers.group_admins import GroupAdmins
from handlers.start import start
from handlers.states import GroupLink, LinkKey
from keyboards.callbacks import GroupLinkCb, GroupUnlinkCb
from keyboards.common import main_menu, only_cancel
from keyboards.groups import choose_key_keyboard, invitation_keyboard, unlink_confirm_keyboard
from proxy_api import AuthError, ProxyApiError
from services.account import AccountService, contains_api_key, extract_api_key
from services.dashboard import DashboardService
from services.group_link import (
    INVITATION_TTL,
    PAYLOAD_PREFIX,
    GroupLinked,
    GroupLinkService,
    LinkRefused,
    payload_for,
    token_from,
)
from services.key_checks import KeyCheckLimiter
from views.account import link_error_text, link_prompt_text
from views.best_effort import best_effort
from views.errors import error_text
from views.groups import (
    choose_key_text,
    group_linked_private_text,
    group_linked_text,
    invitation_gone_text,
    invitation_text,
    key_not_deleted_text,
    link_race_lost_text,
    no_own_key_text,
    not_a_key_text,
    not_group_admin_text,
    nothing_saved_text,
    too_many_keys_text,
    unlink_confirm_text,
    unlink_in_private_text,
    unlink_kept_text,
    unlink_nothing_text,
    unlinked_text,
)
from views.ui import chat_id_of, show, working

_GROUPS = ("group", "supergroup")
# Where the private chat's FSM data keeps the open invitation's token.
_TOKEN = "group_link"


# -- /link and /unlink in a group -------------------------------------------------------------


async def link_in_group(message: Message, bot: Bot, group_link: GroupLinkService) -> None:
    # A current admin (the "managers" policy asked Telegram), so from_user is a person.
    assert message.from_user is not None
    invitation = await group_link.invite(
        message.chat.id, message.chat.title or "", message.from_user.id
    )
    url = await create_start_link(bot, payload_for(invitation))
    current = await group_link.current(message.chat.id)
    await message.answer(
        invitation_text(
            message.from_user.full_name, INVITATION_TTL, current.account_email if current else None
        ),
        reply_markup=invitation_keyboard(url),
    )


async def unlink_in_group(message: Message, group_link: GroupLinkService) -> None:
    current = await group_link.current(message.chat.id)
    if current is None:
        await message.answer(unlink_nothing_text())
        return
    await message.answer(
        unlink_confirm_text(current.account_email), reply_markup=unlink_confirm_keyboard()
    )


async def unlink_confirmed(query: CallbackQuery, group_link: GroupLinkService) -> None:
    unlinked = await group_link.unlink(chat_id_of(query))
    if unlinked is None:
        await show(query, unlink_nothing_text())
        return
    await show(query, unlinked_text(query.from_user.full_name, unlinked.email))


async def unlink_called_off(query: CallbackQuery) -> None:
    await show(query, unlink_kept_text())


# -- /link and /unlink in a private chat ------------------------------------------------------


async def link_in_private(message: Message, state: FSMContext) -> None:
    await state.set_state(LinkKey.waiting_key)
    await message.answer(link_prompt_text(), reply_markup=only_cancel())


async def unlink_in_private(message: Message) -> None:
    await message.answer(unlink_in_private_text())


# -- the deep link: /start g_<token> in the admin's private chat ------------------------------


async def _refuse(
    target: Message | CallbackQuery, text: str, state: FSMContext, accounts: AccountService,
    dashboard: DashboardService, support_url: str | None,
) -> None:
    """A clear refusal, then the normal menu (for a typed /start, what /start shows)."""
    if isinstance(target, Message):
        await target.answer(text)
        await start(target, state, accounts, dashboard, support_url)
        return
    await _forget_invitation(state, None)
    await show(target, text, main_menu(await accounts.is_linked(chat_id_of(target))))


async def _forget_invitation(state: FSMContext, token: str | None) -> None:
    """Leave the group-link state if it is about ``token`` (None: whichever)."""
    if await state.get_state() != GroupLink.waiting_key.state:
        return
    if token is None or (await state.get_data()).get(_TOKEN) == token:
        await state.clear()


async def start_with_invitation(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    accounts: AccountService,
    group_admins: GroupAdmins,
    group_link: GroupLinkService,
    dashboard: DashboardService,
    support_url: str | None = None,
) -> None:
    await state.clear()
    token = token_from(command.args)
    invitation = await group_link.invitation(token)
    if invitation is None or token is None:
        await _refuse(message, invitation_gone_text(), state, accounts, dashboard, support_url)
        return
    user_id = message.from_user.id if message.from_user else message.chat.id
    if not await group_admins.is_admin(invitation.group_id, user_id, fresh=True):
        await _refuse(message, not_group_admin_text(invitation.group_title), state, accounts,
                      dashboard, support_url)
        return
    own = await group_link.private_key(message.chat.id)
    await state.set_state(GroupLink.waiting_key)
    await state.update_data({_TOKEN: token})
    await message.answer(
        choose_key_text(
            invitation.group_title,
            own.api_key_masked if own else None,
            own.account_email if own else None,
            has_own_key=own is not None,
        ),
        reply_markup=choose_key_keyboard(token, has_own_key=own is not None),
    )


async def _announce(bot: Bot, linked: GroupLinked, admin: User) -> bool:
    """Tell the group who linked which account (the e-mail masked). Whether it was said."""
    sent = await best_effort(
        bot.send_message(linked.group_id, group_linked_text(admin.full_name, linked.email)),
        "tell a group its key was linked",
    )
    return sent is not None


async def use_own_key(
    query: CallbackQuery,
    callback_data: GroupLinkCb,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    bot: Bot,
    accounts: AccountService,
    group_admins: GroupAdmins,
    group_link: GroupLinkService,
    dashboard: DashboardService,
    support_url: str | None = None,
) -> None:
    token = callback_data.token
    invitation = await group_link.invitation(token)
    if invitation is None:
        await _refuse(query, invitation_gone_text(), state, accounts, dashboard, support_url)
        return
    if not await group_admins.is_admin(invitation.group_id, query.from_user.id, fresh=True):
        await _refuse(query, not_group_admin_text(invitation.group_title), state, accounts,
                      dashboard, support_url)
        return
    result = await group_link.link_private_key(token, query.from_user.id, chat_id_of(query))
    if result is LinkRefused.GONE:
        # Another tap on this button won a moment ago: its handler shows the outcome here.
        callback_answer.text = link_race_lost_text()
        callback_answer.show_alert = True
        return
    if result is LinkRefused.NO_KEY:
        await state.set_state(GroupLink.waiting_key)
        await state.update_data({_TOKEN: token})
        await show(query, no_own_key_text(), only_cancel())
        return
    await _forget_invitation(state, token)
    announced = await _announce(bot, result, query.from_user)
    await show(
        query,
        group_linked_private_text(result.group_title, result.email, announced),
        main_menu(await accounts.is_linked(chat_id_of(query))),
    )


async def key_for_group(
    message: Message,
    state: FSMContext,
    bot: Bot,
    accounts: AccountService,
    key_checks: KeyCheckLimiter,
    group_admins: GroupAdmins,
    group_link: GroupLinkService,
    dashboard: DashboardService,
    support_url: str | None = None,
) -> None:
    """A key (or anything typed) while a group invitation is open in this private chat."""
    key = extract_api_key(message.text, asked=True)
    # The key must not stay in the chat history, whatever happens next.
    deleted = await best_effort(message.delete(), "delete a message carrying a key")
    still_there = "" if deleted else "\n\n" + key_not_deleted_text()

    async def answer(text: str, markup=None) -> None:
        await message.answer(text + still_there, reply_markup=markup)

    token = (await state.get_data()).get(_TOKEN)
    invitation = await group_link.invitation(token)
    if invitation is None:
        await state.clear()
        await answer(invitation_gone_text())
        await start(message, state, accounts, dashboard, support_url)
        return
    if key is None:
        await answer(not_a_key_text(), only_cancel())
        return
    user = message.from_user
    user_id = user.id if user else message.chat.id
    wait = key_checks.try_check(user_id)
    if wait is not None:
        await answer(too_many_keys_text(max(1, math.ceil(wait))), only_cancel())
        return
    if not await group_admins.is_admin(invitation.group_id, user_id, fresh=True):
        await state.clear()
        await answer(not_group_admin_text(invitation.group_title))
        await start(message, state, accounts, dashboard, support_url)
        return
    async with working(message):
        try:
            account = await group_link.check_key(key)
        except AuthError as exc:
            await answer(link_error_text(exc), only_cancel())
            return
        except ProxyApiError as exc:
            await answer(error_text(exc) + "\n" + nothing_saved_text(), only_cancel())
            return
        result = await group_link.link_new_key(token, user_id, key, account)
    await state.clear()
    if not isinstance(result, GroupLinked):
        await answer(invitation_gone_text())
        await start(message, state, accounts, dashboard, support_url)
        return
    announced = await _announce(bot, result, user) if user else False
    await answer(
        group_linked_private_text(result.group_title, result.email, announced),
        main_menu(await accounts.is_linked(message.chat.id)),
    )


def setup() -> Router:
    router = Router(name=__name__)
    in_group = F.chat.type.in_(_GROUPS)
    in_private = F.chat.type == "private"
    # Scopes are filters here, not policies: each command works in both kinds of chat
    # (views/commands.py), doing a different thing. In a group the key is the business
    # of its current admins, asked of Telegram on each command and tap ("managers").
    router.message.register(
        link_in_group, Command("link"), in_group, flags={"who": "managers"}
    )
    router.message.register(link_in_private, Command("link"), in_private)
    router.message.register(
        unlink_in_group, Command("unlink"), in_group, flags={"who": "managers"}
    )
    router.message.register(unlink_in_private, Command("unlink"), in_private)
    # The confirmation belongs to whoever sent /unlink (the default "menu" policy), and
    # its Yes must come from someone who is an admin at that moment.
    router.callback_query.register(
        unlink_confirmed, GroupUnlinkCb.filter(F.action == "yes"), flags={"who": "managers"}
    )
    router.callback_query.register(unlink_called_off, GroupUnlinkCb.filter(F.action != "yes"))
    # The deep link's /start, before handlers.start sees it (a private chat only: Telegram
    # opens ?start= links there; typed into a group, /start g_… is an ordinary /start).
    router.message.register(
        start_with_invitation,
        CommandStart(deep_link=True, magic=F.args.startswith(PAYLOAD_PREFIX)),
        in_private,
    )
    # Answered after the handler, so a second tap that lost the race gets an alert.
    router.callback_query.register(
        use_own_key,
        GroupLinkCb.filter(F.action == "own"),
        flags={"chat": "private", "callback_answer": {"pre": False}},
    )
    # A key for the group, typed or pasted (commands like /cancel pass through).
    waiting = StateFilter(GroupLink.waiting_key)
    router.message.register(
        key_for_group, waiting, F.text, ~F.text.startswith("/"), flags={"chat": "private"}
    )
    router.edited_message.register(
        key_for_group, waiting, F.text.func(contains_api_key), flags={"chat": "private"}
    )
    return router
