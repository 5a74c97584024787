"""Try the bot without a token: the sandbox API, a Bot API emulator and a chat page in a browser.

`playground.emulator` is the Telegram Bot API emulator the tests use too; it imports none of
the bot's packages, so it can stand in front of the real bot unchanged.
"""
