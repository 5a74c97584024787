"""Telegram's ``parse_mode=HTML`` parser and post-processing, re-implemented for the fake.

The algorithm follows tdlib's ``parse_html`` (what the Bot API server runs), including its
quirks: named entities other than ``&lt; &gt; &amp; &quot;`` are left as literal text, the
``;`` after an entity is optional, unknown tags and mis-nesting are hard errors, and the error
texts/byte offsets match what a real bot receives after ``can't parse entities:``.
Offsets of the produced entities are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)

_SIMPLE_TAG_TYPES = {
    "i": "italic",
    "em": "italic",
    "b": "bold",
    "strong": "bold",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}

# tdlib's is_space() is also true for NUL, which is how it notices the end of the C string; the
# parser below appends a NUL sentinel to get the same behaviour.
_SPACES = frozenset(" \t\r\n\0\v\f")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
# Entities whose payload is invisible (a link target, an emoji id): tdlib keeps them even when
# they cover whitespace only.
_HIDDEN_DATA_TYPES = frozenset({"text_link", "text_mention", "custom_emoji"})


class EntityParseError(ValueError):
    """Markup Telegram would refuse with ``Bad Request: can't parse entities: <message>``."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _is_ascii_alpha(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _decode_entity(text: str, pos: int) -> tuple[str | None, int]:
    """Decode the character reference at ``text[pos] == '&'``; ``None`` keeps the ``&`` literal."""
    end = pos + 1
    if text[end] == "#":
        end += 1
        code = 0
        if text[end] == "x":
            end += 1
            while text[end] in _HEX:
                code = code * 16 + int(text[end], 16)
                end += 1
        else:
            while text[end] in _DIGITS:
                code = code * 10 + int(text[end])
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None, pos
        if 0xD800 <= code <= 0xDFFF:
            raise EntityParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        char = chr(code)
    else:
        while _is_ascii_alpha(text[end]):
            end += 1
        named = _NAMED_ENTITIES.get(text[pos + 1 : end])
        if named is None:
            return None, pos
        char = named
    if text[end] == ";":
        end += 1
    return char, end


def _checked_link(url: str) -> str | None:
    """Roughly tdlib's get_checked_link: invalid links silently lose their entity."""
    url = url.strip()
    if not url or any(ch in url for ch in " \n\t"):
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = parts.scheme.lower()
    if scheme in {"tg", "ton"}:
        return url
    if scheme not in {"http", "https"} or not parts.hostname or "." not in parts.hostname:
        return None
    normalized = url if "://" in url else f"http://{url}"
    if not parts.path:
        normalized += "/"
    return normalized


def _mention_user_id(url: str) -> int | None:
    parts = urlsplit(url)
    if parts.scheme.lower() != "tg" or parts.netloc.lower() != "user":
        return None
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if key == "id" and value.isdigit() and int(value) > 0:
            return int(value)
    return None


def clean_input(text: str) -> str:
    """Telegram drops ``\\r`` and turns other control characters (except ``\\n``) into spaces."""
    out = []
    for ch in text:
        if ch == "\r":
            continue
        out.append(" " if ord(ch) < 32 and ch != "\n" else ch)
    return "".join(out)


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, Bot API entities) or raise :class:`EntityParseError`."""
    text = source + "\0"
    size = len(source)
    out: list[str] = []
    utf16 = 0
    entities: list[dict[str, Any]] = []
    # (tag name, argument, utf16 offset of the entity, index into ``out`` where it starts)
    stack: list[tuple[str, str, int, int]] = []
    i = 0
    while i < size:
        ch = text[i]
        if ch == "&":
            decoded, new_i = _decode_entity(text, i)
            if decoded is not None:
                out.append(decoded)
                utf16 += utf16_len(decoded)
                i = new_i
                continue
        if ch != "<":
            out.append(ch)
            utf16 += utf16_len(ch)
            i += 1
            continue

        begin = i
        boff = _byte_offset(source, begin)
        i += 1
        if text[i] != "/":
            while text[i] not in _SPACES and text[i] != ">":
                i += 1
            if text[i] == "\0":
                raise EntityParseError(f"Unclosed start tag at byte offset {boff}")
            tag = text[begin + 1 : i].lower()
            if tag not in SUPPORTED_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {boff}')
            argument = ""
            while text[i] != ">":
                while text[i] != "\0" and text[i] in _SPACES:
                    i += 1
                if text[i] == ">":
                    break
                attr_begin = i
                while text[i] not in _SPACES and text[i] not in "=>":
                    i += 1
                attr_name = text[attr_begin:i]
                if not attr_name:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {boff}'
                    )
                while text[i] != "\0" and text[i] in _SPACES:
                    i += 1
                if text[i] != "=":
                    # Current Telegram accepts value-less attributes (needed for
                    # <blockquote expandable>) and ignores the unknown ones.
                    if text[i] == "\0":
                        raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {boff}')
                    if tag == "blockquote" and attr_name == "expandable":
                        argument = "1"
                    continue
                i += 1
                while text[i] != "\0" and text[i] in _SPACES:
                    i += 1
                if text[i] == "\0":
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {boff}')
                if text[i] not in "'\"":
                    token_begin = i
                    while _is_ascii_alnum(text[i]) or text[i] in ".-":
                        i += 1
                    value = text[token_begin:i].lower()
                    if text[i] not in _SPACES and text[i] != ">":
                        raise EntityParseError(
                            "Unexpected end of name token at byte offset "
                            f"{_byte_offset(source, token_begin)}"
                        )
                else:
                    quote = text[i]
                    i += 1
                    chars: list[str] = []
                    while text[i] != quote and text[i] != "\0":
                        if text[i] == "&":
                            decoded, new_i = _decode_entity(text, i)
                            if decoded is not None:
                                chars.append(decoded)
                                i = new_i
                                continue
                        chars.append(text[i])
                        i += 1
                    if text[i] == quote:
                        i += 1
                    value = "".join(chars)
                if text[i] == "\0":
                    raise EntityParseError(f"Unclosed start tag at byte offset {boff}")
                if tag == "a" and attr_name == "href":
                    argument = value
                elif tag == "code" and attr_name == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag == "tg-emoji" and attr_name == "emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {boff}'
                )
            stack.append((tag, argument, utf16, len(out)))
            i += 1  # past '>'
            continue

        # end tag
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {boff}")
        while text[i] not in _SPACES and text[i] != ">":
            i += 1
        end_name = text[begin + 2 : i].lower()
        while text[i] in _SPACES and text[i] != "\0":
            i += 1
        if text[i] != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {boff}")
        i += 1
        tag, argument, offset, out_begin = stack.pop()
        if end_name and end_name != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {boff}, expected "</{tag}>", '
                f'found "</{end_name}>"'
            )
        length = utf16 - offset
        if length <= 0:
            continue
        entity = _make_entity(tag, argument, offset, length, "".join(out[out_begin:]), entities)
        if entity is not None:
            entities.append(entity)

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), sort_entities(entities)


def _make_entity(
    tag: str,
    argument: str,
    offset: int,
    length: int,
    inner_text: str,
    previous: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """Build the entity for a closed tag; may instead upgrade ``previous[-1]`` (pre + code)."""
    if tag in _SIMPLE_TAG_TYPES:
        return {"type": _SIMPLE_TAG_TYPES[tag], "offset": offset, "length": length}
    last = previous[-1] if previous else None
    same_span = last is not None and last["offset"] == offset and last["length"] == length
    if tag == "tg-emoji":
        if not argument.isdigit() or int(argument) == 0:
            raise EntityParseError("Invalid custom emoji identifier specified")
        return {
            "type": "custom_emoji",
            "offset": offset,
            "length": length,
            "custom_emoji_id": argument,
        }
    if tag == "a":
        url = argument or inner_text
        user_id = _mention_user_id(url)
        if user_id is not None:
            return {
                "type": "text_mention",
                "offset": offset,
                "length": length,
                "user": {"id": user_id, "is_bot": False, "first_name": ""},
            }
        checked = _checked_link(url)
        if checked is None:
            return None
        return {"type": "text_link", "offset": offset, "length": length, "url": checked}
    if tag == "pre":
        # <pre><code class="language-x">…</code></pre>: the inner code closed first.
        if same_span and last is not None and last["type"] == "code" and last.get("_language"):
            last["type"] = "pre"
            last["language"] = last.pop("_language")
            return None
        return {"type": "pre", "offset": offset, "length": length}
    if tag == "code":
        if same_span and last is not None and last["type"] == "pre" and argument:
            last["language"] = argument
            return None
        entity: dict[str, Any] = {"type": "code", "offset": offset, "length": length}
        if argument:
            entity["_language"] = argument
        return entity
    if tag == "blockquote":
        kind = "expandable_blockquote" if argument else "blockquote"
        return {"type": kind, "offset": offset, "length": length}
    raise AssertionError(f"unhandled tag {tag}")  # pragma: no cover - SUPPORTED_TAGS is closed


def sort_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for entity in entities:
        entity.pop("_language", None)
    return sorted(entities, key=lambda e: (e["offset"], -e["length"], e["type"]))


def finalize_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Whitespace clean-up tdlib applies after parsing (fix_formatted_text).

    Entities lose leading whitespace and disappear when they cover whitespace only; trailing
    spaces/newlines of the message are cut; leading ones are cut up to the first entity.
    Returns ("", []) for a message that is blank after this.
    """
    units = _utf16_units(text)
    fixed: list[dict[str, Any]] = []
    for entity in entities:
        entity = dict(entity)
        start, end = entity["offset"], entity["offset"] + entity["length"]
        start, end = max(0, start), min(len(units), end)
        if entity["type"] not in _HIDDEN_DATA_TYPES:
            while start < end and units[start] in (" ", "\n"):
                start += 1
            if not any(u not in (" ", "\n") for u in units[start:end]):
                continue
        if end <= start:
            continue
        entity["offset"], entity["length"] = start, end - start
        fixed.append(entity)

    last = len(units)
    while last > 0 and units[last - 1] in (" ", "\n"):
        last -= 1
    if last == 0:
        return "", []
    first_entity = min((e["offset"] for e in fixed), default=last)
    first = 0
    while first < min(first_entity, last) and units[first] in (" ", "\n"):
        first += 1
    result: list[dict[str, Any]] = []
    for entity in fixed:
        start = entity["offset"] - first
        end = min(entity["offset"] + entity["length"], last) - first
        if end <= start:
            continue
        entity["offset"], entity["length"] = start, end - start
        result.append(entity)
    return _join_units(units[first:last]), sort_entities(result)


def _utf16_units(text: str) -> list[str]:
    """Split into one item per UTF-16 code unit (astral chars yield the char then '')."""
    units: list[str] = []
    for ch in text:
        units.append(ch)
        if ord(ch) > 0xFFFF:
            units.append("")
    return units


def _join_units(units: list[str]) -> str:
    return "".join(units)


def render_html(text: str, entities: list[dict[str, Any]]) -> str:
    """Best-effort inverse of :func:`parse_html` (for readable assertions and failure output)."""
    units = _utf16_units(text)
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    tags = {
        "bold": ("<b>", "</b>"),
        "italic": ("<i>", "</i>"),
        "underline": ("<u>", "</u>"),
        "strikethrough": ("<s>", "</s>"),
        "spoiler": ("<tg-spoiler>", "</tg-spoiler>"),
        "code": ("<code>", "</code>"),
        "blockquote": ("<blockquote>", "</blockquote>"),
        "expandable_blockquote": ("<blockquote expandable>", "</blockquote>"),
    }
    for entity in sort_entities([dict(e) for e in entities]):
        kind = entity["type"]
        if kind == "text_link":
            pair = (f'<a href="{_escape(entity["url"], quote=True)}">', "</a>")
        elif kind == "pre":
            lang = entity.get("language")
            pair = (
                (f'<pre><code class="language-{lang}">', "</code></pre>")
                if lang
                else ("<pre>", "</pre>")
            )
        elif kind in tags:
            pair = tags[kind]
        else:
            continue
        start, end = entity["offset"], entity["offset"] + entity["length"]
        opens.setdefault(start, []).append(pair[0])
        closes.setdefault(end, []).insert(0, pair[1])
    out: list[str] = []
    for index in range(len(units) + 1):
        out.extend(closes.get(index, []))
        out.extend(opens.get(index, []))
        if index < len(units):
            out.append(_escape(units[index]))
    return "".join(out)


def _escape(text: str, *, quote: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text
