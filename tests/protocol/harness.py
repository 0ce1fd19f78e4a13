"""The servers the official Engine.IO and Socket.IO protocol suites expect, on one port.

`roomtimer`: built from roomtimer's own pieces (`choose_path`, `create_socket_server`,
`prepare_engine`: the fast manager, lean sockets, fast websocket driver and protocol
hooks, or the stock path under ROOMTIMER_FAST_PATH=off); `stock`: plain
python-socketio / python-engineio, no roomtimer code, to tell their deviations from ours;
`stock-undeflated`: the same with websocket frames not deflated, as Node's engine.io and
roomtimer's fast path write them. Run: `python -m tests.protocol.harness LIBRARY PORT`
(served as roomtimer serves: aiohttp on 127.0.0.1, uvloop).
"""

import argparse
import os
from typing import Any

import engineio
import socketio
from aiohttp import web
from engineio.async_drivers import aiohttp as eio_aiohttp

from roomtimer.cli import new_event_loop
from roomtimer.config import load_settings
from roomtimer.realtime.engine import prepare_engine
from roomtimer.realtime.server import choose_path, create_socket_server

# The suites' README: ping interval 300 ms, ping timeout 200 ms, max payload 1 000 000 bytes,
# CORS for any origin. (python-socketio has no connect timeout: see expectations.py.)
SUITE_OPTIONS: dict[str, Any] = {
    "ping_interval": 0.3,
    "ping_timeout": 0.2,
    "max_http_buffer_size": 1_000_000,
    "cors_allowed_origins": "*",
}


SOCKETIO = web.AppKey("socketio", socketio.AsyncServer)
ENGINEIO = web.AppKey("engineio", engineio.AsyncServer)


def echo_engine(eio: engineio.AsyncServer) -> engineio.AsyncServer:
    """The Engine.IO suite's server: every message sent back on the same socket."""

    async def message(sid: str, data: Any) -> None:
        await eio.send(sid, data)

    async def disconnect(sid: str, reason: Any) -> None:
        return None

    eio.on("message", message)
    eio.on("disconnect", disconnect)
    return eio


def suite_namespaces(sio: socketio.AsyncServer) -> socketio.AsyncServer:
    """The Socket.IO suite's handlers: `auth` on connect to `/` and `/custom`, echoes, acks."""

    for namespace in ("/", "/custom"):

        async def connect(sid: str, environ: Any, auth: Any, namespace: str = namespace) -> None:
            # Node's `connection` event comes once CONNECT is sent; python-socketio sends it
            # after this handler returns, so the emit waits for that in a task of its own.
            sio.start_background_task(sio.emit, "auth", auth or {}, to=sid, namespace=namespace)

        sio.on("connect", connect, namespace=namespace)

    async def message(sid: str, *args: Any) -> None:
        await sio.emit("message-back", args, to=sid)

    async def message_with_ack(sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    sio.on("message", message)
    sio.on("message-with-ack", message_with_ack)
    return sio


def roomtimer_app() -> web.Application:
    """Both suites' servers from roomtimer's factory pieces, with the suites' settings."""
    settings = load_settings(
        {
            "CORS_ORIGIN": "*",
            "JWT_SECRET": "protocol-suite-harness-not-a-secret",
            "ROOMTIMER_FAST_PATH": os.environ.get("ROOMTIMER_FAST_PATH", ""),
        }
    )
    path = choose_path(settings)
    app = web.Application()
    sio = create_socket_server(settings, path, engineio_options=SUITE_OPTIONS)
    suite_namespaces(sio).attach(app)
    eio = echo_engine(engineio.AsyncServer(async_mode="aiohttp", **SUITE_OPTIONS))
    prepare_engine(eio, fast=path.fast, hooks_ok=path.hooks_ok)
    eio.attach(app)
    return app


def stock_app() -> web.Application:
    """The same two servers on python-socketio and python-engineio alone."""
    app = web.Application()
    app[SOCKETIO] = sio = socketio.AsyncServer(async_mode="aiohttp", **SUITE_OPTIONS)
    suite_namespaces(sio).attach(app)
    app[ENGINEIO] = eio = echo_engine(engineio.AsyncServer(async_mode="aiohttp", **SUITE_OPTIONS))
    eio.attach(app)
    return app


class UndeflatedWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """python-engineio 4.15.1's aiohttp driver, with per-message deflate turned down."""

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        await self._sock.prepare(request)
        self.environ = environ
        await self.handler(self)
        return self._sock


def stock_undeflated_app() -> web.Application:
    """The stock servers writing plain frames: a frame per packet, none inflated by the client."""
    app = stock_app()
    for server in (app[SOCKETIO].eio, app[ENGINEIO]):
        server._async = {**server._async, "websocket": UndeflatedWebSocket}
    return app


APPS = {"roomtimer": roomtimer_app, "stock": stock_app, "stock-undeflated": stock_undeflated_app}


def main() -> None:
    """Serves the chosen harness on 127.0.0.1:PORT until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", choices=sorted(APPS))
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    app = APPS[args.library]()
    loop, _ = new_event_loop()
    web.run_app(app, host="127.0.0.1", port=args.port, loop=loop, print=None, access_log=None)


if __name__ == "__main__":
    main()
