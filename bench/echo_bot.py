"""The floor: a bare aiogram bot doing the same Telegram work per update as the bot.

A message is answered with a message carrying one inline button; a tap is answered
(`answerCallbackQuery`) and its message edited, as the bot's screens are. No database,
no middlewares, aiogram's default polling. Run as ``python -m bench.echo_bot`` with the
bot's environment (BOT_TOKEN, TELEGRAM_API_URL).
"""

from __future__ import annotations

import asyncio
import itertools
import os

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

_edits = itertools.count()


def _markup() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="again", callback_data="again")]]
    )


def build() -> Dispatcher:
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…", reply_markup=_markup())

    @router.callback_query()
    async def tapped(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            # A new text each time: Telegram refuses an edit that changes nothing.
            await query.message.edit_text(f"echo {next(_edits)}", reply_markup=_markup())

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session,
              default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    await build().start_polling(bot, polling_timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
