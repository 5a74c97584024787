"""The tests' name for the Bot API emulator, which now ships as `playground.emulator`.

A thin re-export, so tests keep importing `tests.fake_telegram` (and its submodules) while
the playground and the tests share one implementation. The submodules are aliased rather
than copied so `isinstance` checks and module-level state stay the same objects.
"""

from __future__ import annotations

import sys

from playground import emulator
from playground.emulator import *  # noqa: F403
from playground.emulator import __all__ as __all__
from playground.emulator import client, errors, html, server, state, validation

for _module in (client, errors, html, server, state, validation):
    sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module

__doc__ = emulator.__doc__
