"""Domain errors of the storage layer: callers never see a driver's exception."""

from __future__ import annotations


class StorageError(Exception):
    """A write could not be done (say, the row it refers to is gone)."""


class DuplicateRequest(StorageError):
    """The quote has an open request already (one per quote)."""
