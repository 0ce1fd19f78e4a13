"""A scripted Socket.IO peer that serves the viewer page and says exactly what a test tells it.

For what the real server cannot be made to say on cue: out-of-order versions, and the
contract's payloads (phases' thresholds, room message, blackout) byte for byte. The page
and its static files are served by roomtimer's own pages controller.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import socketio
from aiohttp import web

from roomtimer import keys
from roomtimer.config import Settings
from roomtimer.controllers import pages
from roomtimer.middleware.security import add_security_headers

TOKEN = "scripted-share-token"
ROOM = {"id": "room-1", "name": "Scripted hall", "description": ""}


def now_ms() -> int:
    """The peer's clock (the test machine's)."""
    return int(time.time() * 1000)


def timer(**fields: Any) -> dict[str, Any]:
    """A contract Timer (idle, 10 minutes, version 1) with `fields` over it."""
    base = {
        "id": "t-1",
        "roomId": ROOM["id"],
        "label": "Keynote",
        "durationMs": 600_000,
        "status": "idle",
        "remainingMs": 600_000,
        "endsAt": None,
        "finishedAt": None,
        "warnAtMs": None,
        "dangerAtMs": None,
        "position": 0,
        "version": 1,
        "createdAt": "2026-01-01T10:00:00.000Z",
        "updatedAt": "2026-01-01T10:00:00.000Z",
    }
    return {**base, **fields}


@dataclass
class ScriptedPeer:
    """The room's state as the peer tells it, and a way to emit to every joined page."""

    sio: socketio.AsyncServer
    url: str
    timers: list[dict[str, Any]] = field(default_factory=list)
    message: dict[str, Any] | None = None

    def state(self) -> dict[str, Any]:
        """The RoomState a joining page gets."""
        state = {"room": ROOM, "timers": self.timers, "userCount": 1, "serverTime": now_ms()}
        if self.message is not None:
            state["message"] = self.message
        return state

    async def emit(self, event: str, payload: dict[str, Any]) -> None:
        """Sends `event` to every page in the room, stamped with serverTime."""
        await self.sio.emit(event, {**payload, "serverTime": now_ms()}, room=ROOM["id"])


@contextlib.asynccontextmanager
async def scripted_peer() -> AsyncIterator[ScriptedPeer]:
    """The peer on 127.0.0.1:<free port>, `/v/scripted-share-token` its one room."""
    sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
    app = web.Application()
    sio.attach(app)

    async def find(*, share_token: str, client: str) -> Any:
        return SimpleNamespace(name=ROOM["name"]) if share_token == TOKEN else None

    app[keys.settings] = Settings()  # the page reads TRUSTED_PROXIES (none here)
    app[keys.share_tokens] = SimpleNamespace(find=find)  # type: ignore[assignment]
    app.router.add_get("/v/{shareToken}", pages.viewer)
    app.router.add_get("/static/{version}/{path:.+}", pages.static)
    app.on_response_prepare.append(add_security_headers)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    peer = ScriptedPeer(sio, f"http://127.0.0.1:{runner.addresses[0][1]}")

    @sio.on("join-room")
    async def join(sid: str, payload: Any) -> dict[str, Any]:
        await sio.enter_room(sid, ROOM["id"])
        await sio.emit("room-state", peer.state(), to=sid)
        return {"ok": True, "roomId": ROOM["id"]}

    @sio.on("request-sync")
    async def sync(sid: str, payload: Any) -> dict[str, Any]:
        await sio.emit("room-state", peer.state(), to=sid)
        return {"ok": True}

    @sio.on("ping")
    async def ping(sid: str, *_: Any) -> dict[str, int]:
        return {"serverTime": now_ms()}

    try:
        yield peer
    finally:
        await sio.shutdown()
        await runner.cleanup()
