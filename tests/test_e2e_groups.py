"""A team's group end to end: orders, credentials, reminders, settings, the bot's membership
and the supergroup upgrade — who may do what, and nothing secret in the group.

The group's key is linked directly (tests/e2e.py `team`); linking through /link has its own
tests. Orders are made in the sandbox (as on the website) and reach the bot by order sync.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.e2e import TIMEOUT, team

MINUTE = timedelta(minutes=1)
SOON = "expire soon"


async def website_order(harness, account, quantity: int = 3) -> str:
    body = {"type": "ipv4", "countryId": 1, "periodId": 2, "quantity": quantity}
    return (await harness.sandbox.state.create_order(account, body)).order_id


async def synced_team(harness):
    crew = await team(harness)
    order_id = await website_order(harness, crew.account)
    await harness.app.dispatcher["order_sync"].sync_chat(crew.chat_id)
    return crew, order_id


async def open_order(chat, order_id: str):
    await chat.send("/orders")
    listing = await chat.wait_for_message("Your orders", timeout=TIMEOUT)
    await chat.click(listing, data=f"o:view:{order_id}")
    return await chat.wait_for_message("Status:", timeout=TIMEOUT)


def group_texts(crew) -> list[str]:
    return [m.text for m in crew.owner.bot_messages()]


def extensions(harness, account) -> list:
    return [t for t in harness.sandbox.state.transactions_of(account.id)
            if t.type == "purchase" and "xtension" in t.description]


async def test_admin_gets_credentials_privately_and_nothing_secret_lands_in_the_group(harness):
    crew, order_id = await synced_team(harness)
    proxies = harness.sandbox.state.get_order(order_id).proxies
    private = crew.owner_user.private_chat()

    order = await open_order(crew.owner, order_id)
    answer = await (await crew.owner.click(order, "🔑 Credentials"))
    assert "private chat" in (answer.text or "")
    creds = await private.wait_for_message(lambda m: proxies[0].ip in m.text, timeout=TIMEOUT)
    assert order_id in creds.text
    # The group's screen is unchanged, and no proxy address ever appeared there.
    assert crew.owner.message(order.message_id).text == order.text
    assert not any(p.ip in text for p in proxies for text in group_texts(crew))

    # A file too: to the admin's private chat.
    order = await open_order(crew.admin, order_id)
    await crew.admin.click(order, "Download")
    menu = await crew.admin.wait_for_message("format", timeout=TIMEOUT)
    answer = await (await crew.admin.click(menu, data=menu.buttons[0][0].callback_data))
    assert "private chat" in (answer.text or "")
    assert harness.tg.documents(crew.admin_user.user_id)
    assert not harness.tg.documents(crew.chat_id)


async def test_a_member_is_refused_credentials_unless_the_group_shares_them(harness):
    crew, order_id = await synced_team(harness)
    proxies = harness.sandbox.state.get_order(order_id).proxies

    order = await open_order(crew.member, order_id)
    answer = await (await crew.member.click(order, "🔑 Credentials"))
    assert answer.show_alert and "only admins" in answer.text
    assert crew.member.message(order.message_id).text == order.text

    # A member may not change who sees them either.
    await crew.member.send("/settings")
    settings = await crew.member.wait_for_message("Settings", timeout=TIMEOUT)
    assert "admins only" in settings.text
    answer = await (await crew.member.click(settings, "👥 Credentials: everyone"))
    assert answer.show_alert and "admins" in answer.text
    assert not await harness.app.dispatcher["groups"].credentials_for_everyone(crew.chat_id)

    # An admin shares them with everyone: now the member sees them, in the group.
    await crew.owner.send("/settings")
    settings = await crew.owner.wait_for_message("Settings", timeout=TIMEOUT)
    await crew.owner.click(settings, "👥 Credentials: everyone")
    shared = await crew.owner.wait_for_message("shown to everyone", timeout=TIMEOUT)
    assert "🔐 Credentials: admins" in shared.button_texts
    order = await open_order(crew.member, order_id)
    await (await crew.member.click(order, "🔑 Credentials"))
    await crew.member.wait_for_message(lambda m: proxies[0].ip in m.text, timeout=TIMEOUT)


async def test_an_admin_who_never_started_the_bot_is_told_to_do_so(harness):
    crew, order_id = await synced_team(harness)
    loner = harness.tg.user(crew.owner_user.user_id + 5, "Lev", started=False)
    crew.group.set_admins(crew.admin_user, loner)
    handle = crew.group.member(loner)
    order = await open_order(handle, order_id)
    answer = await (await handle.click(order, "🔑 Credentials"))
    assert answer.show_alert and "press Start" in answer.text


async def test_someone_elses_menu_answers_with_the_owners_name_and_stays(harness):
    crew, order_id = await synced_team(harness)
    order = await open_order(crew.owner, order_id)
    answer = await (await crew.member.click(order, "🔑 Credentials"))
    assert answer.show_alert and "Olga" in answer.text
    answer = await (await crew.admin.click(order, data=f"o:ext:{order_id}"))
    assert answer.show_alert and "Olga" in answer.text
    assert crew.owner.message(order.message_id).text == order.text
    assert not extensions(harness, crew.account)


async def test_reminders_reach_the_group_and_only_admins_extend_from_them(harness):
    crew, order_id = await synced_team(harness)
    expires = harness.sandbox.state.get_order(order_id).expires_at
    harness.clock.advance(expires - timedelta(days=3) - harness.clock.now() + MINUTE)
    assert await harness.app.reminder_job.run() == 1
    reminder = await crew.member.wait_for_message(SOON, timeout=TIMEOUT)
    extend = next(b.text for b in reminder.flat_buttons
                  if b.callback_data and b.callback_data.startswith("rm:x:"))

    answer = await (await crew.member.click(reminder, extend))
    assert answer.show_alert and "admins" in answer.text
    answer = await (await crew.member.click(reminder, "🔕 Mute this order"))
    assert answer.show_alert
    assert crew.member.message(reminder.message_id).text == reminder.text
    assert not extensions(harness, crew.account)

    await (await crew.admin.click(reminder, extend))
    await crew.admin.wait_until(
        lambda c: "Extended" in c.message(reminder.message_id).text, timeout=TIMEOUT
    )
    assert len(extensions(harness, crew.account)) == 1


async def test_an_admin_demoted_after_opening_the_extend_menu_is_refused(harness):
    crew, order_id = await synced_team(harness)
    order = await open_order(crew.admin, order_id)
    await crew.admin.click(order, data=f"o:ext:{order_id}")
    periods = await crew.admin.wait_for_message("Extend", timeout=TIMEOUT)
    await crew.admin.click(periods, data=periods.buttons[0][0].callback_data)
    confirm = await crew.admin.wait_for_message("Extend order", timeout=TIMEOUT)

    crew.group.set_admins()  # Artem is a plain member now; Olga still owns the group
    data = next(b.callback_data for b in confirm.flat_buttons
                if b.callback_data and b.callback_data.startswith("oy:"))
    answer = await (await crew.admin.click(confirm, data=data))
    assert answer.show_alert and "admins" in answer.text
    assert not extensions(harness, crew.account)


async def test_a_group_whose_linking_admin_left_asks_for_a_new_link(harness):
    crew, order_id = await synced_team(harness)
    crew.group.set_owner(crew.admin_user)  # Olga, who linked the key, is no admin now
    order = await open_order(crew.admin, order_id)
    answer = await (await crew.admin.click(order, data=f"o:ext:{order_id}"))
    assert answer.show_alert and "/link" in answer.text


async def test_removed_bot_stops_sync_and_readded_resumes_it(harness):
    crew, _ = await synced_team(harness)
    repos = harness.app.repos
    crew.group.remove_bot()
    await active_becomes(harness, crew.chat_id, False)
    assert crew.chat_id not in {s.chat_id for s in await repos.chats.sync_targets()}
    link = await repos.chats.get(crew.chat_id)
    assert link is not None and link.is_linked  # nothing is forgotten

    crew.group.add_bot()
    await active_becomes(harness, crew.chat_id, True)
    assert crew.chat_id in {s.chat_id for s in await repos.chats.sync_targets()}


async def active_becomes(harness, chat_id: int, active: bool) -> None:
    """Wait until the bot handled the my_chat_member update (the database says so)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (status := await harness.app.repos.chats.status(chat_id)) is None or (
        status.active is not active
    ):
        assert loop.time() < deadline, f"chat {chat_id} never became active={active}"
        await asyncio.sleep(0.02)


async def test_a_supergroup_upgrade_keeps_the_link_orders_settings_and_reminders(harness):
    crew = await team(harness, basic=True)
    order_id = await website_order(harness, crew.account)
    await harness.app.dispatcher["order_sync"].sync_chat(crew.chat_id)
    await harness.app.dispatcher["groups"].set_credentials_for_everyone(crew.chat_id, True)
    old_id = crew.chat_id

    upgraded = crew.group.migrate_to_supergroup()
    await moved_to(harness, upgraded.chat_id)
    repos = harness.app.repos
    assert await repos.chats.get(old_id) is None
    assert await harness.app.dispatcher["groups"].credentials_for_everyone(upgraded.chat_id)
    rows = await harness.app.db.fetchall(
        "SELECT DISTINCT chat_id FROM reminders WHERE order_id = ?", (order_id,)
    )
    assert [row["chat_id"] for row in rows] == [upgraded.chat_id]

    # The team carries on in the supergroup: its orders, and its reminders, go there.
    member = upgraded.member(crew.member_user)
    await open_order(member, order_id)
    expires = harness.sandbox.state.get_order(order_id).expires_at
    harness.clock.advance(expires - timedelta(days=3) - harness.clock.now() + MINUTE)
    assert await harness.app.reminder_job.run() == 1
    await member.wait_for_message(SOON, timeout=TIMEOUT)


async def test_a_reminder_for_a_group_upgraded_unnoticed_follows_it(harness):
    """Telegram's service messages never reached the bot (it was down and they were lost):
    the send to the old id is refused with the new id, and the reminder goes there."""
    crew = await team(harness, basic=True)
    order_id = await website_order(harness, crew.account)
    await harness.app.dispatcher["order_sync"].sync_chat(crew.chat_id)
    await harness.stop()
    upgraded = crew.group.migrate_to_supergroup()
    harness.tg.pending_updates.clear()  # lost
    await harness.start()

    expires = harness.sandbox.state.get_order(order_id).expires_at
    harness.clock.advance(expires - timedelta(days=3) - harness.clock.now() + MINUTE)
    assert await harness.app.reminder_job.run() == 1
    reminder = await upgraded.member(crew.member_user).wait_for_message(SOON, timeout=TIMEOUT)
    assert reminder.chat_id == upgraded.chat_id
    await moved_to(harness, upgraded.chat_id)


async def moved_to(harness, chat_id: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while await harness.app.repos.chats.get(chat_id) is None:
        assert loop.time() < deadline, f"nothing moved to {chat_id}"
        await asyncio.sleep(0.02)
