"""Which path serves Socket.IO, why, and that a changed library falls back to the stock one."""

from collections.abc import Iterator

import pytest
import socketio
from engineio.async_socket import AsyncSocket
from loguru import logger
from socketio.base_manager import BaseManager

from roomtimer import keys
from roomtimer.realtime import compat
from roomtimer.realtime.lean_socket import LeanSocket
from roomtimer.realtime.manager import FastAsyncManager
from tests.support.app import Api, RunningApp, Viewer, run_app, settings_for


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """Every loguru message of level INFO and above while the test runs."""
    messages: list[str] = []
    sink = logger.add(messages.append, level="INFO", format="{level} {message}")
    yield messages
    logger.remove(sink)


async def metric(app: RunningApp) -> str:
    async with Api(app.url, None) as api:
        reply = await api.session.get(app.url + "/metrics")
        text = await reply.text()
    [line] = [line for line in text.splitlines() if line.startswith("roomtimer_fast_path ")]
    return line


async def a_viewer_follows_a_command(app: RunningApp) -> AsyncSocket:
    """Joins a room over websocket, starts a timer, waits for the update; its engineio socket."""
    viewer = await Viewer(app.url, transports=["websocket"]).connect()
    try:
        async with Api(app.url, app.token()) as api:
            room = await api.room()
            timer = await api.timer(room["id"])
            assert (await viewer.join(room["shareToken"]))["ok"] is True
            assert (await api.command(timer["id"], "start")).status == 200
        update = await viewer.next("timer-update")
        assert (update["id"], update["status"]) == (timer["id"], "running")
        [socket] = app.app[keys.sio].eio.sockets.values()
        return socket  # type: ignore[no-any-return]
    finally:
        await viewer.close()


def test_every_private_name_used_is_present_in_the_pinned_libraries() -> None:
    assert compat.check_fast_path().missing == ()
    assert compat.check_hooks().missing == ()
    assert compat.check_http_guard().missing == ()


async def test_the_fast_path_serves_by_default_and_says_so(
    sqlite_url: str, warnings: list[str]
) -> None:
    async with run_app(settings_for(sqlite_url, ROOMTIMER_FAST_PATH="on")) as app:
        assert isinstance(app.app[keys.sio].manager, FastAsyncManager)
        assert await metric(app) == "roomtimer_fast_path 1.0"
        assert any("Socket.IO delivery: fast path" in m for m in warnings), warnings
        assert type(await a_viewer_follows_a_command(app)) is LeanSocket


async def test_fast_path_off_serves_on_stock_python_socketio_and_engineio(
    sqlite_url: str, warnings: list[str]
) -> None:
    async with run_app(settings_for(sqlite_url, ROOMTIMER_FAST_PATH="off")) as app:
        assert type(app.app[keys.sio].manager) is socketio.AsyncManager
        assert await metric(app) == "roomtimer_fast_path 0.0"
        line = "Socket.IO delivery: stock python-socketio path (ROOMTIMER_FAST_PATH=off)"
        assert any(line in m for m in warnings), warnings
        assert type(await a_viewer_follows_a_command(app)) is AsyncSocket


async def test_a_renamed_library_internal_is_named_once_and_the_stock_path_serves(
    sqlite_url: str, warnings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if python-socketio renamed a private method the fast manager calls.
    monkeypatch.delattr(BaseManager, "_generate_ack_id")
    async with run_app(settings_for(sqlite_url, ROOMTIMER_FAST_PATH="on")) as app:
        path = app.app[keys.serving_path]
        assert not path.fast and "AsyncManager._generate_ack_id" in path.reason
        named = [m for m in warnings if m.startswith("WARNING") and "_generate_ack_id" in m]
        assert len(named) == 1, warnings
        assert type(app.app[keys.sio].manager) is socketio.AsyncManager
        assert await metric(app) == "roomtimer_fast_path 0.0"
        assert type(await a_viewer_follows_a_command(app)) is AsyncSocket
