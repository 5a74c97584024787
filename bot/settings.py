"""Settings read from the environment and `.env`; the names are a fixed contract."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.durations import parse_duration, parse_durations
from core.security import KEY_FILE_NAME
from services.reminders import DEFAULT_OFFSETS, InvalidOffsets, normalize_offsets

__all__ = ["Settings", "SettingsError", "load_settings", "parse_duration"]

_TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{10,}$")
# Every sync reads all of a chat's orders: more often than this only spends the key's
# rate limit that people tapping in the chat need.
MIN_SYNC_INTERVAL = timedelta(minutes=1)
# Each read of a chat's deposits is a request on the chat's key (60 a minute in all).
MIN_DEPOSIT_POLL_INTERVAL = timedelta(seconds=5)
# A member's request waits at least this long for an admin (the expiry job runs every minute).
MIN_GROUP_REQUEST_TTL = timedelta(minutes=1)


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str = Field(alias="BOT_TOKEN", repr=False)
    telegram_api_url: str = Field(default="https://api.telegram.org", alias="TELEGRAM_API_URL")
    proxy_api_url: str = Field(
        default="https://api.1001proxy.io/api/v1", alias="PROXY_API_URL"
    )
    database_path: Path = Field(default=Path("data/bot.sqlite3"), alias="DATABASE_PATH")
    encryption_key: str | None = Field(default=None, alias="ENCRYPTION_KEY", repr=False)
    # Where the key lives when ENCRYPTION_KEY is unset; default: beside the database.
    encryption_key_file: Path | None = Field(default=None, alias="ENCRYPTION_KEY_FILE")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    # Flood control: a person gets `THROTTLE_USER_LIMIT` updates per `THROTTLE_WINDOW`
    # (with bursts of that size), a group chat all its members together `THROTTLE_CHAT_LIMIT`.
    throttle_user_limit: int = Field(default=5, ge=1, alias="THROTTLE_USER_LIMIT")
    throttle_chat_limit: int = Field(default=20, ge=1, alias="THROTTLE_CHAT_LIMIT")
    throttle_window: timedelta = Field(default=timedelta(seconds=1), alias="THROTTLE_WINDOW")
    # Every key check is a GET /account with a key nobody vouched for yet.
    key_check_limit: int = Field(default=5, ge=1, alias="KEY_CHECK_LIMIT")
    key_check_window: timedelta = Field(default=timedelta(minutes=1), alias="KEY_CHECK_WINDOW")
    max_concurrent_updates: int = Field(default=100, ge=1, alias="MAX_CONCURRENT_UPDATES")
    # Expiry reminders: how long before an order expires a chat is reminded, largest first
    # (a chat may choose its own in /settings). NoDecode: the value is "3d,1d,3h", not JSON.
    reminder_offsets: Annotated[tuple[timedelta, ...], NoDecode] = Field(
        default=DEFAULT_OFFSETS, alias="REMINDER_OFFSETS"
    )
    # How often each chat's orders are read from the API (orders bought or extended on the
    # website get their reminders); the chats are spread over the interval.
    order_sync_interval: timedelta = Field(
        default=timedelta(minutes=10), alias="ORDER_SYNC_INTERVAL"
    )
    # How often a chat's deposits are read for the hour after a deposit address was shown
    # (otherwise at the ORDER_SYNC_INTERVAL pace), so an arrival is announced soon.
    deposit_poll_interval: timedelta = Field(
        default=timedelta(seconds=20), alias="DEPOSIT_POLL_INTERVAL"
    )
    # How long a group member's purchase request waits for an admin before it expires
    # (its message says so and its quote is dropped).
    group_request_ttl: timedelta = Field(
        default=timedelta(hours=24), alias="GROUP_REQUEST_TTL"
    )
    # A button tap whose work takes longer than this shows "⏳ Working…"; faster ones only
    # stop the tap's spinner (paid actions show it at once).
    working_delay: timedelta = Field(
        default=timedelta(milliseconds=500), alias="WORKING_DELAY"
    )

    # A support chat or page; the main menu links it (no button when unset).
    support_url: str | None = Field(default=None, alias="SUPPORT_URL")

    # Webhook mode when WEBHOOK_URL is set (the public https URL Telegram posts to); polling
    # otherwise. The bot listens on WEBHOOK_HOST:WEBHOOK_PORT behind a reverse proxy.
    webhook_url: str | None = Field(default=None, alias="WEBHOOK_URL")
    webhook_secret: str | None = Field(default=None, alias="WEBHOOK_SECRET", repr=False)
    webhook_host: str = Field(default="127.0.0.1", alias="WEBHOOK_HOST")
    webhook_port: int = Field(default=8080, ge=1, le=65535, alias="WEBHOOK_PORT")
    # Polling mode: /healthz and /metrics on this port when set (webhook mode serves them
    # beside the webhook).
    metrics_port: int | None = Field(default=None, ge=1, le=65535, alias="METRICS_PORT")
    log_format: str = Field(default="text", alias="LOG_FORMAT")

    @property
    def webhook_mode(self) -> bool:
        return self.webhook_url is not None

    @property
    def key_file(self) -> Path:
        if self.encryption_key_file is not None:
            return self.encryption_key_file
        return self.database_path.parent / KEY_FILE_NAME

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        value = value.strip()
        if not _TOKEN_RE.match(value):
            raise ValueError("expected the form 123456789:AAE... from @BotFather")
        return value

    @field_validator("telegram_api_url", "proxy_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("support_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        if not re.match(r"^https://[^\s/]+\.[^\s/]+(/\S*)?$", value):
            raise ValueError("expected an https:// URL, e.g. https://t.me/your_support")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in logging.getLevelNamesMapping():
            raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value

    @field_validator(
        "throttle_window",
        "key_check_window",
        "order_sync_interval",
        "deposit_poll_interval",
        "group_request_ttl",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("working_delay", mode="before")
    @classmethod
    def _working_delay(cls, value: object) -> object:
        # 0 (any unit) shows "⏳ Working…" on every tap at once, as before there was a delay.
        if isinstance(value, str) and value.strip().rstrip("msh").strip() in ("0", "0.0"):
            return timedelta(0)
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("order_sync_interval")
    @classmethod
    def _sync_interval(cls, value: timedelta) -> timedelta:
        if value < MIN_SYNC_INTERVAL:
            raise ValueError("expected at least 1m")
        return value

    @field_validator("deposit_poll_interval")
    @classmethod
    def _deposit_interval(cls, value: timedelta) -> timedelta:
        if value < MIN_DEPOSIT_POLL_INTERVAL:
            raise ValueError("expected at least 5s")
        return value

    @field_validator("group_request_ttl")
    @classmethod
    def _request_ttl(cls, value: timedelta) -> timedelta:
        if value < MIN_GROUP_REQUEST_TTL:
            raise ValueError("expected at least 1m")
        return value

    @field_validator("reminder_offsets", mode="before")
    @classmethod
    def _offsets(cls, value: object) -> object:
        offsets = parse_durations(value) if isinstance(value, str) else value
        if not isinstance(offsets, tuple | list):
            return offsets  # pydantic's own type error names it
        try:
            # The same rules as a chat's own choice in /settings, so the default is one too.
            return normalize_offsets(offsets)
        except InvalidOffsets as exc:
            raise ValueError(str(exc)) from None

    @field_validator("webhook_url", "webhook_secret", "metrics_port", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an https:// URL")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        # Telegram's own rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.strip()):
            raise ValueError("expected 1-256 characters: letters, digits, _ and -")
        return value.strip() if value is not None else None

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("text", "json"):
            raise ValueError("expected text or json")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        # Without a secret anyone who learns the URL can post updates as any user.
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        return self

    @field_validator("encryption_key")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


def load_settings(**overrides: object) -> Settings:
    """Build settings or raise SettingsError naming the first bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        field = Settings.model_fields.get(name)
        if field is not None and field.alias:
            name = field.alias
        if error["type"] == "missing":
            raise SettingsError(f"{name} is not set (see .env.example)") from None
        reason = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name} is invalid: {reason}") from None
