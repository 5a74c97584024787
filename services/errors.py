"""Domain errors of the bot itself; the error handler turns them into user messages."""

from __future__ import annotations


class BotError(Exception):
    """Something the user can act on; never a crash."""


class NotLinked(BotError):
    """The chat has no API key linked yet."""


class GroupRefusal(BotError):
    """A tap refused in a group. The screen belongs to someone else (or to everyone), so it
    stays as it is: the refusal is the tapper's alert instead."""


class PrivateChatOnly(GroupRefusal):
    """The action carries a secret (a key) and is refused outside a private chat."""


class StaleAction(BotError):
    """A button refers to something that no longer exists or belongs to someone else."""


class OutOfDate(BotError):
    """A tap on a screen its flow has moved past (handlers/flow_screens.py): the tap is
    answered with an alert and nothing changes."""


class AlreadyProcessing(BotError):
    """The same money-moving request is already in flight."""


class AdminsOnly(GroupRefusal):
    """Only the group's current administrators may spend its money."""


class ManagersOnly(GroupRefusal):
    """Only the group's current administrators may change its settings."""


class CredentialsAdminsOnly(GroupRefusal):
    """The group shows credentials to its administrators only."""


class CredentialsNeedPrivateChat(GroupRefusal):
    """The admin never opened a private chat with the bot, so credentials cannot go there."""


class NotYourMenu(GroupRefusal):
    """A tap on a screen someone else opened in the group."""

    def __init__(self, owner_name: str) -> None:
        super().__init__(owner_name)
        self.owner_name = owner_name


class RelinkNeeded(GroupRefusal):
    """The admin who linked the group's key is no longer one: an admin must /link again."""


class AdminCheckFailed(GroupRefusal):
    """Telegram could not say whether the user is an administrator: nothing is spent."""
