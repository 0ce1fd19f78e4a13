"""A real webhook receiver: an aiohttp server on 127.0.0.1 that records every request."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class Received:
    """One request as the receiver saw it, and when (epoch ms, on arrival)."""

    path: str
    headers: dict[str, str]
    body: bytes
    at_ms: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return self.headers["X-Roomtimer-Event"]

    @property
    def delivery(self) -> str:
        return self.headers["X-Roomtimer-Delivery"]


# How the receiver answers a request: an HTTP status (it may sleep first).
Behaviour = Callable[[Received], Awaitable[int]]


async def always_ok(_: Received) -> int:
    return 200


def signature_ok(secret: str, received: Received) -> bool:
    """The documented recipe: HMAC-SHA256 of "{timestamp}.{raw body}", hex, `sha256=` prefix."""
    timestamp = received.headers["X-Roomtimer-Timestamp"]
    message = timestamp.encode() + b"." + received.body
    expected = "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers["X-Roomtimer-Signature"])


class Receiver:
    """Records requests; `behaviour` decides each answer (200 by default)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.behaviour: Behaviour = always_ok
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(
            request.path, dict(request.headers), await request.read(), time.time_ns() // 1_000_000
        )
        self.requests.append(received)
        async with self._arrived:
            self._arrived.notify_all()
        return web.Response(status=await self.behaviour(received))

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def of(self, event: str | None = None, path: str | None = None) -> list[Received]:
        """Requests so far, of one event and/or one path."""
        return [
            r
            for r in self.requests
            if (event is None or r.event == event) and (path is None or r.path == path)
        ]

    async def wait_for(
        self, count: int, event: str | None = None, path: str | None = None, timeout: float = 10
    ) -> list[Received]:
        """Waits until `count` such requests arrived; returns them."""
        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.of(event, path)) >= count)
        return self.of(event, path)


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    """A started receiver, closed on exit."""
    receiver = await Receiver().start()
    try:
        yield receiver
    finally:
        await receiver.close()
