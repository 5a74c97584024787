"""Texts of groups: one section per feature.

Everything from users or the API (names, group titles, e-mails) is escaped with `h`; a
group only ever sees an account's e-mail masked, and never a key.
"""

from __future__ import annotations

from datetime import timedelta

from aiogram.utils.i18n import gettext as _

from views.format import h, mask_email

# -- linking a key (/link, its deep link, /unlink) -------------------------------------------


def _masked(email: str | None) -> str:
    return h(mask_email(email)) if email else "—"


def invitation_text(admin_name: str, ttl: timedelta, current_email: str | None) -> str:
    text = _(
        "🔑 {name}, tap the button to link this group's 1001Proxy key in a private chat "
        "with me. Never paste a key here.\n"
        "The button works once, for the group's admins, for {minutes} minutes."
    ).format(name=h(admin_name), minutes=int(ttl.total_seconds() // 60))
    if current_email:
        text += "\n" + _("It replaces the account linked now: {email}.").format(
            email=_masked(current_email)
        )
    return text


def invitation_gone_text() -> str:
    return _("⌛ This link is used up or has expired. An admin can get a new one by sending "
             "/link in the group.")


def not_group_admin_text(group_title: str) -> str:
    return _("🔐 Only the admins of <b>{title}</b> can link its key, and Telegram says you "
             "are not one of them.").format(title=h(group_title))


def choose_key_text(group_title: str, own_masked_key: str | None, own_email: str | None,
                    has_own_key: bool) -> str:
    lines = [
        _("🔗 <b>Link a 1001Proxy key to {title}</b>").format(title=h(group_title)),
        "",
        _("Send me the API key for the group as a message: I delete it right away, and the "
          "group never sees it — only the account's e-mail, masked."),
    ]
    if has_own_key:
        lines += ["", _("Or use the key linked in this chat: <code>{key}</code> ({email}).").format(
            key=h(own_masked_key or "…"), email=h(own_email or "—")
        )]
    return "\n".join(lines)


def no_own_key_text() -> str:
    return _("🔑 This chat has no working key linked any more. Send me the key for the group "
             "as a message.")


def link_race_lost_text() -> str:
    # An alert: plain text.
    return _("⏳ This link was just used.")


def group_linked_private_text(group_title: str, email: str | None, announced: bool) -> str:
    text = _("✅ The account <b>{email}</b> is now linked to <b>{title}</b>.").format(
        email=h(email or "—"), title=h(group_title)
    )
    if announced:
        return text + "\n" + _("I told the group, with the e-mail masked.")
    return text + "\n" + _("I could not post in the group to say so; tell the team yourself.")


def group_linked_text(admin_name: str, email: str | None) -> str:
    return _("🔗 {name} linked the account {email}. /buy, /orders and /balance work here "
             "now.").format(name=h(admin_name), email=_masked(email))


def unlink_confirm_text(email: str | None) -> str:
    return _(
        "🔓 Unlink the account {email} from this group?\n"
        "Nobody here can buy until an admin links a key again with /link. The group's "
        "orders, receipts and settings stay."
    ).format(email=_masked(email))


def unlink_nothing_text() -> str:
    return _("No API key is linked to this group. An admin can link one with /link.")


def unlinked_text(admin_name: str, email: str | None) -> str:
    return _("🔓 {name} unlinked the account {email}. An admin can link a key again with "
             "/link.").format(name=h(admin_name), email=_masked(email))


def unlink_kept_text() -> str:
    return _("👍 The key stays linked.")


def unlink_in_private_text() -> str:
    return _("🔓 /unlink is for groups. To forget this chat's key, send /logout.")


# Key messages in the private chat: the same words as linking a private chat's own key.


def not_a_key_text() -> str:
    return _("That does not look like an API key. Paste the key exactly as the dashboard "
             "shows it, or tap Cancel.")


def key_not_deleted_text() -> str:
    return _("⚠️ I could not delete your message with the key. Delete it yourself, so the key "
             "does not stay in this chat.")


def too_many_keys_text(seconds: int) -> str:
    return _("⏳ Too many keys tried in a short time. Wait {seconds} s, then send the key "
             "again.").format(seconds=seconds)


def nothing_saved_text() -> str:
    return _("Nothing was saved. Send the key again later.")
