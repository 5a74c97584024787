"""Whose screen a message in a group is.

A menu opened in a group answers only the person who opened it (handlers/policies.py,
``"menu": "owner"``). The opener of the update being handled is set once per update
(`bot/screens.py`), and every message with buttons the bot sends to a group while it is
set is remembered as theirs — the handlers need not say so. A screen that belongs to the
whole group (a request waiting for an admin) is sent inside `shared_screen()`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Opener:
    user_id: int
    name: str


# Module level, as contextvars must be; each update's task has its own value.
current_opener: ContextVar[Opener | None] = ContextVar("screen_opener", default=None)


@contextlib.contextmanager
def shared_screen() -> Iterator[None]:
    """Messages sent inside belong to nobody: anyone's tap reaches their handlers (which
    still declare who may act, e.g. admins only)."""
    token = current_opener.set(None)
    try:
        yield
    finally:
        current_opener.reset(token)
