"""Tasks the app starts outside any update (start-up recovery), owned so a stop awaits them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(self._run(work, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _run(work: Coroutine[Any, Any, Any], what: str) -> Any:
        try:
            return await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task failed: %s", what)
            return None

    async def wait(self) -> None:
        """Until every task running now has ended (tests use it to wait for recovery)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def close(self, grace: float) -> None:
        """Give running tasks ``grace`` seconds, then cancel what is left."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
