"""A transcript recorder over the fake Telegram: what a person saw and did, as plain text.

The fake records every message, edit and deletion of a chat (``tg.history``) and every
answer to a tap (``tg.requests``); the recorder adds the taps (which button, by its label)
and renders the lot in order:

    👤 Ann: /buy                     a message the person sent
    [tap #3: ✅ Pay · $24.00]          a button tapped on bot message #3
      ↳ toast: Saved                   the tap's answer, when it has text (alert: a popup)
    🤖 #4                              a bot message, its text indented, then its buttons
    ✏️ #4 edited                       the same message edited (text and buttons after)
    ✏️ #4 buttons: …                   only the keyboard changed (or was removed)
    🗑 #2 deleted                      a message the bot deleted
    📎 #9 file proxies.txt (10 lines)  a document

"⏳ Working…" edits are left out: whether a call is slower than WORKING_DELAY is timing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TIMEOUT = 15


def _buttons(markup_rows: list[list[dict[str, Any]]] | None) -> list[str]:
    lines = []
    for row in markup_rows or []:
        cells = []
        for button in row:
            if button.get("url"):
                cells.append(f"[{button['text']} ↗ {button['url']}]")
            else:
                cells.append(f"[{button['text']}]")
        lines.append("   " + " ".join(cells))
    return lines


def _rows(snapshot: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return (snapshot.get("reply_markup") or {}).get("inline_keyboard") or []


def _text(snapshot: dict[str, Any]) -> str:
    return snapshot.get("text") or snapshot.get("caption") or ""


@dataclass
class _Tap:
    seq: int
    message_id: int
    label: str
    query_id: str


@dataclass
class Transcript:
    """Drives one chat (``send``, ``tap``) and renders what happened in it."""

    tg: Any
    chat: Any
    user_name: str = "Ann"
    skip_texts: tuple[str, ...] = ("⏳ Working…",)
    start: int = 0
    taps: list[_Tap] = field(default_factory=list)
    shown_as: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.start = self.tg.current_seq

    async def send(self, text: str, until: Callable[[Any], bool], *, shown: str | None = None):
        sent = await self.chat.send(text)
        if shown is not None:
            self.shown_as[sent.message_id] = shown
        return await self.chat.wait_for_message(until, timeout=TIMEOUT)

    async def tap(self, message, data: str | Callable[[str], bool], until: Callable[[Any], bool]):
        """Tap the button of ``message`` whose callback data is ``data`` (or matches it)."""
        current = self.chat.message(message.message_id)
        matches = (lambda d: d == data) if isinstance(data, str) else data
        button = next(
            (b for b in current.flat_buttons if b.callback_data and matches(b.callback_data)),
            None,
        )
        assert button is not None, f"no such button on #{message.message_id}: " \
                                   f"{[b.callback_data for b in current.flat_buttons]}"
        seq = self.tg.current_seq
        handle = await self.chat.click(message, data=button.callback_data)
        self.taps.append(_Tap(seq, message.message_id, button.text, handle.query_id))
        shown = await self.chat.wait_for_message(until, timeout=TIMEOUT)
        await handle.wait_answer(timeout=TIMEOUT)
        return shown

    def render(self) -> str:
        items: list[tuple[float, str]] = []
        queries = {tap.query_id: tap for tap in self.taps}
        for tap in self.taps:
            items.append((tap.seq + 0.5, f"[tap #{tap.message_id}: {tap.label}]"))
        for request in self.tg.requests:
            if request.seq <= self.start or request.name != "answercallbackquery":
                continue
            if not request.ok or request.params.get("callback_query_id") not in queries:
                continue
            text = request.params.get("text")
            if text:
                kind = "alert" if request.params.get("show_alert") else "toast"
                items.append((request.seq, f"  ↳ {kind}: {text}"))
        last: dict[int, dict[str, Any]] = {}
        for event in self.tg.history(self.chat.chat_id):
            if event.seq <= self.start:
                continue
            rendered = self._event(event, last)
            if rendered:
                items.append((event.seq, rendered))
            if event.snapshot is not None and event.kind != "deleted":
                last[event.message_id] = event.snapshot
        items.sort(key=lambda item: item[0])
        return "\n".join(text for _seq, text in items) + "\n"

    def _event(self, event, last: dict[int, dict[str, Any]]) -> str | None:
        snapshot = event.snapshot
        number = f"#{event.message_id}"
        if event.kind == "deleted":
            return f"🗑 {number} deleted"
        if snapshot is None:
            return None
        text = _text(snapshot)
        if event.kind == "user_sent":
            shown = self.shown_as.get(event.message_id, text)
            return f"👤 {self.user_name} ({number}): {shown}"
        if event.kind == "service":
            return None
        if event.kind == "unbuttoned":
            return f"✏️ {number} buttons: removed"
        if event.kind == "edited" and text.strip() in self.skip_texts:
            return None
        document = snapshot.get("document")
        if document is not None:
            head = f"📎 {number} file {document.get('file_name')}"
            data = self._file(snapshot)
            if data is not None:
                head += f" ({len(data.decode('utf-8', 'replace').splitlines())} lines)"
            body = [f"   {line}" for line in text.splitlines()]
            return "\n".join([head, *body, *_buttons(_rows(snapshot))])
        if event.kind == "edited":
            before = last.get(event.message_id)
            if before is not None and _text(before) == text:
                buttons = _buttons(_rows(snapshot))
                return "\n".join([f"✏️ {number} buttons:" + ("" if buttons else " removed"),
                                  *buttons])
            head = f"✏️ {number} edited"
        else:
            head = f"🤖 {number}"
            if snapshot.get("reply_to_message"):
                head += f" (reply to #{snapshot['reply_to_message']['message_id']})"
        body = [f"   {line}" if line else "" for line in text.splitlines()]
        return "\n".join([head, *body, *_buttons(_rows(snapshot))])

    def _file(self, snapshot: dict[str, Any]) -> bytes | None:
        file_id = snapshot["document"].get("file_id")
        for stored in self.tg.documents(self.chat.chat_id):
            if stored.file_id == file_id:
                return stored.data
        return None


class Normalizer:
    """Replaces volatile values by placeholders: the known ones (a key, an e-mail, order ids,
    proxy IPs, ports, logins and passwords) by name, then dates and times by shape."""

    _DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?(?: UTC)?")

    def __init__(self) -> None:
        self._known: dict[str, str] = {}
        self._numbers: dict[str, str] = {}

    def known(self, value: str | None, placeholder: str) -> None:
        """``value`` anywhere in the text becomes ``placeholder``."""
        if value and value not in self._known:
            self._known[value] = placeholder

    def number(self, value: int | str | None, placeholder: str) -> None:
        """``value`` as a whole number (a port) becomes ``placeholder``."""
        if value is not None and str(value) not in self._numbers:
            self._numbers[str(value)] = placeholder

    def __call__(self, text: str) -> str:
        for value in sorted(self._known, key=len, reverse=True):
            text = text.replace(value, self._known[value])
        for value, placeholder in self._numbers.items():
            text = re.sub(rf"(?<![\d.$]){re.escape(value)}(?![\d.])", placeholder, text)
        return self._DATE.sub("<date>", text)
