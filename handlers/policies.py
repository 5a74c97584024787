"""Who may use a handler: declared where the handler is registered, enforced in one place.

A handler declares its policies as aiogram flags when it is registered::

    router.callback_query.register(order_credentials, OrderCb.filter(...),
                                   flags={"chat": "private"})

and `PolicyMiddleware`, an inner middleware on every event of the dispatcher, reads them
(`get_flag`) after the filters matched and before the handler runs. A handler without
policy flags runs wherever its filters match. Write the dict at each registration, never
share one: aiogram adds to a handler's flags dict (a `Command` filter files itself there).

Available policies (flag → values):

- ``"chat": "private"`` — only in a private chat with the bot. Keys, credentials and
  payments never happen where others read along. Anywhere else the answer is
  "🔒 Please do this in a private chat with me." (`PrivateChatOnly`).

A refusal is a `BotError` raised instead of calling the handler, so the one error handler
words it and logs which handler refused; a refused tap is still answered, because the
callback-answer middleware runs outside this one. A flag value no policy knows (a typo)
stops the app at start (`check_declarations`), not at the first tap.

Adding a policy (the groups issue: "admins only", "owner of this menu"): one `Policy` in
`POLICIES` — the flag name, its values, a check (it may call the Bot API, e.g.
getChatMember) and the refusal to raise — plus the error's text in `views/errors.py`;
handlers then declare ``flags={"who": "admins"}`` the same way. Policies are checked in
the order of `POLICIES`, and the first that refuses decides the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.dispatcher.flags import get_flag
from aiogram.types import Chat, TelegramObject

from services.errors import BotError, PrivateChatOnly

# What a check is given: the declared value, the event and aiogram's context data
# (`event_chat`, `event_from_user`, `bot`, the services…). True lets the handler run.
Check = Callable[[str, TelegramObject, dict[str, Any]], Awaitable[bool]]


@dataclass(frozen=True)
class Policy:
    flag: str
    values: frozenset[str]
    check: Check
    refusal: type[BotError]


async def _chat_is(value: str, event: TelegramObject, data: dict[str, Any]) -> bool:
    # aiogram's context: the chat of a message, or of the message a tapped button is on.
    # A tap on an inline-mode message has none, and nobody can tell who reads it.
    chat: Chat | None = data.get("event_chat")
    return chat is not None and chat.type == value


POLICIES: tuple[Policy, ...] = (
    Policy("chat", frozenset({"private"}), _chat_is, PrivateChatOnly),
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
            value = get_flag(data, policy.flag)
            if value is not None and not await policy.check(value, event, data):
                raise policy.refusal
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
