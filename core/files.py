"""The data directory and its files (database, encryption key) are for the bot's user only.

They hold the encrypted API keys and the key that decrypts them, so they are created
owner-only from the first byte (0700 directory, 0600 files) rather than chmod'ed
afterwards. Existing ones are never changed behind the operator's back: start-up only
warns when other users can read them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# Any permission for the group or for others.
_OTHERS = 0o077


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) unless it exists; the directory itself 0700."""
    if path.is_dir():
        return
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    # mkdir's mode is filtered by the umask; this states it exactly.
    os.chmod(path, PRIVATE_DIR_MODE)


def create_private_file(path: Path) -> bool:
    """Create an empty 0600 file unless one exists; True if it was created.

    SQLite opens an empty file as a new database and gives its -wal and -shm files the
    database file's mode, so pre-creating the database this way covers all three.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def exposed(paths: Iterable[Path]) -> list[tuple[Path, int]]:
    """Those of ``paths`` that exist and that other users may access, with their modes."""
    found = []
    for path in paths:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & _OTHERS:
            found.append((path, mode))
    return found


def warn_if_exposed(paths: Iterable[Path]) -> bool:
    """Log one warning naming every path other users can access; True if there were any."""
    found = exposed(paths)
    if found:
        listed = ", ".join(f"{path} (mode {mode:04o})" for path, mode in found)
        log.warning(
            "readable by other users: %s. They hold the encrypted API keys or the key to "
            "them: make them owner-only (chmod 700 on the directory, 600 on the files).",
            listed,
        )
    return bool(found)
