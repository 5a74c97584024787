"""Helpers shared by the end-to-end tests (the `harness` fixture lives in conftest.py).

Test modules import from here, never from one another. Screen names are bits of text
each wizard screen shows; waits that watch the sandbox or the database use `until`,
because the fake Telegram's own waits only wake on its changes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx

TIMEOUT = 10

# -- the purchase wizard's screens ------------------------------------------------------

START = "Which proxies"
COUNTRY = "Choose a country"
SERVICE = "Shared or dedicated"
OPERATOR = "mobile operator"
ROTATION = "IP change"
PERIOD = "For how long"
QUANTITY = "How many proxies"
PROTOCOL = "Which protocol"
TARIF = "traffic package"
QUOTE = "Your order"
COUPON = "coupon code as a message"
RECEIPT = "Order placed"
UNRESOLVED = "may already be placed"
PLACING = "Placing your order"

# -- sandbox endpoints (keys of faults and request counts) ------------------------------

ORDERS = "POST /orders"
DETAILS = "GET /orders/{id}"


async def until(
    predicate: Callable[[], object], *, what: str = "", within: float = TIMEOUT
) -> None:
    """Poll a condition outside the fake Telegram (sandbox, database) with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or predicate}")
        await asyncio.sleep(0.01)


def final(text: str) -> Callable:
    """A message showing ``text`` (skips the intermediate "Working…" edits)."""
    return lambda message: text in message.text


async def tap(chat, message, button: str | None = None, *, expect: str, data: str | None = None):
    handle = await chat.click(message, button, data=data)
    shown = await chat.wait_for_message(final(expect), timeout=TIMEOUT)
    await handle.wait_answer(timeout=TIMEOUT)
    return shown


def preset(quantity: int) -> str:
    """The callback data of a quantity preset (its label carries a price: "5 · $6.25")."""
    return f"b:set:quantity:{quantity}"


async def step(chat, message, action: str, *, expect: str):
    """One wizard step: "typed:ger" types, "qty:5" taps the preset 5, else a button's text."""
    if action.startswith("typed:"):
        return await say(chat, action.removeprefix("typed:"), expect=expect)
    if action.startswith("qty:"):
        return await tap(chat, message, data=preset(int(action.removeprefix("qty:"))),
                         expect=expect)
    return await tap(chat, message, action, expect=expect)


async def say(chat, text: str, *, expect: str):
    await chat.send(text)
    return await chat.wait_for_message(final(expect), timeout=TIMEOUT)


async def buyer(harness, balance: Decimal = Decimal("100.00")):
    return await harness.linked_chat(balance)


async def start_buy(chat):
    return await say(chat, "/buy", expect=START)


def confirm_data(message) -> str:
    (button,) = [b for b in message.flat_buttons if (b.callback_data or "").startswith("bc:")]
    assert button.callback_data is not None
    return button.callback_data


def op_id_of(message) -> str:
    return confirm_data(message).removeprefix("bc:")


def orders_of(harness, account) -> list:
    return harness.sandbox.state.orders_of(account.id)


def transactions_of(harness, account, kind: str | None = None) -> list:
    return [
        t for t in harness.sandbox.state.transactions_of(account.id) if kind in (None, t.type)
    ]


def order_requests(harness) -> int:
    return harness.sandbox.state.request_counts.get(ORDERS, 0)


async def operation(harness, op_id: str):
    return await harness.app.repos.operations.get(op_id)


async def ipv4_quote(chat, quantity: str = "10", country: str = "Germany"):
    """/buy → IPv4 → country → 1 month → quantity: the quote message."""
    message = await start_buy(chat)
    message = await tap(chat, message, "Datacenter IPv4", expect=COUNTRY)
    if country != "United States":
        message = await say(chat, country[:4], expect="Search")
    message = await tap(chat, message, country, expect=PERIOD)
    message = await tap(chat, message, "1 month", expect=QUANTITY)
    return await say(chat, quantity, expect=QUOTE)


# -- an order whose answer was lost -----------------------------------------------------


class LoseOrderAnswers(httpx.AsyncBaseTransport):
    """Every POST /orders reaches the sandbox (``deliver``), then its answer is lost.

    The fakes cannot time out *after* the server acted, which is the case that matters:
    the order is placed and charged, and the bot does not know.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, deliver: bool = True) -> None:
        self.inner = inner
        self.deliver = deliver
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST" or not request.url.path.endswith("/orders"):
            return await self.inner.handle_async_request(request)
        if self.deliver:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            await response.aclose()
        self.lost += 1
        raise httpx.ReadTimeout("the answer was lost", request=request)


def lose_order_answers(harness, deliver: bool = True) -> LoseOrderAnswers:
    http = harness.app.http
    lossy = LoseOrderAnswers(http._transport, deliver)
    http._transport = lossy
    return lossy


def restore_transport(harness, lossy: LoseOrderAnswers) -> None:
    harness.app.http._transport = lossy.inner


# -- groups -------------------------------------------------------------------------------

_group_ids = iter(range(-1001000000100, -1001000100000, -1))
_basic_group_ids = iter(range(-4000100, -4100000, -1))


class Team:
    """A group with an owner (admin), a second admin and a plain member, each seen from
    their own handle; the group's key linked (see `team`)."""

    def __init__(self, harness, group, owner, admin, member, account) -> None:
        self.harness = harness
        self.group = group
        self.owner_user, self.admin_user, self.member_user = owner, admin, member
        self.owner = group.member(owner)
        self.admin = group.member(admin)
        self.member = group.member(member)
        self.account = account

    @property
    def chat_id(self) -> int:
        return self.group.chat_id


async def team(
    harness, balance: Decimal = Decimal("100.00"), *, link: bool = True, basic: bool = False
) -> Team:
    """A supergroup (``basic``: a basic group) with the bot in it and, unless
    ``link=False``, the owner's key linked to it directly through the account service
    (tests of /link itself use the deep link)."""
    tg = harness.tg
    base = next(_user_ids_for_teams)
    owner = tg.user(base, "Olga", username=f"olga{base}")
    admin = tg.user(base + 1, "Artem", username=f"artem{base}")
    member = tg.user(base + 2, "Mila", username=f"mila{base}")
    chat_id = next(_basic_group_ids) if basic else next(_group_ids)
    group = tg.group(chat_id, "Team", owner=owner, admins=(admin,))
    group.member(member)
    account = harness.new_account(balance)
    if link:
        accounts = harness.app.dispatcher["accounts"]
        await accounts.link(group.chat_id, owner.user_id, account.api_key)
    return Team(harness, group, owner, admin, member, account)


_user_ids_for_teams = iter(range(700_000, 10_000_000, 10))


# -- linking a group's key through the deep link (handlers/group_link.py) ----------------------

INVITATION = "tap the button to link"
CHOOSE_KEY = "Link a 1001Proxy key to"
GROUP_LINKED = "is now linked to"
ANNOUNCED = "linked the account"


def deep_link_payload(message) -> str:
    """The /start payload of the deep-link button /link posted in a group."""
    (button,) = [b for b in message.flat_buttons if b.url]
    assert button.url is not None
    url = httpx.URL(button.url)
    assert (url.host, url.path) == ("t.me", "/fake_shop_bot"), button.url
    return url.params["start"]


async def invite(handle) -> str:
    """/link in a group as ``handle``'s user (an admin): the deep link's payload."""
    return deep_link_payload(await say(handle, "/link", expect=INVITATION))


async def open_invitation(user, payload: str, *, expect: str = CHOOSE_KEY):
    """``user`` follows the deep link: their private chat gets /start <payload>."""
    private = user.private_chat()
    return private, await say(private, f"/start {payload}", expect=expect)


async def linked_team(harness, balance: Decimal = Decimal("100.00")) -> Team:
    """`team`, its key linked by the owner the way people do: /link in the group, the deep
    link to a private chat, the key sent there."""
    group = await team(harness, balance, link=False)
    payload = await invite(group.owner)
    private, _ = await open_invitation(group.owner_user, payload)
    await say(private, group.account.api_key, expect=GROUP_LINKED)
    await group.owner.wait_for_message(final(ANNOUNCED), timeout=TIMEOUT)
    return group


async def run_bot_process(workdir: Path, **settings: str) -> asyncio.subprocess.Process:
    """`python -m bot` in ``workdir`` with ``settings`` as its environment (the test's own
    bot settings removed first), stdout and stderr piped."""
    env = {k: v for k, v in os.environ.items() if k not in _BOT_ENV}
    env.update({"DATABASE_PATH": str(workdir / "data" / "bot.sqlite3"), "LOG_LEVEL": "INFO"})
    env.update(settings)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=workdir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


_BOT_ENV = frozenset({
    "BOT_TOKEN", "TELEGRAM_API_URL", "PROXY_API_URL", "DATABASE_PATH", "ENCRYPTION_KEY",
    "LOG_LEVEL", "LOG_FORMAT", "WEBHOOK_URL", "WEBHOOK_SECRET", "WEBHOOK_HOST", "WEBHOOK_PORT",
    "METRICS_PORT",
})
