"""Who may use a handler: declared where the handler is registered, enforced in one place.

A handler declares its policies as aiogram flags when it is registered::

    router.callback_query.register(order_credentials, OrderCb.filter(...),
                                   flags={"chat": "private"})

and `PolicyMiddleware`, an inner middleware on every event of the dispatcher, reads them
(`get_flag`) after the filters matched and before the handler runs. A handler without
policy flags runs wherever its filters match. Write the dict at each registration, never
share one: aiogram adds to a handler's flags dict (a `Command` filter files itself there).

Available policies (flag → values):

- ``"chat": "private"`` — only in a private chat with the bot. Keys and payments never
  happen where others read along. Anywhere else the answer is
  "🔒 Please do this in a private chat with me." (`PrivateChatOnly`).
- ``"who": "admins"`` — spends the chat's money. In a private chat its owner may; in a
  group only a current administrator (the creator, or an admin who may manage the chat),
  asked of Telegram on this very tap (`GroupAdmins`, ``fresh=True``), and only while the
  admin who linked the group's key still is one (else an admin must /link again).
- ``"who": "managers"`` — changes the chat's settings (reminders, who sees credentials,
  the key): in a group any current administrator, asked of Telegram on this tap.
- ``"secret": "credentials"`` — shows proxy credentials or files. In a group whose
  credentials are for admins only (the default, see storage/groups.py) only a current
  administrator may (and the handler delivers to their private chat); in a group that
  shares them with everyone, anyone.
- ``"menu": "owner"`` (the default of every button in a group) — a screen someone opened
  in a group answers only their taps; anyone else gets an alert naming the owner.
  ``"menu": "shared"`` — for screens that belong to the whole group (a request waiting
  for approval, a reminder). Screens are remembered by `bot/screens.py`.
- ``"screen": "current"`` — a flow's own buttons (the wizard's steps): a tap counts only
  on the flow's current screen; ``"screen": "flow"`` — buttons that also sit on screens
  outside a flow (Cancel): refused only on a screen the flow has left behind. Either way
  the refusal is an "out of date" alert and nothing changes (`OutOfDate`; screens are
  remembered by handlers/flow_screens.py). Such taps are answered after the handler, in
  every chat, so the refusal can be the tap's alert.

A refusal is a `BotError` raised instead of calling the handler, so the one error handler
words it and logs which handler refused; a refused tap is still answered, because the
callback-answer middleware runs outside this one. In a group a refused tap changes
nothing on the screen, which belongs to someone else or to everyone: the refusal is the
tap's alert instead (`GroupRefusal`). A flag value no policy knows (a typo) stops the app
at start (`check_declarations`), not at the first tap.

Adding a policy: one `Policy` in `POLICIES` — the flag name, its values, a check (it may
call the Bot API) and the refusal to raise — plus the error's text in `views/errors.py`.
Policies are checked in the order of `POLICIES`, and the first that refuses decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.dispatcher.flags import get_flag
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Chat, InaccessibleMessage, TelegramObject, User
from aiogram.utils.callback_answer import CallbackAnswer

from handlers import flow_screens
from handlers.group_admins import GroupAdmins
from services.errors import (
    AdminsOnly,
    BotError,
    CredentialsAdminsOnly,
    GroupRefusal,
    ManagersOnly,
    NotYourMenu,
    OutOfDate,
    PrivateChatOnly,
    RelinkNeeded,
)
from services.groups import GroupService
from views.best_effort import ANSWER_AFTER_POLICIES
from views.errors import error_text

# What a check is given: the declared value, the event and aiogram's context data
# (`event_chat`, `event_from_user`, `bot`, the services…). None lets the handler run;
# otherwise the refusal to raise.
Check = Callable[[str, TelegramObject, dict[str, Any]], Awaitable[BotError | None]]

GROUP_TYPES = frozenset({"group", "supergroup"})


@dataclass(frozen=True)
class Policy:
    flag: str
    values: frozenset[str]
    check: Check
    # The value of a handler that declares nothing (None: the policy does not apply).
    default: str | None = None


def in_group(data: dict[str, Any]) -> bool:
    chat: Chat | None = data.get("event_chat")
    return chat is not None and chat.type in GROUP_TYPES


async def _chat_is(value: str, event: TelegramObject, data: dict[str, Any]) -> BotError | None:
    # aiogram's context: the chat of a message, or of the message a tapped button is on.
    # A tap on an inline-mode message has none, and nobody can tell who reads it.
    chat: Chat | None = data.get("event_chat")
    return None if chat is not None and chat.type == value else PrivateChatOnly()


async def _admins(value: str, event: TelegramObject, data: dict[str, Any]) -> BotError | None:
    if not in_group(data):
        return None  # a private chat's money and settings are its owner's
    chat: Chat = data["event_chat"]
    user: User | None = data.get("event_from_user")
    admins: GroupAdmins = data["group_admins"]
    if user is None or not await admins.is_admin(chat.id, user.id, fresh=True):
        return AdminsOnly() if value == "admins" else ManagersOnly()
    if value == "managers":
        return None
    groups: GroupService = data["groups"]
    # The key was entrusted to the group by one admin; once they are not one any more,
    # a current admin must link it again before anything more is bought with it.
    linker = await groups.key_linked_by(chat.id)
    if linker not in (None, user.id) and not await admins.is_admin(chat.id, linker):
        return RelinkNeeded()
    return None


async def _secret(value: str, event: TelegramObject, data: dict[str, Any]) -> BotError | None:
    if not in_group(data):
        return None
    chat: Chat = data["event_chat"]
    groups: GroupService = data["groups"]
    if await groups.credentials_for_everyone(chat.id):
        return None
    user: User | None = data.get("event_from_user")
    admins: GroupAdmins = data["group_admins"]
    if user is None or not await admins.is_admin(chat.id, user.id, fresh=True):
        return CredentialsAdminsOnly()
    return None


async def _menu(value: str, event: TelegramObject, data: dict[str, Any]) -> BotError | None:
    if value != "owner" or not isinstance(event, CallbackQuery) or not in_group(data):
        return None
    message = event.message
    if message is None or isinstance(message, InaccessibleMessage):
        return None
    groups: GroupService = data["groups"]
    owner = await groups.screen_owner(message.chat.id, message.message_id)
    if owner is None or owner.user_id == event.from_user.id:
        return None  # nobody's (a reminder, a request) or the tapper's own
    return NotYourMenu(owner.name)


async def _screen(value: str, event: TelegramObject, data: dict[str, Any]) -> BotError | None:
    if not isinstance(event, CallbackQuery):
        return None
    message = event.message
    state: FSMContext | None = data.get("state")
    if message is None or isinstance(message, InaccessibleMessage) or state is None:
        return None
    # The tapper's own flow (in a group "menu" let only the screen's owner this far).
    if await flow_screens.out_of_date(state, message.message_id, strict=value == "current"):
        return OutOfDate()
    return None


POLICIES: tuple[Policy, ...] = (
    Policy("chat", frozenset({"private"}), _chat_is),
    Policy("menu", frozenset({"owner", "shared"}), _menu, default="owner"),
    Policy("screen", frozenset({"current", "flow"}), _screen),
    Policy("who", frozenset({"admins", "managers"}), _admins),
    Policy("secret", frozenset({"credentials"}), _secret),
)


class PolicyMiddleware(BaseMiddleware):
    """Runs the handler only if every policy its flags declare allows it."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        for policy in POLICIES:
            value = get_flag(data, policy.flag, default=policy.default)
            if value is None:
                continue
            refusal = await policy.check(value, event, data)
            if refusal is None:
                continue
            answer: CallbackAnswer | None = data.get("callback_answer")
            alert = isinstance(refusal, GroupRefusal | OutOfDate)
            if alert and answer is not None and not answer.answered:
                # The screen is someone else's (or everyone's, or out of date): leave it,
                # alert the tapper.
                answer.text = error_text(refusal)
                answer.show_alert = True
                return None
            if isinstance(refusal, OutOfDate):
                return None  # already answered: still, an old screen changes nothing
            raise refusal
        early = data.pop(ANSWER_AFTER_POLICIES, None)
        answer = data.get("callback_answer")
        if early is not None and isinstance(answer, CallbackAnswer) and not (
            answer.answered or answer.disabled
        ):
            await early(event, answer)  # best effort: stops the spinner
            answer.disabled = True
        return await handler(event, data)

def check_declarations(router: Router) -> None:
    """Fail at start on a policy flag whose value no policy knows (a typo is no guard)."""
    known = {policy.flag: policy.values for policy in POLICIES}
    wrong = []
    for each in router.chain_tail:
        for observer in each.observers.values():
            for handler in observer.handlers:
                for flag, values in known.items():
                    value = handler.flags.get(flag)
                    if value is not None and value not in values:
                        wrong.append(f"{handler.callback.__qualname__}: {flag}={value!r}")
    if wrong:
        raise ValueError("unknown policy in flags: " + ", ".join(wrong))


def enforce_policies(router: Router) -> None:
    """Check the declarations of `router` (and its sub-routers) and enforce them.

    Call it after every other inner middleware is registered: this one then runs last,
    right before the handler, inside the middlewares that name the handler in the error
    log and answer taps.
    """
    check_declarations(router)
    middleware = PolicyMiddleware()
    for name, observer in router.observers.items():
        if name not in ("update", "error"):
            observer.middleware(middleware)
