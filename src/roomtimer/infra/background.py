"""Background tasks: started without being lost, stopped even when a cancel is lost.

`spawn` keeps a strong reference to a fire-and-forget task until it ends (the event loop
keeps only a weak one, so an unreferenced task can be collected mid-flight).

redis-py (5.2 to 8.1, measured) wraps each read in `asyncio.timeout(socket_timeout)`; on
Python 3.11 a `cancel()` that lands during such a read is sometimes lost: the command
finishes, the task carries on in its loop, and whoever awaits it waits for ever. A
cancelled loop of `await redis.time()` kept running about once in 15 tries here. So a
stop is asked for again until the task ends, and never waits longer than a bound.
"""

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from loguru import logger

RETRY_S = 0.05

T = TypeVar("T")

_running: set[asyncio.Future[Any]] = set()


def spawn(work: Awaitable[T]) -> asyncio.Future[T]:
    """Runs `work` in the background, referenced until it ends."""
    future = asyncio.ensure_future(work)
    _running.add(future)
    future.add_done_callback(_running.discard)
    return future


async def stop_task(task: asyncio.Task[None] | None, timeout_s: float = 3.0) -> bool:
    """Cancels task until it ends, for at most timeout_s; True when it ended."""
    if task is None:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait([task], timeout=min(RETRY_S, max(0.0, deadline - loop.time())))
    if not task.done():
        logger.warning("background task {} would not stop within {} s", task.get_name(), timeout_s)
        return False
    if not task.cancelled() and task.exception() is not None:
        logger.warning("background task {} ended with {!r}", task.get_name(), task.exception())
    return True


async def close_quietly(client: Any) -> None:
    """Closes a Redis client or pubsub that may already be closed or broken."""
    if client is not None:
        try:
            await client.aclose()
        except Exception:  # noqa: BLE001 - it is being dropped anyway
            pass


async def finish_task(task: asyncio.Task[None] | None, timeout_s: float) -> None:
    """Waits for `task` to end by itself (a pass in progress completes), then cancels it.

    Not cancelled mid-query: the database driver's thread would answer a closed loop.
    """
    if task is None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout_s)
    except TimeoutError:
        await stop_task(task)
