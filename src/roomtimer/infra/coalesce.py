"""Concurrent lookups of one key share a query, without ever reading older data.

A crowd joining one room (a stage screen's audience after a restart) asks for the same
share token thousands of times a second. Each key has at most one query running and
one waiting: a caller joins the waiting one, which starts only when the running one has
finished. Every query so starts after each of its callers arrived, so nobody gets a
state older than their request, and a crowd costs a few queries instead of thousands.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from roomtimer.infra.background import spawn

K = TypeVar("K")
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """Runs `load(key)` for concurrent callers of the same key as few times as is fresh."""

    def __init__(self, load: Callable[[K], Awaitable[V]]) -> None:
        self._load = load
        self._running: dict[K, asyncio.Future[V]] = {}
        self._waiting: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        """`load(key)`'s result, from a query that started after this call."""
        future = self._waiting.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieve)
            self._waiting[key] = future
            spawn(self._run(key, future))
        # A cancelled caller leaves the shared query to the others.
        return await asyncio.shield(future)

    async def _run(self, key: K, future: asyncio.Future[V]) -> None:
        running = self._running.get(key)
        if running is not None:
            await asyncio.wait([running])
        del self._waiting[key]  # from here on, new callers wait for the next query
        self._running[key] = future
        try:
            future.set_result(await self._load(key))
        except asyncio.CancelledError:  # shutting down: the callers see it cancelled
            future.cancel()
            raise
        except Exception as exc:  # handed to every caller
            future.set_exception(exc)
        finally:
            if self._running.get(key) is future:
                del self._running[key]


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # callers may all have gone: no "never retrieved" warning
