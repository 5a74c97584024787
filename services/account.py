"""Linking a chat's API key, the account, its transactions, and forgetting the key."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from decimal import Decimal

from core.clock import Clock
from core.security import KeyVault, KeyVaultError
from proxy_api import Account, Page, ProxyApi, ProxyApiClient, Transaction
from services.errors import AlreadyProcessing, NotLinked
from storage import Repositories
from storage.chats import ChatLink
from storage.operations import IN_FLIGHT

log = logging.getLogger(__name__)

# What a pasted API key looks like: one token, no spaces, long enough to be a secret.
# Coupon codes are kept shorter than this, so the two never overlap.
API_KEY_MIN_LENGTH = 24
_KEY_SHAPE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_\-.]{{{API_KEY_MIN_LENGTH - 1},127}}$")


# Crypto addresses and transaction hashes get pasted into chats too; they are not keys.
_HEX_BLOB = re.compile(r"^(0x)?[0-9a-fA-F]{32,}$")
_COIN_ADDRESS = re.compile(r"^(bc1[a-z0-9]{20,}|[13LMT][1-9A-HJ-NP-Za-km-z]{25,40})$")


def looks_like_api_key(text: str | None) -> bool:
    """Unsolicited text that is probably a pasted key (to delete it before anyone sees it)."""
    if not text:
        return False
    token = text.strip()
    if not _KEY_SHAPE.match(token):
        return False
    # A long run of lowercase letters is a word someone typed, not a secret.
    if token.isalpha() and token.islower():
        return False
    return not (_HEX_BLOB.match(token) or _COIN_ADDRESS.match(token))


def contains_api_key(text: str | None) -> bool:
    return bool(text) and any(looks_like_api_key(word) for word in text.split())


# What a Bearer token may be made of (RFC 6750's b64token): a key cannot hold anything else.
_TOKEN_ALPHABET = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
# The shortest token the bot tries as a key when it asked for one (extract_api_key).
_ASKED_MIN_LENGTH = 8


def could_be_api_key(text: str | None) -> bool:
    """Whether a message sent while the bot waits for a key might be one (then it is deleted
    and tried), or clearly is not: words with spaces ("how do I buy proxies?"), something
    short ("hi"), letters no key has ("привет", "help!"). That is left in the chat."""
    if contains_api_key(text):
        return True
    token = (text or "").strip()
    if not token or any(c.isspace() for c in token):
        return False
    return len(token) >= _ASKED_MIN_LENGTH and bool(_TOKEN_ALPHABET.match(token))


def extract_api_key(text: str | None, *, asked: bool) -> str | None:
    """The key in a message. When the bot asked for one, any single token is tried: the API
    decides, so a key of a shape we did not foresee can still be linked."""
    token = (text or "").strip()
    if asked and _ASKED_MIN_LENGTH <= len(token) <= 256 and token.isprintable() and not any(
        c.isspace() for c in token
    ):
        return token
    return next((word for word in (text or "").split() if looks_like_api_key(word)), None)


# A balance the API gave within this time may still decide a quote's Confirm or Top up; no
# read is made for a quote (POST /orders refuses with 402 and the real figures when short).
BALANCE_FRESH = timedelta(minutes=1)
_BALANCES_KEPT = 10_000


class AccountService:
    def __init__(
        self,
        client: ProxyApiClient,
        repos: Repositories,
        vault: KeyVault,
        clock: Clock,
    ) -> None:
        self._client = client
        self._repos = repos
        self._vault = vault
        self._clock = clock
        # Per account (key id): the last balance read and when (monotonic). In memory, one
        # process: another replica's purchase is not seen here (at most BALANCE_FRESH).
        self._balances: dict[str, tuple[Decimal, float]] = {}
        # Bumped by every paid action: a read that started before it is not kept.
        self._epochs: dict[str, int] = {}

    async def link(self, chat_id: int, user_id: int | None, api_key: str) -> Account:
        """Validate the key against the API first; nothing is stored when that fails."""
        api_key = api_key.strip()
        account = await self.read_account(self._client.for_key(api_key))
        await self._repos.chats.link(
            chat_id,
            api_key_enc=self._vault.encrypt(api_key),
            api_key_masked=account.api_key_masked,
            account_email=account.email,
            linked_by=user_id,
        )
        log.info("chat %s linked an API key", chat_id)
        return account

    async def linked(self, chat_id: int) -> ChatLink | None:
        link = await self._repos.chats.get(chat_id)
        return link if link is not None and link.is_linked else None

    async def set_language(self, user_id: int, language: str) -> None:
        await self._repos.users.set_language(user_id, language)

    async def is_linked(self, chat_id: int) -> bool:
        link = await self._repos.chats.get(chat_id)
        return link is not None and link.is_linked

    async def api_for(self, chat_id: int) -> ProxyApi:
        link = await self._repos.chats.get(chat_id)
        if link is None or link.api_key_enc is None:
            raise NotLinked
        try:
            return self._client.for_key(self._vault.decrypt(link.api_key_enc))
        except KeyVaultError:
            # The key was encrypted with a key we no longer have: ask for it again.
            log.error("chat %s: stored API key cannot be decrypted; relink needed", chat_id)
            raise NotLinked from None

    async def account(self, chat_id: int) -> Account:
        return await self.read_account(await self.api_for(chat_id))

    async def read_account(self, api: ProxyApi) -> Account:
        """GET /account; its balance is remembered for ``recent_balance``."""
        key = api.key_id
        epoch = self._epochs.get(key, 0)
        account = await api.get_account()
        if self._epochs.get(key, 0) == epoch:
            if len(self._balances) >= _BALANCES_KEPT:
                self._prune()
            self._balances[key] = (account.balance, self._clock.monotonic())
        return account

    def recent_balance(self, api: ProxyApi) -> Decimal | None:
        """The balance the API gave within BALANCE_FRESH with no paid action since, or None."""
        entry = self._balances.get(api.key_id)
        if entry is None or self._clock.monotonic() - entry[1] >= BALANCE_FRESH.total_seconds():
            return None
        return entry[0]

    def forget_balance(self, api: ProxyApi) -> None:
        """Money is about to move (or just moved) on this account: the last read is stale."""
        self._balances.pop(api.key_id, None)
        self._epochs[api.key_id] = self._epochs.get(api.key_id, 0) + 1

    def _prune(self) -> None:
        now = self._clock.monotonic()
        fresh = BALANCE_FRESH.total_seconds()
        self._balances = {k: v for k, v in self._balances.items() if now - v[1] < fresh}
        while len(self._balances) >= _BALANCES_KEPT:
            del self._balances[next(iter(self._balances))]

    async def transactions(
        self, chat_id: int, page: int, type_filter: str | None, per_page: int = 8
    ) -> Page[Transaction]:
        api = await self.api_for(chat_id)
        return await api.list_transactions(page=page, per_page=per_page, type=type_filter)

    async def reencrypt_keys(self) -> int:
        """After ENCRYPTION_KEY gained a new first key: move every stored key onto it, so the
        old key can be dropped from the setting on a later start."""
        if self._vault.key_count < 2:
            return 0
        updates = []
        for link in await self._repos.chats.all_linked():
            try:
                updates.append((link.chat_id, self._vault.rotate(link.api_key_enc or b"")))
            except KeyVaultError:
                log.error("chat %s: stored API key cannot be decrypted; relink needed",
                          link.chat_id)
        await self._repos.chats.replace_ciphertexts(updates)
        if updates:
            log.info("re-encrypted %d stored API key(s) with the newest ENCRYPTION_KEY",
                     len(updates))
        return len(updates)

    async def logout(self, chat_id: int) -> None:
        open_op = await self._repos.operations.open_for_chat(chat_id)
        if open_op is not None and open_op.status == IN_FLIGHT:
            # An order or extend is on its way: its receipt and local record need the chat.
            raise AlreadyProcessing
        await self._repos.chats.forget(chat_id)
        log.info("chat %s forgot its API key", chat_id)
