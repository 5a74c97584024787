"""Checks the Bot API server performs before accepting content, with Telegram's error texts."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .errors import bad_request
from .html import EntityParseError, clean_input, finalize_text, parse_html, utf16_len

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER = 200
MAX_BUTTONS = 100
MAX_PLACEHOLDER = 64

INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


def format_text(
    raw: str | None,
    parse_mode: str | None,
    entities: Any,
    *,
    caption: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """Turn (text, parse_mode | entities) into what Telegram stores, enforcing length limits."""
    if raw is None:
        raw = ""
    raw = clean_input(raw)
    mode = (parse_mode or "").strip().lower()
    # Like telegram-bot-api: a non-empty parse_mode wins and explicit entities are then ignored.
    if raw and mode not in {"", "none"}:
        if mode == "html":
            try:
                text, parsed = parse_html(raw)
            except EntityParseError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
        elif mode in {"markdown", "markdownv2"}:
            # The fake does not parse Markdown; it keeps the raw text (see package docs).
            text, parsed = raw, []
        else:
            raise bad_request("unsupported parse_mode")
    elif isinstance(entities, list):
        text, parsed = raw, [e for e in entities if _entity_fits(e, raw)]
    else:
        text, parsed = raw, []
    text, parsed = finalize_text(text, parsed)
    if caption:
        if len(text) > MAX_CAPTION:
            raise bad_request("message caption is too long")
    else:
        if not text:
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("message is too long")
    return text, parsed


def _entity_fits(entity: Any, text: str) -> bool:
    if not isinstance(entity, dict):
        return False
    offset, length = entity.get("offset"), entity.get("length")
    if not isinstance(offset, int) or not isinstance(length, int):
        return False
    return offset >= 0 and length > 0 and offset + length <= utf16_len(text)


def validate_reply_markup(markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Validate any reply_markup; returns it unchanged (None when absent)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        validate_inline_keyboard(markup["inline_keyboard"])
        return markup
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request(
                'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                label = button.get("text") if isinstance(button, dict) else button
                if not isinstance(label, str) or not label:
                    raise bad_request("can't parse keyboard button: Text must be non-empty")
        _validate_placeholder(markup)
        return markup
    for key in ("remove_keyboard", "force_reply", "selective"):
        if key in markup and not isinstance(markup[key], bool):
            raise bad_request(f'field "{key}" must be of type Boolean')
    if markup.get("remove_keyboard"):
        return markup
    if "force_reply" in markup:
        # Telegram would quietly send ``force_reply: false`` without any markup; the fake
        # refuses it, as it is always a mistake (aiogram's ForceReply is always true).
        if markup["force_reply"] is not True:
            raise bad_request('field "force_reply" must be true')
        _validate_placeholder(markup)
        return markup
    raise bad_request('can\'t find field "inline_keyboard"')


def _validate_placeholder(markup: dict[str, Any]) -> None:
    """input_field_placeholder of a reply keyboard or ForceReply: a string of 0..64 chars
    (the Bot API documents 1-64; empty means none, as in tdlib)."""
    if "input_field_placeholder" not in markup:
        return
    placeholder = markup["input_field_placeholder"]
    if not isinstance(placeholder, str):
        raise bad_request('field "input_field_placeholder" must be of type String')
    if len(placeholder) > MAX_PLACEHOLDER:
        raise bad_request("input field placeholder is too long")


def validate_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
        )
    total = 0
    for row in rows:
        for button in row:
            total += 1
            _validate_inline_button(button)
    if total > MAX_BUTTONS:
        raise bad_request("REPLY_MARKUP_TOO_LONG")


def _validate_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    label = button.get("text")
    if not isinstance(label, str):
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    if not label.strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [key for key in INLINE_ACTIONS if key in button]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not _valid_button_url(url):
            raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _valid_button_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in {"tg", "ton"}:
        return bool(parts.netloc or parts.path)
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def validate_commands(commands: Any) -> list[dict[str, str]]:
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise bad_request("too many commands specified")
    result = []
    for item in commands:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand")
        command, description = item.get("command"), item.get("description")
        if not isinstance(command, str) or not _COMMAND_RE.match(command.lstrip("/")):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        result.append({"command": command.lstrip("/"), "description": description})
    return result
