"""One place that turns every domain and API error into a short user message."""

from __future__ import annotations

import math

from aiogram.utils.i18n import gettext as _

from proxy_api import errors as api
from services import errors as domain
from views.format import h, usd


def error_text(exc: BaseException) -> str:
    if isinstance(exc, domain.NotLinked):
        return _("🔑 No API key is linked to this chat yet. Send /start to link one.")
    if isinstance(exc, domain.PrivateChatOnly):
        return _("🔒 Please do this in a private chat with me.")
    if isinstance(exc, domain.NotYourMenu):
        # An alert: plain text, no HTML; the name is shortened so the alert fits.
        return _("🙅 This menu belongs to {name}. Open your own with /buy or /menu.").format(
            name=exc.owner_name[:40]
        )
    if isinstance(exc, domain.AdminsOnly):
        return _("🔐 Only the group's admins can spend its money. "
                 "Members can ask for a purchase with \"Request approval\".")
    if isinstance(exc, domain.ManagersOnly):
        return _("🔐 Only the group's admins can change this.")
    if isinstance(exc, domain.CredentialsAdminsOnly):
        return _("🔐 In this group only admins can see proxy credentials and files.")
    if isinstance(exc, domain.CredentialsNeedPrivateChat):
        return _("📬 Credentials are sent privately, but you have not started a chat with me "
                 "yet. Open a private chat with me, press Start, then tap again.")
    if isinstance(exc, domain.RelinkNeeded):
        return _("🔑 The admin who linked this group's key is no longer an admin. "
                 "A current admin must send /link again before anything is bought.")
    if isinstance(exc, domain.AdminCheckFailed):
        return _("⚠️ Telegram could not confirm you are an admin right now. "
                 "Nothing was spent; please try again.")
    if isinstance(exc, domain.OutOfDate):
        # An alert: plain text.
        return _("⌛ This menu is out of date. Please use the latest one.")
    if isinstance(exc, domain.StaleAction):
        return _("⌛ That button is out of date. Here is a fresh menu.")
    if isinstance(exc, domain.AlreadyProcessing):
        return _("⏳ Already processing, one moment…")
    if isinstance(exc, api.InvalidApiKey | api.Unauthorized):
        return _(
            "🔑 1001Proxy rejected the linked API key — it may have been rotated. "
            "Send /start to link the new one."
        )
    if isinstance(exc, api.Banned):
        return _("⛔ This 1001Proxy account is banned. Contact 1001Proxy support.")
    if isinstance(exc, api.Unverified):
        return _(
            "📧 This 1001Proxy account's e-mail is not verified yet. Verify it on the "
            "website, then try again."
        )
    if isinstance(exc, api.RateLimited):
        wait = math.ceil(exc.retry_after) if exc.retry_after else 60
        return _("🐢 Too many requests right now. Please try again in {seconds} s.").format(
            seconds=wait
        )
    if isinstance(exc, api.InsufficientFunds):
        if exc.required is not None and exc.available is not None:
            return _(
                "💸 Not enough balance: this costs <b>{required}</b>, you have <b>{available}</b>."
            ).format(required=usd(exc.required), available=usd(exc.available))
        return _("💸 Not enough balance for this.")
    if isinstance(exc, api.UpstreamError):
        if exc.refunded:
            return _(
                "⚠️ The proxy provider failed to complete this. Your balance was refunded."
            )
        return _("⚠️ The proxy provider failed to complete this. Nothing was charged.")
    if isinstance(exc, api.NotFound):
        return _("🔎 Not found — it may have been removed or belong to another account.")
    if isinstance(exc, api.NotProvisioned):
        return _("🛠 This order is still being set up by the provider. Try again in a few minutes.")
    if isinstance(exc, api.ValidationError):
        return _("❗ 1001Proxy did not accept that: {reason}").format(reason=h(exc.message))
    if isinstance(exc, api.TransportError | api.ServerError | api.BadResponse):
        return _("📡 1001Proxy is not answering right now. Please try again in a minute.")
    return _("😵 Something went wrong on our side. Please try again.")
