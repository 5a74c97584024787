"""Domain errors of the bot itself; the error handler turns them into user messages."""

from __future__ import annotations


class BotError(Exception):
    """Something the user can act on; never a crash."""


class NotLinked(BotError):
    """The chat has no API key linked yet."""


class PrivateChatOnly(BotError):
    """The action carries a secret or spends money and is refused outside a private chat."""


class StaleAction(BotError):
    """A button refers to something that no longer exists or belongs to someone else."""


class AlreadyProcessing(BotError):
    """The same money-moving request is already in flight."""
