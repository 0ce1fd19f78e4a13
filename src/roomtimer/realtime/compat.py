"""Every private name roomtimer uses of python-socketio, python-engineio and aiohttp, checked once.

The fast path (`manager`, `lean_socket`, `transport`), two protocol hooks (`server`,
`engine`), the contract-shaped answers to requests aiohttp cannot parse (`http_errors`)
and the HTTP connection timeouts (`http_guard`) reach into the libraries' internals, read
from python-socketio 5.18.1, python-engineio 4.15.1 and aiohttp 3.14.5. At start-up
`check()` looks for each of them; if any is not there in the shape read, the server says
which and serves on the stock path, so a library upgrade slows a show down at worst and
never breaks it silently.
"""

import asyncio
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import socketio
from aiohttp import web, web_protocol
from engineio import async_server as eio_server
from engineio import async_socket as eio_socket
from engineio.async_drivers import aiohttp as eio_aiohttp

Check = Callable[[], bool]


def _method(owner: object, name: str, *params: str, coroutine: bool | None = None) -> Check:
    def check() -> bool:
        member = getattr(owner, name, None)
        if not callable(member):
            return False
        if coroutine is not None and inspect.iscoroutinefunction(member) is not coroutine:
            return False
        names = list(inspect.signature(member).parameters)
        return all(p in names for p in params)

    return check


def _attribute(make: Callable[[], object], *names: str) -> Check:
    def check() -> bool:
        instance = make()
        return all(hasattr(instance, name) for name in names)

    return check


def _eio_server() -> object:
    return eio_server.AsyncServer(async_mode="aiohttp")


def _driver_table() -> bool:
    server = _eio_server()
    drivers = getattr(server, "_async", None)
    return (
        isinstance(drivers, dict)
        and isinstance(drivers.get("websocket"), type)
        and issubclass(drivers["websocket"], eio_aiohttp.WebSocket)
    )


def _disconnect_hook() -> bool:
    """engine.end_long_polls_when_clients_close: handlers by name, called with a reason."""
    server = _eio_server()
    handlers = getattr(server, "handlers", None)
    return (
        isinstance(handlers, dict)
        and hasattr(eio_server.AsyncServer.reason, "CLIENT_DISCONNECT")
        and "reason" in inspect.signature(eio_socket.AsyncSocket.close).parameters
    )


# (library, private name, check): what the fast path and the hooks rely on.
FAST_PATH: tuple[tuple[str, str, Check], ...] = (
    ("python-engineio", "AsyncServer._async['websocket']", _driver_table),
    (
        "python-engineio",
        "AsyncServer.sockets/handlers/create_queue/ping_interval/ping_timeout/reason",
        _attribute(
            _eio_server,
            "sockets",
            "handlers",
            "create_queue",
            "ping_interval",
            "ping_timeout",
            "reason",
        ),
    ),
    (
        "python-engineio",
        "AsyncSocket._websocket_handler",
        _method(eio_socket.AsyncSocket, "_websocket_handler", "ws", coroutine=True),
    ),
    (
        "python-engineio",
        "AsyncSocket.schedule_ping",
        _method(eio_socket.AsyncSocket, "schedule_ping"),
    ),
    (
        "python-engineio",
        "AsyncSocket.close(wait, abort, reason)",
        _method(eio_socket.AsyncSocket, "close", "wait", "abort", "reason", coroutine=True),
    ),
    (
        "python-engineio",
        "async_drivers.aiohttp.WebSocket(handler, server)",
        _method(eio_aiohttp.WebSocket, "__init__", "handler", "server"),
    ),
    (
        "python-socketio",
        "AsyncManager.basic_enter_room/basic_leave_room/basic_disconnect",
        lambda: all(
            _method(socketio.AsyncManager, name, "sid", "namespace")()
            for name in ("basic_enter_room", "basic_leave_room", "basic_disconnect")
        ),
    ),
    (
        "python-socketio",
        "AsyncManager._generate_ack_id",
        _method(socketio.AsyncManager, "_generate_ack_id", "sid", "callback"),
    ),
    (
        "python-socketio",
        "AsyncManager.rooms/callbacks/pending_connect/pending_disconnect",
        _attribute(
            socketio.AsyncManager, "rooms", "callbacks", "pending_connect", "pending_disconnect"
        ),
    ),
    ("aiohttp", "StreamResponse._headers", _attribute(web.StreamResponse, "_headers")),
)

HOOKS: tuple[tuple[str, str, Check], ...] = (
    (
        "python-socketio",
        "AsyncServer._handle_event_internal(…, id)",
        _method(socketio.AsyncServer, "_handle_event_internal", "sid", "data", "id"),
    ),
    (
        "python-engineio",
        "AsyncServer.handlers['disconnect'](sid, reason)/reason.CLIENT_DISCONNECT",
        _disconnect_hook,
    ),
)


ERROR_ANSWERS: tuple[tuple[str, str, Check], ...] = (
    (
        "aiohttp",
        "RequestHandler.handle_error(request, status, exc, message)",
        _method(web_protocol.RequestHandler, "handle_error", "request", "status", "exc", "message"),
    ),
)


def _server_state() -> bool:
    """http_guard.GuardedServer: a Server's loop, handler kwargs and request factory."""
    loop = asyncio.new_event_loop()
    try:
        server = web.Server(lambda request: None, loop=loop)  # type: ignore[arg-type, return-value]
        return (
            getattr(server, "_loop", None) is loop
            and isinstance(getattr(server, "_kwargs", None), dict)
            and callable(server.request_factory)
            and "__slots__" not in vars(web.Server)
        )
    finally:
        loop.close()


HTTP_GUARD: tuple[tuple[str, str, Check], ...] = (
    (
        "aiohttp",
        "AppRunner._make_server",
        _method(web.AppRunner, "_make_server", coroutine=True),
    ),
    ("aiohttp", "Server._loop/_kwargs/request_factory", _server_state),
    (
        "aiohttp",
        "RequestHandler(manager, loop).connection_made/data_received/connection_lost",
        lambda: all(
            _method(web.RequestHandler, name, param)()
            for name, param in (
                ("__init__", "loop"),
                ("connection_made", "transport"),
                ("data_received", "data"),
                ("connection_lost", "exc"),
            )
        ),
    ),
    (
        "aiohttp",
        "RequestHandler.finish_response(request, resp, start_time)",
        _method(
            web.RequestHandler,
            "finish_response",
            "request",
            "resp",
            "start_time",
            coroutine=True,
        ),
    ),
)


@dataclass(frozen=True)
class Report:
    """What `check` found missing: empty when every private name is as read."""

    missing: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when nothing is missing."""
        return not self.missing


def _missing(checks: tuple[tuple[str, str, Check], ...]) -> Iterator[str]:
    for library, name, check in checks:
        try:
            present = check()
        except Exception:  # noqa: BLE001 - a changed shape may fail in any way
            present = False
        if not present:
            yield f"{library} {name}"


def check_fast_path() -> Report:
    """Whether the fast fan-out path's internals are all there."""
    return Report(tuple(_missing(FAST_PATH)))


def check_error_answers() -> Report:
    """Whether `http_errors` can answer aiohttp's own errors in the contract's shape."""
    return Report(tuple(_missing(ERROR_ANSWERS)))


def check_hooks() -> Report:
    """Whether the protocol hooks of `server.RoomtimerServer` and `engine` can be installed."""
    return Report(tuple(_missing(HOOKS)))


def check_http_guard() -> Report:
    """Whether `http_guard` can time out heads and bodies and cap addresses."""
    return Report(tuple(_missing(HTTP_GUARD)))
