"""API keys at rest: encrypted with MultiFernet so the key can be rotated."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.files import PRIVATE_FILE_MODE, make_private_dir, warn_if_exposed

log = logging.getLogger(__name__)

KEY_FILE_NAME = "encryption.key"


class KeyVaultError(Exception):
    pass


class KeyVault:
    """Encrypts and decrypts chat API keys; the first key encrypts, all keys decrypt."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise KeyVaultError("no encryption key")
        try:
            fernets = [Fernet(k.strip().encode()) for k in keys]
        except (ValueError, TypeError):
            raise KeyVaultError(
                "ENCRYPTION_KEY is invalid: expected comma-separated Fernet keys "
                "(32 url-safe base64 bytes each)"
            ) from None
        self._fernet = MultiFernet(fernets)
        self.key_count = len(fernets)

    def __repr__(self) -> str:
        return "KeyVault(<redacted>)"

    def encrypt(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken:
            raise KeyVaultError("stored key cannot be decrypted with ENCRYPTION_KEY") from None

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the newest key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise KeyVaultError("stored key cannot be decrypted with ENCRYPTION_KEY") from None


def load_vault(setting: str | None, key_file: Path) -> KeyVault:
    """Use ENCRYPTION_KEY, else the key file (ENCRYPTION_KEY_FILE), creating it on first start.

    The file may hold several keys, one per line or comma-separated, newest first.
    """
    if setting:
        return KeyVault([k for k in setting.split(",") if k.strip()])
    if key_file.exists():
        warn_if_exposed([key_file])
        keys = key_file.read_text().replace(",", "\n").split()
        return KeyVault(keys)
    make_private_dir(key_file.parent)
    key = Fernet.generate_key()
    # Created with owner-only permissions from the first byte, not chmod'ed afterwards.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    log.warning(
        "ENCRYPTION_KEY is not set: generated a new key in %s (owner-only). "
        "Back it up: without it the linked API keys cannot be read.",
        key_file,
    )
    return KeyVault([key.decode()])
