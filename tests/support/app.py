"""The real app in this process on a real port, and small clients of it."""

import asyncio
import contextlib
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from roomtimer.app import create_app
from roomtimer.clock import Clock
from roomtimer.config import Settings, load_settings
from roomtimer.infra import db, tokens

JWT_SECRET = "test-secret-for-roomtimer-suite-only"


def settings_for(database_url: str, **env: str) -> Settings:
    """Settings as `serve` would read them, with a known secret and generous rate limits.

    ROOMTIMER_FAST_PATH comes from the suite's environment: CI runs the Socket.IO tests
    again with it off, as spawned servers inherit it too.
    """
    environ = {
        "ROOMTIMER_FAST_PATH": os.environ.get("ROOMTIMER_FAST_PATH", "on"),
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "RATE_LIMIT_MAX_REQUESTS": "100000",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    return load_settings(environ)


def make_token(sub: str, ttl_s: int = 3600, secret: str = JWT_SECRET) -> str:
    """An admin token for `sub`."""
    return tokens.issue(secret, sub, ttl_s, int(time.time()))


@dataclass
class RunningApp:
    app: web.Application
    settings: Settings
    url: str

    def token(self, sub: str = "alice") -> str:
        """An admin token for `sub` signed with this app's secret."""
        return make_token(sub, secret=self.settings.jwt_secret)


@contextlib.asynccontextmanager
async def run_app(settings: Settings, clock: Clock | None = None) -> AsyncIterator[RunningApp]:
    """Migrates, then serves `create_app(settings)` on 127.0.0.1:<free port>."""
    await db.migrate(settings.database_url)
    app = create_app(settings, clock=clock)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield RunningApp(app, settings, f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


class Api:
    """A JSON client of the HTTP API with a default token."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        self.token = token
        self.session = aiohttp.ClientSession()

    async def __aenter__(self) -> "Api":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        token: str | None = "default",
        headers: dict[str, str] | None = None,
        data: bytes | str | None = None,
    ) -> Reply:
        """One request; `token=None` sends no Authorization header."""
        sent = dict(headers or {})
        bearer = self.token if token == "default" else token
        if bearer:
            sent.setdefault("Authorization", f"Bearer {bearer}")
        async with self.session.request(
            method, self.base_url + path, json=json, data=data, headers=sent
        ) as resp:
            raw = await resp.read()
            body = await resp.json(content_type=None) if raw else None
            return Reply(resp.status, body, resp.headers)

    async def room(self, **fields: Any) -> dict[str, Any]:
        """Creates a room (name defaults to "Main hall")."""
        reply = await self.call("POST", "/api/rooms", {"name": "Main hall", **fields})
        assert reply.status == 201, reply.body
        return reply.body  # type: ignore[no-any-return]

    async def timer(self, room_id: str, **fields: Any) -> dict[str, Any]:
        """Creates a timer (label "Keynote", 10 minutes by default)."""
        body = {"label": "Keynote", "durationMs": 600_000, **fields}
        reply = await self.call("POST", f"/api/rooms/{room_id}/timers", body)
        assert reply.status == 201, reply.body
        return reply.body  # type: ignore[no-any-return]

    async def command(self, timer_id: str, name: str, body: Any = None) -> Reply:
        """POST /api/timers/{id}/{name}."""
        return await self.call("POST", f"/api/timers/{timer_id}/{name}", body)


class Viewer:
    """A python-socketio client that records every event it receives, in order."""

    def __init__(self, url: str, transports: list[str] | None = None) -> None:
        self.url = url
        self.transports = transports
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()
        self._seen: dict[str, int] = defaultdict(int)

        @self.client.on("*")
        async def record(event: str, data: Any = None) -> None:
            self.received.append((event, data))
            async with self._changed:
                self._changed.notify_all()

    async def connect(self, auth: Any = None, headers: dict[str, str] | None = None) -> "Viewer":
        """Connects (default transports unless given), with extra handshake `headers`."""
        kwargs: dict[str, Any] = {"wait_timeout": 10}
        if self.transports:
            kwargs["transports"] = self.transports
        await self.client.connect(self.url, auth=auth, headers=headers or {}, **kwargs)
        return self

    async def join(self, share_token: str) -> Any:
        """join-room with an ack."""
        return await self.client.call("join-room", {"shareToken": share_token}, timeout=10)

    def events(self, name: str) -> list[Any]:
        """Payloads of `name` received so far."""
        return [data for event, data in self.received if event == name]

    async def next(self, name: str, timeout: float = 10.0) -> Any:
        """The next `name` event not yet returned by `next`, waiting for it."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.events(name)) > self._seen[name])
        self._seen[name] += 1
        return self.events(name)[self._seen[name] - 1]

    async def close(self) -> None:
        """Disconnects."""
        await self.client.disconnect()
        await self.client.shutdown()
