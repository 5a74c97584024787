"""Linking a group's key without leaking it: /link in the group, the deep link to a private
chat, the key there; /unlink. Through the fake Telegram and the sandbox."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from services.group_link import INVITATION_TTL
from tests.e2e import (
    ANNOUNCED,
    CHOOSE_KEY,
    GROUP_LINKED,
    TIMEOUT,
    deep_link_payload,
    final,
    invite,
    linked_team,
    open_invitation,
    say,
    tap,
    team,
)

GONE = "used up or has expired"
NOT_ADMIN = "you are not one"
ADMINS_ONLY = "Only the group's admins can change this"
USE_OWN = "Use my linked key"


def said_in(harness, chat_id: int) -> list[str]:
    """Every text that ever showed in the chat: sent, edited, by anyone."""
    texts = []
    for event in harness.tg.history(chat_id):
        snapshot = event.snapshot or {}
        texts += [snapshot.get("text") or "", snapshot.get("caption") or ""]
    return texts


def offers_anything(message) -> bool:
    """A deep link or an unlink confirmation (a refusal carries at most 🏠 Menu)."""
    return any(b.url or (b.callback_data or "").startswith("gu:") for b in message.flat_buttons)


def assert_nothing_secret_in(harness, group, account) -> None:
    texts = said_in(harness, group.chat_id)
    assert texts, "the group saw nothing at all"
    assert not [t for t in texts if account.api_key in t], "the key was shown in the group"
    assert not [t for t in texts if account.email in t], "the e-mail was shown unmasked"


async def link_private_chat(harness, user, account) -> None:
    private = user.private_chat()
    await say(private, "/start", expect="API key")
    await say(private, account.api_key, expect="linked")


async def test_an_admin_links_a_key_through_the_deep_link(harness):
    group = await team(harness, link=False)
    invitation = await say(group.owner, "/link@fake_shop_bot", expect="tap the button")
    payload = deep_link_payload(invitation)
    # The payload is a single-use token, not the group's id in any form.
    assert payload.startswith("g_") and len(payload) <= 64
    assert str(abs(group.chat_id)) not in payload and str(group.chat_id)[-6:] not in payload

    private, screen = await open_invitation(group.owner_user, payload)
    assert CHOOSE_KEY in screen.text and "Team" in screen.text
    assert USE_OWN not in screen.button_texts  # the private chat has no key of its own
    sent = await private.send(group.account.api_key)
    done = await private.wait_for_message(final(GROUP_LINKED), timeout=TIMEOUT)
    await private.wait_for_deletion(sent)
    assert group.account.email in done.text  # the admin's own chat may show it whole

    announcement = await group.owner.wait_for_message(final(ANNOUNCED), timeout=TIMEOUT)
    assert announcement.text.startswith("🔗 Olga linked the account b***@example.com")
    link = await harness.app.repos.chats.get(group.chat_id)
    assert link.is_linked and link.linked_by == group.owner_user.user_id
    assert group.account.api_key.encode() not in link.api_key_enc
    assert_nothing_secret_in(harness, group, group.account)
    # The private chat's own key is untouched: it had none and still has none.
    assert await harness.app.repos.chats.get(private.chat_id) is None
    # The group's key works: its balance is the account's.
    await say(group.owner, "/balance", expect="$100.00")


async def test_the_key_already_linked_in_the_private_chat_is_lent_without_showing_it(harness):
    group = await team(harness, link=False)
    await link_private_chat(harness, group.admin_user, group.account)
    payload = await invite(group.admin)
    private, screen = await open_invitation(group.admin_user, payload)
    assert group.account.api_key not in screen.text
    own = await harness.app.repos.chats.get(private.chat_id)
    assert own.api_key_masked and own.api_key_masked in screen.text
    done = await tap(private, screen, USE_OWN, expect=GROUP_LINKED)
    assert "Team" in done.text
    await group.admin.wait_for_message(final("🔗 Artem linked the account b***@example.com"),
                                       timeout=TIMEOUT)
    link = await harness.app.repos.chats.get(group.chat_id)
    # The ciphertext was copied as it is: never decrypted to be linked again.
    assert link.api_key_enc == own.api_key_enc
    assert link.linked_by == group.admin_user.user_id
    assert link.account_email == group.account.email
    assert_nothing_secret_in(harness, group, group.account)
    # Both chats keep working.
    await say(private, "/balance", expect="$100.00")


async def test_two_taps_on_use_my_key_link_once(harness):
    group = await team(harness, link=False)
    await link_private_chat(harness, group.owner_user, group.account)
    payload = await invite(group.owner)
    private, screen = await open_invitation(group.owner_user, payload)
    first = await private.click(screen, USE_OWN)
    second = await private.click(screen, USE_OWN)
    answers = await asyncio.gather(first.wait_answer(TIMEOUT), second.wait_answer(TIMEOUT))
    await private.wait_for_message(final(GROUP_LINKED), timeout=TIMEOUT)
    await group.owner.wait_for_message(final(ANNOUNCED), timeout=TIMEOUT)
    await group.owner.expect_no_message(final(ANNOUNCED))
    assert sum(ANNOUNCED in t for t in said_in(harness, group.chat_id)) == 1
    # The tap that lost the claim says so in an alert (had it come a moment later, it
    # would have found the link used up, as any late tap).
    assert [a.text for a in answers if a.text] in ([], ["⏳ This link was just used."])
    used = await harness.app.repos.groups.invitation(payload.removeprefix("g_"))
    assert used is None


async def test_a_used_payload_is_refused(harness):
    group = await team(harness, link=False)
    payload_used = await invite(group.owner)
    private, _ = await open_invitation(group.owner_user, payload_used)
    await say(private, group.account.api_key, expect=GROUP_LINKED)
    # The same link again, by the owner or by another admin: refused, the normal menu.
    for user in (group.owner_user, group.admin_user):
        chat = user.private_chat()
        await say(chat, f"/start {payload_used}", expect=GONE)
        await chat.wait_for_message(final("Hi,"), timeout=TIMEOUT)
    link = await harness.app.repos.chats.get(group.chat_id)
    assert link.linked_by == group.owner_user.user_id


async def test_an_expired_payload_is_refused_and_the_key_is_not_linked(harness):
    group = await team(harness, link=False)
    payload = await invite(group.owner)
    harness.clock.advance(INVITATION_TTL + timedelta(seconds=1))
    private, _ = await open_invitation(group.owner_user, payload, expect=GONE)
    # The normal /start follows: the private chat has no key, so it asks for one.
    await private.wait_for_message(final("API key"), timeout=TIMEOUT)
    assert await harness.app.repos.chats.get(group.chat_id) is None


async def test_a_payload_that_expires_while_the_key_is_typed_is_refused(harness):
    group = await team(harness, link=False)
    payload = await invite(group.owner)
    private, _ = await open_invitation(group.owner_user, payload)
    harness.clock.advance(INVITATION_TTL)
    sent = await private.send(group.account.api_key)
    await private.wait_for_message(final(GONE), timeout=TIMEOUT)
    await private.wait_for_deletion(sent)  # deleted all the same
    assert await harness.app.repos.chats.get(group.chat_id) is None
    # ... and it was not linked to the private chat instead.
    assert await harness.app.repos.chats.get(private.chat_id) is None


async def test_a_member_cannot_open_link_in_the_group(harness):
    group = await team(harness, link=False)
    refused = await say(group.member, "/link", expect=ADMINS_ONLY)
    assert not offers_anything(refused)
    assert await harness.app.repos.chats.get(group.chat_id) is None


async def test_a_member_opening_the_deep_link_is_refused(harness):
    group = await team(harness, link=False)
    payload = await invite(group.owner)
    private, refused = await open_invitation(group.member_user, payload, expect=NOT_ADMIN)
    assert "Team" in refused.text
    await private.wait_for_message(final("Hi,"), timeout=TIMEOUT)
    # A key typed now is the member's own, never the group's.
    await say(private, group.account.api_key, expect="linked")
    assert await harness.app.repos.chats.get(group.chat_id) is None
    # The invitation was not spent: the admin it was meant for can still use it.
    owner_chat, _ = await open_invitation(group.owner_user, payload)
    await say(owner_chat, group.account.api_key, expect=GROUP_LINKED)


async def test_an_admin_demoted_before_sending_the_key_is_refused(harness):
    group = await team(harness, link=False)
    payload = await invite(group.admin)
    private, _ = await open_invitation(group.admin_user, payload)
    group.group.set_admins()  # Artem is not an admin any more
    await private.send(group.account.api_key)
    await private.wait_for_message(final(NOT_ADMIN), timeout=TIMEOUT)
    assert await harness.app.repos.chats.get(group.chat_id) is None


async def test_a_wrong_key_can_be_sent_again(harness):
    group = await team(harness, link=False)
    payload = await invite(group.owner)
    private, _ = await open_invitation(group.owner_user, payload)
    await say(private, "pk_live_ThisKeyDoesNotExist0123456789", expect="does not know this key")
    await say(private, group.account.api_key, expect=GROUP_LINKED)


async def test_link_in_a_private_chat_asks_for_the_chats_own_key(harness):
    chat = await harness.private_chat()
    account = harness.new_account()
    await say(chat, "/link", expect="API key")
    await say(chat, account.api_key, expect="linked")
    assert (await harness.app.repos.chats.get(chat.chat_id)).is_linked


async def test_unlink_by_an_admin_after_confirming_keeps_the_groups_history(harness):
    group = await linked_team(harness)
    ask = await say(group.admin, "/unlink", expect="Unlink the account b***@example.com")
    # Someone else's confirmation: an alert, nothing changes.
    handle = await group.member.click(ask, "Yes, unlink")
    alert = await handle.wait_answer(TIMEOUT)
    assert alert.show_alert and "Artem" in alert.text
    assert (await harness.app.repos.chats.get(group.chat_id)).is_linked
    await tap(group.admin, ask, "Yes, unlink", expect="🔓 Artem unlinked the account b***")
    link = await harness.app.repos.chats.get(group.chat_id)
    assert link is not None and not link.is_linked  # the key only; the group's row stays
    assert_nothing_secret_in(harness, group, group.account)
    await say(group.owner, "/balance", expect="No API key is linked")
    # Linked again through a new invitation.
    payload = await invite(group.owner)
    private, _ = await open_invitation(group.owner_user, payload)
    await say(private, group.account.api_key, expect=GROUP_LINKED)


async def test_unlink_can_be_called_off(harness):
    group = await linked_team(harness)
    ask = await say(group.owner, "/unlink", expect="Unlink the account")
    await tap(group.owner, ask, "Keep it", expect="stays linked")
    assert (await harness.app.repos.chats.get(group.chat_id)).is_linked


async def test_unlink_by_a_member_is_refused(harness):
    group = await linked_team(harness)
    refused = await say(group.member, "/unlink", expect=ADMINS_ONLY)
    assert not offers_anything(refused)
    assert (await harness.app.repos.chats.get(group.chat_id)).is_linked


async def test_unlink_confirmed_by_an_admin_demoted_meanwhile_is_refused(harness):
    group = await linked_team(harness)
    ask = await say(group.admin, "/unlink", expect="Unlink the account")
    group.group.set_admins()  # Artem is not an admin any more
    handle = await group.admin.click(ask, "Yes, unlink")
    alert = await handle.wait_answer(TIMEOUT)
    assert alert.show_alert and ADMINS_ONLY in alert.text
    assert (await harness.app.repos.chats.get(group.chat_id)).is_linked
    assert "Unlink the account" in group.admin.message(ask.message_id).text


async def test_unlink_in_a_private_chat_points_to_logout(harness):
    chat, _ = await harness.linked_chat()
    await say(chat, "/unlink", expect="/logout")
    assert (await harness.app.repos.chats.get(chat.chat_id)).is_linked
