"""The languages the bot speaks; English is the source language."""

from __future__ import annotations

DEFAULT_LOCALE = "en"
LANGUAGES: dict[str, str] = {"en": "English", "ru": "Русский"}


def pick_language(code: str | None) -> str:
    """The bot's language for a Telegram ``language_code`` (en-US → en; unknown → English)."""
    if not code:
        return DEFAULT_LOCALE
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LOCALE
