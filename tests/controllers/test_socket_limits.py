"""Caps a single client cannot pass: rooms per socket, sockets per client address."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio

from roomtimer.config import ConfigError, load_settings
from tests.support import app as support
from tests.support.app import Api, RunningApp, Viewer


async def started(sqlite_url: str, **env: str) -> AsyncIterator[RunningApp]:
    async with support.run_app(support.settings_for(sqlite_url, **env)) as running:
        yield running


async def test_a_socket_joins_at_most_the_rooms_cap(sqlite_url: str) -> None:
    async for app in started(sqlite_url, SOCKET_MAX_ROOMS="3"):
        async with Api(app.url, app.token()) as api:
            rooms = [await api.room(name=f"Room {n}") for n in range(4)]
        viewer = await Viewer(app.url).connect()
        try:
            for room in rooms[:3]:
                assert (await viewer.join(room["shareToken"]))["ok"] is True
            refused = await viewer.join(rooms[3]["shareToken"])
            assert refused["ok"] is False and refused["error"]["code"] == "too_many_rooms"
            assert (await viewer.join(rooms[0]["shareToken"]))["ok"] is True  # already in
            left = await viewer.client.call("leave-room", {"shareToken": rooms[0]["shareToken"]})
            assert left["ok"] is True
            assert (await viewer.join(rooms[3]["shareToken"]))["ok"] is True
        finally:
            await viewer.close()


async def client_from(address: str, url: str) -> tuple[socketio.AsyncClient, list[Any]]:
    """A Socket.IO client whose connections leave from `address` (a loopback alias)."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))
    client = socketio.AsyncClient(reconnection=False, http_session=session)
    refusals: list[Any] = []
    client.on("connect_error", refusals.append)
    try:
        await client.connect(url, transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        pass
    return client, refusals


async def test_one_address_opens_at_most_the_cap_and_others_are_not_affected(
    sqlite_url: str,
) -> None:
    async for app in started(sqlite_url, SOCKET_MAX_CONNECTIONS_PER_ADDRESS="3"):
        opened = [await client_from("127.0.0.2", app.url) for _ in range(3)]
        try:
            assert all(client.connected for client, _ in opened)
            extra, refusals = await client_from("127.0.0.2", app.url)
            opened.append((extra, refusals))
            assert not extra.connected and refusals[0]["data"]["code"] == "rate_limited"
            elsewhere, _ = await client_from("127.0.0.3", app.url)
            opened.append((elsewhere, []))
            assert elsewhere.connected  # another address: its own allowance
            await opened[0][0].disconnect()  # one leaves: its place frees
            async with asyncio.timeout(10):
                while True:
                    again, _ = await client_from("127.0.0.2", app.url)
                    opened.append((again, []))
                    if again.connected:
                        break
                    await asyncio.sleep(0.05)  # the server has yet to see the disconnect
        finally:
            for client, _ in opened:
                await client.shutdown()
                if client.eio.http is not None:
                    await client.eio.http.close()


@pytest.mark.parametrize(
    ("name", "field"),
    [("SOCKET_MAX_ROOMS", "socket_max_rooms"),
     ("SOCKET_MAX_CONNECTIONS_PER_ADDRESS", "socket_max_per_address")],
)  # fmt: skip
def test_the_caps_are_settings_that_refuse_nonsense(name: str, field: str, tmp_path: Any) -> None:
    base = {"JWT_SECRET": "a-real-secret-for-the-test", "ROOMTIMER_DATA_DIR": str(tmp_path)}
    assert getattr(load_settings(base | {name: "7"}), field) == 7
    with pytest.raises(ConfigError, match=name):
        load_settings(base | {name: "0"})
