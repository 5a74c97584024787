"""The error handler's log, end to end: where an error happened, never what was sent."""

from __future__ import annotations

import logging
import traceback

from services.account import AccountService


async def test_error_log_names_chat_update_and_handler_but_never_the_key(
    harness, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)

    async def broken_link(self, chat_id: int, user_id: int | None, api_key: str):
        raise RuntimeError(f"storage exploded while saving {api_key!r}")

    monkeypatch.setattr(AccountService, "link", broken_link)
    account = harness.new_account()
    chat = await harness.private_chat()
    await chat.send(f"here it is {account.api_key}")
    await chat.wait_for_message("Something went wrong")

    errors = [
        r for r in caplog.records if r.name == "handlers.errors" and r.levelno >= logging.ERROR
    ]
    assert len(errors) == 1
    line = errors[0].getMessage()
    assert f"chat {chat.chat_id}" in line
    assert "message update" in line
    assert "handler handlers.link.key_out_of_the_blue" in line
    # The traceback is there, with the key blanked out of the exception's text.
    assert "RuntimeError: storage exploded while saving '[redacted]'" in line
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        assert account.api_key not in text
        assert harness.settings.bot_token not in text


