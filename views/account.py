"""Texts of the start, linking, balance, transactions and settings screens."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from core.languages import LANGUAGES
from proxy_api import Account, Page, Transaction
from proxy_api.errors import InvalidApiKey, ProxyApiError, Unauthorized
from views.errors import error_text
from views.format import h, mask_email, signed_usd, stamp, truncate, usd


def link_prompt_text() -> str:
    return _(
        "🔑 To start, send me your <b>1001Proxy API key</b>.\n"
        "You find it in your dashboard: <b>1001proxy.io → Dashboard → API keys</b>.\n"
        "I delete the message with the key right away and keep it encrypted."
    )


def not_a_key_text() -> str:
    return _(
        "🤔 That is not an API key, so I left your message as it is.\n\n"
        "The key is one long word of letters and digits. Copy it from your dashboard "
        "(<b>1001proxy.io → Dashboard → API keys</b>) and paste it here: I delete it at "
        "once. /help lists everything I can do."
    )


def link_error_text(exc: ProxyApiError) -> str:
    if isinstance(exc, InvalidApiKey | Unauthorized):
        return _(
            "❌ 1001Proxy does not know this key. Check that you copied all of it and send "
            "it again."
        )
    return error_text(exc)


def linked_text(account: Account) -> str:
    return _(
        "✅ Key linked to <b>{email}</b>.\nBalance: <b>{balance}</b>"
    ).format(email=h(account.email), balance=usd(account.balance))


def account_text(account: Account) -> str:
    lines = [
        _("💰 <b>Balance: {balance}</b>").format(balance=usd(account.balance)),
        "",
        _("Account: {email}").format(email=h(account.email)),
    ]
    if account.name:
        lines.append(_("Name: {name}").format(name=h(account.name)))
    if account.api_key_masked:
        # Plain text: in <code> a tap would copy the useless masked string.
        lines.append(_("API key: {key}").format(key=h(account.api_key_masked)))
    lines.append(_("Member since: {date}").format(date=stamp(account.created_at)[:10]))
    return "\n".join(lines)


def transaction_kind(kind: str) -> str:
    names = {
        "deposit": _("Deposit"),
        "purchase": _("Purchase"),
        "refund": _("Refund"),
        "adjustment": _("Adjustment"),
    }
    return names.get(kind, h(kind))


def transactions_text(page: Page[Transaction], kind_label: str) -> str:
    header = _("📜 <b>Transactions</b> · {kind}").format(kind=kind_label)
    if not page.items:
        return header + "\n\n" + _("No transactions yet.")
    rows = []
    for tx in page.items:
        status = "" if tx.status == "completed" else f" · {h(tx.status)}"
        rows.append(
            f"<b>{signed_usd(tx.amount)}</b> · {transaction_kind(tx.type)}{status}\n"
            f"<i>{h(truncate(tx.description or '', 80))}</i> · {stamp(tx.created_at)}"
        )
    footer = _("Page {page} of {pages} · {total} in all").format(
        page=page.meta.page, pages=max(page.meta.total_pages, 1), total=page.meta.total
    )
    return header + "\n\n" + "\n\n".join(rows) + "\n\n" + footer


def settings_text(
    language: str,
    masked_key: str | None,
    email: str | None,
    *,
    credentials_for_everyone: bool | None = None,
) -> str:
    """``credentials_for_everyone``: None in a private chat; in a group, its setting (and
    the account's e-mail is masked there, as everyone in the group reads it)."""
    lines = [_("⚙️ <b>Settings</b>"), ""]
    lines.append(_("Language: {language}").format(language=LANGUAGES.get(language, language)))
    if credentials_for_everyone is not None:
        email = mask_email(email) if email else None
        lines.append(
            _("Proxy credentials: shown to everyone in this group") if credentials_for_everyone
            else _("Proxy credentials: admins only, sent to them privately")
        )
    if masked_key or email:
        lines.append(
            _("Linked account: {email} ({key})").format(
                email=h(email or "—"), key=h(masked_key or "…")
            )
        )
    else:
        lines.append(_("No API key linked."))
    return "\n".join(lines)
