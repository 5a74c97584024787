"""How handlers are put together: routers built by factories, policies declared as flags,
running handlers tracked by the app's own middleware."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Dispatcher, Router
from aiogram.types import Chat, Message, TelegramObject

import handlers
from bot.update_tasks import UpdateTasks
from handlers import build_root_router
from handlers.policies import PolicyMiddleware, check_declarations
from services.errors import PrivateChatOnly


def _handler_modules() -> list[Any]:
    return [
        importlib.import_module(f"handlers.{info.name}")
        for info in pkgutil.iter_modules(handlers.__path__)
    ]


# -- routers ------------------------------------------------------------------------------


def test_no_handlers_module_holds_a_router() -> None:
    held = [
        f"{module.__name__}.{name}"
        for module in _handler_modules()
        for name, value in vars(module).items()
        if isinstance(value, Router)
    ]
    assert not held, f"routers must be built by setup(), not kept at module level: {held}"


def test_the_router_tree_can_be_built_for_several_apps() -> None:
    first, second = Dispatcher(), Dispatcher()
    first.include_router(build_root_router())
    second.include_router(build_root_router())  # would raise if a router were reused
    names = [r.name for r in second.sub_routers[0].sub_routers]
    assert names[0] == "handlers.errors" and names[-1] == "handlers.fallback"


# -- policies -----------------------------------------------------------------------------


def _message(chat_type: str) -> Message:
    return Message(
        message_id=1,
        date=datetime.now(UTC),
        chat=Chat(id=-100 if chat_type != "private" else 1, type=chat_type),
        text="/buy",
    )


class _Handler:
    """Stands in for aiogram's HandlerObject: what `get_flag` reads."""

    def __init__(self, flags: dict[str, Any]) -> None:
        self.flags = flags


async def _run(flags: dict[str, Any], chat_type: str | None) -> bool:
    ran = False

    async def handler(event: TelegramObject, data: dict[str, Any]) -> None:
        nonlocal ran
        ran = True

    event = _message(chat_type or "private")
    data = {
        "handler": _Handler(flags),
        "event_chat": event.chat if chat_type else None,
    }
    await PolicyMiddleware()(handler, event, data)
    return ran


async def test_a_private_handler_runs_in_a_private_chat() -> None:
    assert await _run({"chat": "private"}, "private")


@pytest.mark.parametrize("chat_type", ["group", "supergroup", None])
async def test_a_private_handler_is_refused_elsewhere(chat_type: str | None) -> None:
    with pytest.raises(PrivateChatOnly):
        await _run({"chat": "private"}, chat_type)


async def test_a_handler_without_policy_flags_runs_anywhere() -> None:
    assert await _run({"callback_answer": {"pre": False}}, "group")


def test_an_unknown_policy_value_stops_the_app_at_start() -> None:
    router = Router()

    async def handler(message: Message) -> None: ...

    router.message.register(handler, flags={"chat": "privat"})
    with pytest.raises(ValueError, match="privat"):
        check_declarations(router)


def test_every_declared_policy_of_the_bot_is_known() -> None:
    check_declarations(build_root_router())


# -- running handlers ---------------------------------------------------------------------


async def _tracked(tracker: UpdateTasks, release: asyncio.Event) -> None:
    async def handler(event: TelegramObject, data: dict[str, Any]) -> None:
        await release.wait()

    await tracker(handler, _message("private"), {})


async def test_running_handlers_are_tracked_until_their_task_ends() -> None:
    tracker = UpdateTasks()
    release = asyncio.Event()
    task = asyncio.create_task(_tracked(tracker, release))
    await asyncio.sleep(0)
    assert tracker.running() == {task}
    release.set()
    assert await tracker.wait(grace=5) == 0
    assert not tracker.running()


async def test_a_stop_waits_a_bounded_time_and_a_crash_cancels() -> None:
    tracker = UpdateTasks()
    task = asyncio.create_task(_tracked(tracker, asyncio.Event()))
    await asyncio.sleep(0)
    assert await tracker.wait(grace=0.01) == 1  # still running: the stop goes on
    tracker.cancel_all()
    assert await tracker.wait(grace=5) == 0
    assert task.cancelled()


def test_nothing_in_the_router_tree_runs_in_a_thread() -> None:
    # aiogram runs a plain (non-async) filter or handler through asyncio.to_thread: a
    # thread hop per filter per update. build_root_router makes the filters run inline.
    plain = []

    def walk(router: Router) -> None:
        for name, observer in router.observers.items():
            for item in list(observer._handler.filters or ()):
                if not item.awaitable:
                    plain.append((router.name, name, item.callback))
            for handler in observer.handlers:
                for item in [handler, *(handler.filters or ())]:
                    if not item.awaitable:
                        plain.append((router.name, name, item.callback))
        for sub in router.sub_routers:
            walk(sub)

    root = build_root_router()
    walk(root)
    assert plain == []


async def test_an_inlined_magic_filter_still_filters() -> None:
    from aiogram import F

    from handlers import run_filters_inline

    router = Router()
    seen: list[str] = []

    async def on_text(message: Message) -> None:
        seen.append(message.text or "")

    router.message.register(on_text, F.text == "yes")
    run_filters_inline(router)
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    for text in ("no", "yes"):
        message = Message(message_id=1, date=datetime.now(UTC), text=text,
                          chat=Chat(id=1, type="private"))
        await dispatcher.propagate_event("message", message)
    assert seen == ["yes"]


async def test_a_tap_is_offered_only_to_routers_that_may_take_it() -> None:
    # The root narrows a tap's routers by its prefix (handlers.TapRouter); every router
    # left out would have turned the tap down anyway, and the order is the tree's.
    from aiogram.types import CallbackQuery, User

    root = build_root_router()
    heads = set()
    for router in root.sub_routers:
        for handler in router.callback_query.handlers:
            for item in handler.filters or ():
                factory = getattr(item.callback, "callback_data", None)
                if factory is not None:
                    heads.add(factory.__prefix__)
    assert {"m", "b", "x"} <= heads
    samples = [f"{head}:1:2" for head in heads] + [f"{head}" for head in heads]
    samples += ["", "zz:1", "forged", ":", "m", "m:"]
    for data in samples:
        query = CallbackQuery(id="1", from_user=User(id=1, is_bot=False, first_name="U"),
                              chat_instance="c", data=data)
        offered = root._routers_for(data)
        assert list(offered) == [r for r in root.sub_routers if r in offered]  # tree order
        for router in root.sub_routers:
            if router in offered:
                continue
            taps = router.callback_query
            if not taps.handlers and not router.sub_routers:
                continue  # nothing there to take a tap
            accepted, _ = await taps.check_root_filters(query)
            assert not accepted, (data, router.name)
    # The fallback (takes any tap) is offered every tap, last.
    assert all(root._routers_for(d)[-1].name == "handlers.fallback" for d in samples)
