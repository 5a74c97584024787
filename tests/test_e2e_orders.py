"""Orders screens end to end: list, filters, details, credentials, downloads, forged ids.

Orders are created in the sandbox directly (as if bought on the website): the bot must
find them through the API all the same.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest

from tests.fake_telegram.client import ChatHandle, TgMessage

# The main flows run in polling and in webhook mode (tests/conftest.py).
pytestmark = pytest.mark.both_modes

TIMEOUT = 10


async def buy(harness, account, proxy_type: str = "ipv4", quantity: int = 3, **extra) -> str:
    body = {"type": proxy_type, "countryId": 1, "periodId": 2, "quantity": quantity, **extra}
    if proxy_type == "ipv6":
        body.setdefault("protocol", "HTTPS")
    receipt = await harness.sandbox.state.create_order(account, body)
    return receipt.order_id


async def open_list(chat: ChatHandle) -> TgMessage:
    await chat.send("/orders")
    return await chat.wait_for_message("Your orders", timeout=TIMEOUT)


async def tap(chat: ChatHandle, message: TgMessage, match, *, data: str | None = None,
              text: str | None = None) -> TgMessage:
    await chat.click(message, text, data=data)
    return await chat.wait_for_message(match, timeout=TIMEOUT)


async def open_order(chat: ChatHandle, order_id: str) -> TgMessage:
    listing = await open_list(chat)
    return await tap(chat, listing, "Status:", data=f"o:view:{order_id}")


def order_buttons(message: TgMessage) -> list[str]:
    return [
        b.callback_data.split(":", 2)[2]
        for b in message.flat_buttons
        if b.callback_data and b.callback_data.startswith("o:view:")
    ]


def codes(message: TgMessage) -> list[str]:
    return [unescape(c) for c in re.findall(r"<code>(.*?)</code>", message.html, re.S)]


async def test_list_is_newest_first_paginated_and_refreshes_the_local_copy(harness) -> None:
    chat, account = await harness.linked_chat(balance=Decimal("500.00"))
    ids = [await buy(harness, account, kind) for kind in
           ("ipv4", "ipv6", "isp", "mix", "mix_isp", "ipv4", "isp")]
    newest_first = list(reversed(ids))

    page1 = await open_list(chat)
    assert order_buttons(page1) == newest_first[:5]
    assert "Page 1 of 2 · 7 in all" in page1.text
    assert "1. ISP · 🇺🇸 United States · 3 IPs · 🟢 active · 30 d left" in page1.text
    assert "2. IPv4 · " in page1.text

    page2 = await tap(chat, page1, "Page 2 of 2", data="ol:2:::")
    assert order_buttons(page2) == newest_first[5:]
    assert "6. " in page2.text and "7. " in page2.text
    back = await tap(chat, page2, "Page 1 of 2", text="◀️")
    assert order_buttons(back) == newest_first[:5]

    # Every order seen was written to the local copy (reminders read it).
    local = await harness.app.repos.orders.list_for_chat(chat.chat_id)
    assert {o.order_id for o in local} == set(ids)
    assert {o.country_name for o in local} == {"United States"}

    # A page past the end (the list shrank since it was drawn) shows the last page instead.
    for order_id in ids[:3]:
        del harness.sandbox.state.orders[order_id]
    last = await tap(chat, back, "Page 1 of 1 · 4 in all", text="▶️")
    assert order_buttons(last) == newest_first[:4]


async def test_filters_by_each_status_and_by_type(harness) -> None:
    chat, account = await harness.linked_chat(balance=Decimal("500.00"))
    state = harness.sandbox.state
    active = await buy(harness, account, "ipv4")
    expired = await buy(harness, account, "ipv4")
    canceled = await buy(harness, account, "isp")
    pending = await buy(harness, account, "mix")
    state.set_order(expired, expires_at=harness.clock.now() - timedelta(days=2))
    state.set_order(canceled, status="canceled")
    state.set_order(pending, status="pending")

    listing = await open_list(chat)
    assert set(order_buttons(listing)) == {active, expired, canceled, pending}
    for label, wanted in (("Active", active), ("Expired", expired), ("Canceled", canceled),
                          ("Pending", pending)):
        listing = await tap(chat, listing, f"· {label.lower()} ·", text=label)
        assert order_buttons(listing) == [wanted], label
        assert "1 in all" in listing.text

    listing = await tap(chat, listing, "all statuses", text="All")
    picker = await tap(chat, listing, "Show orders of which type", text="Type: all ▾")
    listing = await tap(chat, picker, "all statuses · IPv4", text="IPv4")
    assert set(order_buttons(listing)) == {active, expired}
    listing = await tap(chat, listing, "expired · IPv4", text="Expired")
    assert order_buttons(listing) == [expired]
    listing = await tap(chat, listing, "pending · IPv4", text="Pending")
    assert order_buttons(listing) == []
    assert "No orders match this filter." in listing.text


async def test_details_show_everything_with_expiry_and_status_explained(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account, "ipv6", quantity=4, protocol="SOCKS5")
    order = harness.sandbox.state.get_order(order_id)

    details = await open_order(chat, order_id)
    text = details.text
    assert order_id in codes(details)
    for expected in ("Type: IPv6", "Country: 🇺🇸 United States", "Quantity: 4 · provisioned: 4",
                     "Period: 1 month", "Status: 🟢 active — the proxies work until the expiry",
                     "Charged: $3.60", "(in 30 days)"):
        assert expected in text, expected
    assert f"Expires: {order.expires_at:%Y-%m-%d %H:%M} UTC" in text
    assert {"🔑 Credentials", "⬇️ Download", "⏳ Extend", "⬅️ Orders"} <= set(details.button_texts)

    pending_id = await buy(harness, account, "ipv4", quantity=1)
    harness.sandbox.state.set_order(pending_id, status="pending")
    pending = await open_order(chat, pending_id)
    assert "pending — not yet provisioned" in pending.text
    assert "Expires" not in pending.text
    assert not {"🔑 Credentials", "⏳ Extend"} & set(pending.button_texts)


async def test_credentials_of_a_15_ip_order_are_one_message_of_one_tap_copy_lines(harness):
    # Up to 15 proxies the lines are the screen; a bigger order is a summary with files
    # first (tests/test_e2e_chat_hygiene.py).
    chat, account = await harness.linked_chat(balance=Decimal("1000.00"))
    order_id = await buy(harness, account, "ipv4", quantity=15)
    proxies = harness.sandbox.state.get_order(order_id).proxies
    details = await open_order(chat, order_id)
    shown = await tap(chat, details, lambda m: "Show SOCKS5" in str(m), text="🔑 Credentials")
    assert shown.message_id == details.message_id
    assert shown.text.startswith("🔑 Credentials")
    urls = [c for c in codes(shown) if "://" in c]
    assert urls == [f"http://{p.login}:{p.password}@{p.ip}:{p.port_https}" for p in proxies]

    socks = await tap(chat, shown, lambda m: "Show HTTP" in str(m), text="🔁 Show SOCKS5")
    assert socks.message_id == shown.message_id
    socks_urls = [c for c in codes(socks) if "://" in c]
    assert socks_urls == [f"socks5://{p.login}:{p.password}@{p.ip}:{p.port_socks5}"
                          for p in proxies]


def expected_file(proxies, code: str) -> str:
    """What each format must contain, written out independently of services.exports."""
    def lines(make) -> str:
        return "".join(make(p) + "\n" for p in proxies)

    if code == "csv":
        out = "ip,port_http,port_socks5,login,password,country,expires_at\n"
        return out + lines(lambda p: f"{p.ip},{p.port_https},{p.port_socks5},{p.login},"
                                     f"{p.password},{p.country},{p.expires_at:%Y-%m-%d}")
    return lines({
        "ih": lambda p: f"{p.ip}:{p.port_https}",
        "is": lambda p: f"{p.ip}:{p.port_socks5}",
        "uh": lambda p: f"{p.login}:{p.password}@{p.ip}:{p.port_https}",
        "us": lambda p: f"{p.login}:{p.password}@{p.ip}:{p.port_socks5}",
        "ph": lambda p: f"{p.ip}:{p.port_https}:{p.login}:{p.password}",
        "ps": lambda p: f"{p.ip}:{p.port_socks5}:{p.login}:{p.password}",
        "rh": lambda p: f"http://{p.login}:{p.password}@{p.ip}:{p.port_https}",
        "rs": lambda p: f"socks5://{p.login}:{p.password}@{p.ip}:{p.port_socks5}",
    }[code])


async def test_every_download_format_and_protocol_matches_the_sandbox(harness) -> None:
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account, "isp", quantity=4)
    state = harness.sandbox.state
    proxies = state.get_order(order_id).proxies
    details = await open_order(chat, order_id)
    menu = await tap(chat, details, "Pick the format", text="⬇️ Download")
    names = {
        "ih": "ip_port-https.txt", "is": "ip_port-socks5.txt",
        "uh": "user_pass_at-https.txt", "us": "user_pass_at-socks5.txt",
        "ph": "ip_port_user_pass-https.txt", "ps": "ip_port_user_pass-socks5.txt",
        "rh": "url-https.txt", "rs": "url-socks5.txt", "csv": "csv.csv",
    }
    api_downloads = state.request_counts.get("GET /orders/{id}/download", 0)
    for code, suffix in names.items():
        before = len(harness.tg.documents(chat.chat_id))
        await chat.click(menu, data=f"od:{order_id}:{code}")
        await chat.wait_until(lambda c, n=before: len(harness.tg.documents(c.chat_id)) > n,
                              timeout=TIMEOUT, what=f"document {code}")
        # A fast download leaves the menu as it is: nothing flashed, nothing to restore.
        assert chat.message(menu.message_id).buttons == menu.buttons
        document = harness.tg.documents(chat.chat_id)[-1]
        assert document.filename == f"order-{order_id}-isp-{suffix}", code
        assert document.data is not None
        assert document.data.decode() == expected_file(proxies, code), code
    # The four spec formats come from the API's download endpoint.
    assert state.request_counts["GET /orders/{id}/download"] - api_downloads == 4
    rows = list(csv.DictReader(io.StringIO(harness.tg.documents(chat.chat_id)[-1].data.decode())))
    assert [r["ip"] for r in rows] == [p.ip for p in proxies]


async def test_forged_and_stale_order_ids_get_not_found_and_no_other_chats_data(harness) -> None:
    mine, my_account = await harness.linked_chat()
    _theirs, their_account = await harness.linked_chat()
    my_order = await buy(harness, my_account, "ipv4", quantity=1)
    their_order = await buy(harness, their_account, "ipv4", quantity=2)
    their_ips = [p.ip for p in harness.sandbox.state.get_order(their_order).proxies]
    their_password = harness.sandbox.state.get_order(their_order).proxies[0].password

    listing = await open_list(mine)
    assert order_buttons(listing) == [my_order]
    for data in (f"o:view:{their_order}", f"o:creds:{their_order}", f"oc:{their_order}:s",
                 f"o:dl:{their_order}", f"od:{their_order}:csv", f"od:{their_order}:ih",
                 f"o:ext:{their_order}", f"oe:{their_order}:2", "o:view:cmdoesnotexist000",
                 "o:view:..%2F..%2Faccount", "o:creds:a b"):
        handle = await mine.click_forged(data)
        # The tapped screen says so (after the first tap it already does: the same text
        # again is no edit, as no "⏳ Working…" comes in between on a fast answer).
        await mine.wait_until(
            lambda c: "Not found" in c.message(listing.message_id).text
            or "out of date" in c.message(listing.message_id).text,
            timeout=TIMEOUT, what="not found",
        )
        await handle.wait_answer()
        await harness.tg.wait_consumed(timeout=TIMEOUT)
    seen = "\n".join(m.text + " ".join(m.button_texts) for m in mine.messages)
    assert not any(ip in seen for ip in their_ips)
    assert their_password not in seen
    assert not harness.tg.documents(mine.chat_id)

    # A stale button: the order vanished from the account since the list was drawn.
    listing = await open_list(mine)
    del harness.sandbox.state.orders[my_order]
    await mine.click(listing, data=f"o:view:{my_order}")
    gone = await mine.wait_for_message("Not found", timeout=TIMEOUT)
    assert "🏠 Menu" in gone.button_texts


async def test_a_group_member_cannot_pull_credentials_into_the_group(harness) -> None:
    """Another chat's order, a forged tap by a member who is no admin: refused with an
    alert; no password appears in the group (tests/test_e2e_groups.py has the rest)."""
    chat, account = await harness.linked_chat()
    order_id = await buy(harness, account, "ipv4", quantity=1)
    owner = harness.tg.users[chat.chat_id]
    group = harness.tg.group(title="Team").member(owner)
    await group.send("/orders")
    reply = await group.wait_for_message(timeout=TIMEOUT)
    answer = await (await group.click_forged(f"o:creds:{order_id}", message=reply))
    assert answer.show_alert and "only admins" in answer.text
    password = harness.sandbox.state.get_order(order_id).proxies[0].password
    assert not any(password in m.text for m in group.bot_messages())
