"""The Socket.IO server: python-socketio's AsyncServer on the fast path or the stock one.

The fast path (`manager`, `lean_socket`, `transport`) serves when ROOMTIMER_FAST_PATH is
on and `compat` finds every library internal it uses; otherwise python-socketio's
AsyncManager and engineio's own sockets serve, and the start-up line says why.
"""

import asyncio
import contextvars
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import socketio
from loguru import logger

from roomtimer.config import Settings
from roomtimer.realtime import codec as orjson_json
from roomtimer.realtime import compat
from roomtimer.realtime.engine import prepare_engine
from roomtimer.realtime.manager import FastAsyncManager
from roomtimer.realtime.packets import LenientPacket

# Set for the duration of each event handler: did the client pass an ack callback?
ack_wanted: contextvars.ContextVar[bool] = contextvars.ContextVar("ack_wanted", default=False)

MAX_CLIENT_MESSAGE_BYTES = 64 * 1024


@dataclass(frozen=True)
class ServingPath:
    """Which path delivers to sockets, and why: said at start-up and in /metrics."""

    fast: bool
    reason: str
    hooks_ok: bool  # the protocol hooks: acks told apart, long-polls ended when clients close


def choose_path(settings: Settings) -> ServingPath:
    """The fast path if it is wanted and every internal it uses is there, else the stock one."""
    hooks = compat.check_hooks()
    if not hooks.ok:
        logger.warning("python-socketio differs from 5.18.1: {}", ", ".join(hooks.missing))
    if not settings.fast_path:
        return ServingPath(False, "ROOMTIMER_FAST_PATH=off", hooks.ok)
    found = compat.check_fast_path()
    if not found.ok:
        missing = ", ".join(found.missing)
        logger.warning(
            "library internals differ from those read, serving the stock path: {}", missing
        )
        return ServingPath(False, f"changed library internals: {missing}", hooks.ok)
    return ServingPath(True, "every library internal it uses is present", hooks.ok)


class RoomtimerServer(socketio.AsyncServer):
    """AsyncServer whose handlers can tell an event with an ack from one without."""

    hooks_ok = False  # set by create_socket_server when compat found the hooks' names

    # python-socketio 5.18 runs each event through this method with the ack id (None when
    # the client wants no ack); checked by compat and by tests/controllers/test_sockets.py.
    async def _handle_event_internal(  # type: ignore[no-untyped-def]
        self, server, sid, eio_sid, data, namespace, id
    ):
        ack_wanted.set(id is not None)
        return await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)


def create_socket_server(
    settings: Settings,
    path: ServingPath,
    on_drop: Callable[[str], None] | None = None,
    *,
    engineio_options: Mapping[str, Any] | None = None,
) -> RoomtimerServer:
    """The Socket.IO server for these settings, on `path` (`on_drop`: a slow socket dropped;
    `engineio_options` replace engineio settings, e.g. the protocol suites' ping interval)."""
    client_manager: socketio.AsyncManager = (
        FastAsyncManager(on_drop=on_drop) if path.fast else socketio.AsyncManager()
    )
    origins: list[str] | str | None = None  # same origin (and non-browser clients) only
    if "*" in settings.cors_origins:
        origins = "*"
    elif settings.cors_origins:
        origins = list(settings.cors_origins)
    options: dict[str, Any] = {
        "cors_allowed_origins": origins,
        # No cookies are used: a browser on an allowed origin needs no credentials, and a
        # blanket `Access-Control-Allow-Credentials: true` is one less thing to reason about.
        "cors_credentials": False,
        "max_http_buffer_size": MAX_CLIENT_MESSAGE_BYTES,
        "engineio_logger": False,
        "transports": ["polling", "websocket"],
        **(engineio_options or {}),
    }
    server = RoomtimerServer(
        async_mode="aiohttp",
        client_manager=client_manager,
        json=orjson_json,
        serializer=LenientPacket,
        logger=False,
        **options,
    )
    server.hooks_ok = path.hooks_ok
    prepare_engine(server.eio, fast=path.fast, hooks_ok=path.hooks_ok)
    return server


async def close_all_sockets(sio: socketio.AsyncServer) -> None:
    """Closes every viewer's connection at once (SIGTERM/SIGINT).

    The Engine.IO connection is closed, not the Socket.IO namespace, so clients treat it
    as a lost transport and reconnect by themselves (behind Nginx, to another worker).
    """
    sockets = list(sio.eio.sockets.values())
    reason = sio.eio.reason.SERVER_DISCONNECT
    await asyncio.gather(
        *(socket.close(wait=False, reason=reason) for socket in sockets), return_exceptions=True
    )
    for socket in sockets:
        socket.queue.put_nowait(None)  # a websocket writer sends the close, then ends
    await sio.shutdown()
