"""Linking a group's API key without it ever appearing in the group, and unlinking it.

/link in a group makes a single-use invitation: a random token (storage/groups.py), never
the group's id, good for `INVITATION_TTL`. Its deep link opens the admin's private chat
(``/start g_<token>``); there the admin uses the key linked in that private chat (its
ciphertext is copied, never decrypted) or sends one. The handlers ask Telegram whether the
person is an administrator of the group; this service only keeps the books: it spends the
invitation exactly once, right before the key is stored, so two taps link once.

/unlink is soft: only the key (and who linked it) is cleared. The group's orders, paid
actions (receipts), settings and history stay, so a key linked again picks up where the
team left off; planned reminders are dropped (no key, no one-tap extend) and are planned
again by the order sync once a key is back.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from core.security import KeyVault
from proxy_api import Account, ProxyApiClient
from services.errors import AlreadyProcessing
from storage import Repositories
from storage.chats import ChatLink
from storage.groups import LinkInvitation
from storage.operations import IN_FLIGHT

log = logging.getLogger(__name__)

# How long the button /link posts in a group works: enough to open a chat and paste a key.
INVITATION_TTL = timedelta(minutes=10)

# /start payloads that are group invitations start with this; the rest is the token.
PAYLOAD_PREFIX = "g_"
# A deep-link payload is at most 64 characters of A-Za-z0-9_- (Telegram's rule).
_PAYLOAD = re.compile(rf"^{PAYLOAD_PREFIX}([A-Za-z0-9_-]{{1,{64 - len(PAYLOAD_PREFIX)}}})$")


def payload_for(invitation: LinkInvitation) -> str:
    return PAYLOAD_PREFIX + invitation.token


def token_from(payload: str | None) -> str | None:
    """The invitation token in a /start payload; None if it is not one (or malformed)."""
    match = _PAYLOAD.match(payload or "")
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class GroupLinked:
    """A key now linked to a group (by the admin whose user id is ``linked_by``)."""

    group_id: int
    group_title: str
    linked_by: int
    email: str | None


@dataclass(frozen=True, slots=True)
class GroupUnlinked:
    group_id: int
    email: str | None


class LinkRefused(Enum):
    # The invitation is unknown, used or expired (or another tap used it a moment ago).
    GONE = "gone"
    # "Use the key linked here", but the private chat has no working key (any more).
    NO_KEY = "no_key"


class GroupLinkService:
    def __init__(self, client: ProxyApiClient, repos: Repositories, vault: KeyVault) -> None:
        self._client = client
        self._repos = repos
        self._vault = vault

    # -- invitations ----------------------------------------------------------------------

    async def invite(self, group_id: int, group_title: str, admin_id: int) -> LinkInvitation:
        return await self._repos.groups.invite(group_id, group_title, admin_id, INVITATION_TTL)

    async def invitation(self, token: str | None) -> LinkInvitation | None:
        """The invitation if it can still be used; None if unknown, used or expired."""
        if not token:
            return None
        return await self._repos.groups.invitation(token)

    # -- keys -----------------------------------------------------------------------------

    async def current(self, chat_id: int) -> ChatLink | None:
        """The chat's link if it has a key."""
        link = await self._repos.chats.get(chat_id)
        return link if link is not None and link.is_linked else None

    async def private_key(self, private_chat_id: int) -> ChatLink | None:
        """The key of an admin's private chat, if it can be lent to a group (linked, and the
        API has not refused it)."""
        link = await self.current(private_chat_id)
        if link is None:
            return None
        status = await self._repos.chats.status(private_chat_id)
        if status is not None and status.key_revoked_at is not None:
            return None
        return link

    async def check_key(self, api_key: str) -> Account:
        """Ask the API whose key this is; its errors (a wrong key…) propagate, nothing is
        stored and the invitation stays usable, so the admin can send the key again."""
        return await self._client.for_key(api_key.strip()).get_account()

    async def link_new_key(
        self, token: str, admin_id: int, api_key: str, account: Account
    ) -> GroupLinked | LinkRefused:
        """Spend the invitation, then store the key (checked by `check_key`) for its group."""
        invitation = await self._repos.groups.use_invitation(token, admin_id)
        if invitation is None:
            return LinkRefused.GONE
        await self._repos.chats.link(
            invitation.group_id,
            api_key_enc=self._vault.encrypt(api_key.strip()),
            api_key_masked=account.api_key_masked,
            account_email=account.email,
            linked_by=admin_id,
        )
        log.info("group %s linked an API key (sent by its admin)", invitation.group_id)
        return GroupLinked(invitation.group_id, invitation.group_title, admin_id, account.email)

    async def link_private_key(
        self, token: str, admin_id: int, private_chat_id: int
    ) -> GroupLinked | LinkRefused:
        """Spend the invitation, then give its group the key of the admin's private chat:
        the stored ciphertext is copied as it is, the key itself is never decrypted here."""
        own = await self.private_key(private_chat_id)
        if own is None or own.api_key_enc is None:
            return LinkRefused.NO_KEY
        invitation = await self._repos.groups.use_invitation(token, admin_id)
        if invitation is None:
            return LinkRefused.GONE
        await self._repos.chats.link(
            invitation.group_id,
            api_key_enc=own.api_key_enc,
            api_key_masked=own.api_key_masked,
            account_email=own.account_email,
            linked_by=admin_id,
        )
        log.info("group %s linked an API key (its admin's own)", invitation.group_id)
        return GroupLinked(
            invitation.group_id, invitation.group_title, admin_id, own.account_email
        )

    # -- unlinking ------------------------------------------------------------------------

    async def unlink(self, group_id: int) -> GroupUnlinked | None:
        """Clear the group's key (see the module docstring for what stays); None if it had
        none. AlreadyProcessing while an order or extend of the group is in flight: its
        receipt needs the key."""
        link = await self.current(group_id)
        if link is None:
            return None
        open_op = await self._repos.operations.open_for_chat(group_id)
        if open_op is not None and open_op.status == IN_FLIGHT:
            raise AlreadyProcessing
        if not await self._repos.chats.unlink(group_id):
            return None  # another /unlink got there first
        await self._repos.reminders.drop_chat(group_id)
        log.info("group %s unlinked its API key", group_id)
        return GroupUnlinked(group_id, link.account_email)
