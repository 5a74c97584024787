"""The one error handler: domain and API errors become short messages, never tracebacks."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import ErrorEvent

from bot.proxy_api import ProxyApiError
from bot.services.errors import BotError, NotLinked, StaleAction
from bot.ui import show
from bot.views.errors import error_text
from keyboards.common import main_menu, only_home

log = logging.getLogger(__name__)

router = Router(name=__name__)


@router.errors()
async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    exc = event.exception
    if isinstance(exc, TelegramBadRequest) and "not modified" in exc.message:
        return True
    if isinstance(exc, BotError | ProxyApiError):
        log.info("handled %s: %s", type(exc).__name__, getattr(exc, "code", ""))
    else:
        log.error("unhandled error in update %s", event.update.update_id, exc_info=exc)
    if isinstance(exc, NotLinked | StaleAction):
        markup = main_menu(linked=isinstance(exc, StaleAction))
    else:
        markup = only_home()
    text = error_text(exc)
    update = event.update
    try:
        if update.callback_query is not None:
            await show(update.callback_query, text, markup)
        elif update.message is not None:
            await update.message.answer(text, reply_markup=markup)
    except Exception:
        log.exception("could not deliver an error message")
    return True
