"""The command table (views/commands.py) is the one list of commands: the handlers, the
README and the main menu agree with it."""

from __future__ import annotations

import re
from pathlib import Path

from aiogram import Router
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters import Command
from aiogram.types import CallbackQuery, User

from handlers import build_root_router
from keyboards.callbacks import MenuCb
from views.commands import COMMANDS

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_commands() -> list[str]:
    """Commands named in the first column of README.md's table under "| Command |"."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\|\s*Command\s*\|", line))
    found = []
    for line in lines[start + 2:]:  # past the header and its |---| row
        if not line.startswith("|"):
            break
        first_cell = line.split("|")[1]
        found += re.findall(r"/([a-z0-9_]+)", first_cell)
    return found


def _handlers(router: Router, event: str) -> list[tuple[str, HandlerObject]]:
    """(router name, handler) of one event type, over the whole tree, in matching order."""
    return [
        (each.name, handler)
        for each in router.chain_tail
        for handler in each.observers[event].handlers
    ]


def _command_handlers() -> dict[str, list[HandlerObject]]:
    """Command name → the message handlers whose `Command` filter matches it."""
    found: dict[str, list[HandlerObject]] = {}
    for _, handler in _handlers(build_root_router(), "message"):
        # aiogram files every Command filter of a handler under its "commands" flag.
        command: Command
        for command in handler.flags.get("commands", []):
            for name in command.commands:
                assert isinstance(name, str), f"{handler.callback.__name__}: pattern command"
                found.setdefault(name, []).append(handler)
    return found


def test_command_names_are_unique() -> None:
    names = [c.name for c in COMMANDS]
    assert len(names) == len(set(names)), names


def test_readme_lists_exactly_the_commands_of_the_table() -> None:
    listed = _readme_commands()
    table = {c.name for c in COMMANDS}
    assert len(listed) == len(set(listed)), f"README lists a command twice: {listed}"
    assert not table - set(listed), f"missing from README's command table: {table - set(listed)}"
    assert not set(listed) - table, f"README lists unknown commands: {set(listed) - table}"


def test_every_command_of_the_table_has_a_handler_and_every_handled_one_a_row() -> None:
    handled = set(_command_handlers())
    table = {c.name for c in COMMANDS}
    assert not table - handled, f"commands without a handler: {table - handled}"
    assert not handled - table, f"handled commands missing from views/commands.py: "\
                                f"{handled - table}"


def test_a_command_scope_is_what_its_handlers_declare() -> None:
    handlers = _command_handlers()
    wrong = []
    for command in COMMANDS:
        for handler in handlers[command.name]:
            declared = handler.flags.get("chat")
            expected = "private" if command.scope == "private" else None
            if declared != expected:
                wrong.append(f"/{command.name}: table says {command.scope!r}, "
                             f"{handler.callback.__name__} declares chat={declared!r}")
    assert not wrong, "\n".join(wrong)


async def test_every_main_menu_button_reaches_a_feature_handler() -> None:
    root = build_root_router()
    # The fallback router answers any tap ("out of date"): it does not count.
    candidates = [h for name, h in _handlers(root, "callback_query") if name != "handlers.fallback"]
    user = User(id=1, is_bot=False, first_name="Ann")
    unreached = []
    for command in COMMANDS:
        if command.button is None:
            continue
        data = MenuCb(action=command.button.action).pack()
        query = CallbackQuery(id="1", from_user=user, chat_instance="1", data=data)
        if not [h for h in candidates if (await h.check(query))[0]]:
            unreached.append(f"/{command.name}: {data}")
    assert not unreached, unreached


def test_help_lists_every_command() -> None:
    from aiogram.utils.i18n import I18n

    from bot.i18n import build_i18n
    from views.commands import help_text

    i18n: I18n = build_i18n()
    for language in ("en", "ru"):
        with i18n.context(), i18n.use_locale(language):
            text = help_text()
        for command in COMMANDS:
            assert f"/{command.name} — " in text, (language, command.name)
