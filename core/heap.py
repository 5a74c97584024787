"""The garbage collector set for a long-running bot.

What start-up builds (aiogram's and pydantic's types and schemas, translations, the app)
lives as long as the process, yet every full collection walked all of it again: ~240,000
objects, a third of a second each. Timed with `gc.callbacks` under the bench's wizard load
(200 users), the collector took 22% of the bot's CPU; with start-up frozen 13%, and
collected less often as well 8%. Garbage from handling updates is still
collected: reference counting frees almost all of it at once, the collector only finds
cycles, a little later than with Python's defaults.
"""

from __future__ import annotations

import gc

# Python's defaults are (700, 10, 10): a young collection every 700 container allocations,
# hundreds of times a second under load.
THRESHOLDS = (10_000, 20, 20)


def settle_after_start() -> None:
    """Call once start-up has built everything long-lived, before serving updates."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
