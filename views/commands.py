"""The bot's commands, in one table: the Telegram command menu, /help and the main menu.

`COMMANDS` is read by `bot.app` (setMyCommands, in every language), by `help_text`
(/help) and by `keyboards.common.main_menu` (its buttons, in this order).

Adding a command, e.g. /referrals:

1. a row here (its description is translated: run ``python -m bot.i18n_update`` and
   translate it in ``bot/locales/ru/LC_MESSAGES/messages.po``);
2. its handler in ``handlers/<feature>.py``, registered in that module's ``setup()`` with
   ``Command("referrals")`` (and ``flags={"chat": "private"}`` if its scope is private);
3. a row in README.md's command table.

tests/test_commands.py fails until the table, the handlers (names and scopes) and the
README agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from babel.support import LazyProxy

# Where the command works: "private" ones are refused elsewhere with "please do this in a
# private chat" — their handlers declare `flags={"chat": "private"}` (handlers/policies.py).
Scope = Literal["any", "private"]
# When the main menu shows the command's button: always, or only with(out) a linked key.
Shown = Literal["always", "linked", "unlinked"]


@dataclass(frozen=True, eq=False)  # eq=False: comparing would translate every description
class MenuButton:
    label: LazyProxy
    action: str  # the `MenuCb` action the button sends; its handler does what the command does
    shown: Shown

    def shown_when(self, linked: bool) -> bool:
        return self.shown == "always" or (self.shown == "linked") == linked


@dataclass(frozen=True, eq=False)
class BotCommandInfo:
    name: str  # without the slash
    description: LazyProxy  # one line, in the command menu and in /help
    scope: Scope = "any"
    in_menu: bool = True  # listed in Telegram's command menu (setMyCommands)
    button: MenuButton | None = None


COMMANDS: tuple[BotCommandInfo, ...] = (
    # Without a key, /start asks for one; its button does the same.
    BotCommandInfo("start", __("Start and link your API key"),
                   button=MenuButton(__("🔑 Link API key"), "link", "unlinked")),
    # In a group: with the group's key; members' purchases wait for an admin's approval.
    BotCommandInfo("buy", __("Buy proxies"),
                   button=MenuButton(__("🛒 Buy proxies"), "buy", "linked")),
    BotCommandInfo("orders", __("My orders"),
                   button=MenuButton(__("📦 My orders"), "orders", "linked")),
    BotCommandInfo("balance", __("Balance and account"),
                   button=MenuButton(__("💰 Balance"), "balance", "linked")),
    BotCommandInfo("deposit", __("Top up with crypto"),
                   button=MenuButton(__("➕ Top up"), "deposit", "linked")),
    BotCommandInfo("transactions", __("Balance history"),
                   button=MenuButton(__("📜 Transactions"), "tx", "linked")),
    BotCommandInfo("settings", __("Language and key"),
                   button=MenuButton(__("⚙️ Settings"), "settings", "always")),
    # In a group: admins link the group's key through a private chat (never in the group).
    BotCommandInfo("link", __("Link an API key (in a group: admins, privately)")),
    BotCommandInfo("unlink", __("Unlink a group's API key (admins)"), in_menu=False),
    # Reached from /settings too; rare enough to stay out of the command menu.
    BotCommandInfo("logout", __("Forget the API key"), in_menu=False),
    BotCommandInfo("help", __("What I can do"),
                   button=MenuButton(__("❓ Help"), "help", "always")),
    # The same screen as the 🏠 Menu button that most screens carry: the dashboard.
    BotCommandInfo("menu", __("Main menu: balance and orders")),
    BotCommandInfo("cancel", __("Leave what you are doing")),
)


def menu_commands() -> list[tuple[str, str]]:
    """(command, description) for setMyCommands, in the current locale."""
    return [(c.name, str(c.description)) for c in COMMANDS if c.in_menu]


def main_menu_buttons(linked: bool) -> list[MenuButton]:
    return [c.button for c in COMMANDS if c.button and c.button.shown_when(linked)]


def help_text() -> str:
    lines = [f"/{c.name} — {c.description}" for c in COMMANDS]
    return "\n".join([
        _("❓ <b>Help</b>"),
        "",
        *lines,
        "",
        _("Your API key is stored encrypted and only ever accepted in a private chat."),
    ])
