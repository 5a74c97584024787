"""The tasks handling updates right now, tracked by our own middleware.

aiogram's polling runs every update in a task of its own and keeps no public record of
them; the app needs one to stop gracefully (wait for running handlers, bounded) and the
test harness needs one to simulate a crash (cancel them mid-flight).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject


class UpdateTasks(BaseMiddleware):
    """Outer middleware on `dispatcher.update`: records the task that handles each update.

    A task is tracked until it is done, not until this middleware returns: the error
    handler runs after it (aiogram's errors middleware is outside every other one), and
    a graceful stop must wait for the error message too.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        task = asyncio.current_task()
        if task is not None and task not in self._tasks:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await handler(event, data)

    def running(self) -> set[asyncio.Task[Any]]:
        return set(self._tasks)

    def cancel_all(self) -> None:
        """Cancel every running handler where it stands, as a crash would stop it."""
        for task in self._tasks:
            task.cancel()

    async def wait(self, grace: float) -> int:
        """Wait up to ``grace`` seconds for running handlers; returns how many are left.

        The caller's own task is left out: if updates were handled inline (not one task
        each), the task stopping the app would otherwise wait for itself.
        """
        pending = self.running() - {asyncio.current_task()}
        if not pending:
            return 0
        _, left = await asyncio.wait(pending, timeout=grace)
        return len(left)
