"""A fake Telegram Bot API server and test client for end-to-end tests of the real bot.

Typical use::

    async with FakeTelegram() as tg:
        bot = tg.make_bot()              # or Bot(..., session=AiohttpSession(api=tg.api_server))
        ...start the app's dispatcher polling against it...
        chat = tg.user(1001, "Ann").private_chat()
        await chat.send("/start")
        menu = await chat.wait_for_message("Welcome")
        answer = await (await chat.click(menu, "Balance"))

Groups emulate privacy mode (on by default), member statuses and admin rights, and the
upgrade of a basic group to a supergroup; see README.md.

Not emulated: Markdown/MarkdownV2 parsing (text is stored raw), automatic url/mention
entities, inline-mode messages, media groups, webhooks beyond set/delete.
"""

from .client import (
    Button,
    CallbackHandle,
    ChatHandle,
    FakeGroup,
    FakeTelegram,
    FakeUser,
    TgMessage,
    tiny_png,
)
from .errors import ApiError
from .html import EntityParseError, parse_html, render_html
from .server import (
    ADMIN_RIGHTS,
    DEFAULT_TOKEN,
    MEMBER_PERMISSIONS,
    SERVICE_FIELDS,
    FakeBotApi,
    Upload,
)
from .state import (
    AnsweredCallback,
    CallbackRecord,
    ChatEvent,
    ChatRecord,
    FakeClock,
    MessageMeta,
    RecordedRequest,
    StoredFile,
)

__all__ = [
    "ADMIN_RIGHTS",
    "DEFAULT_TOKEN",
    "MEMBER_PERMISSIONS",
    "SERVICE_FIELDS",
    "AnsweredCallback",
    "ApiError",
    "Button",
    "CallbackHandle",
    "CallbackRecord",
    "ChatEvent",
    "ChatHandle",
    "ChatRecord",
    "EntityParseError",
    "FakeBotApi",
    "FakeClock",
    "FakeGroup",
    "FakeTelegram",
    "FakeUser",
    "MessageMeta",
    "RecordedRequest",
    "StoredFile",
    "TgMessage",
    "Upload",
    "parse_html",
    "render_html",
    "tiny_png",
]
