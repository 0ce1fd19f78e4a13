"""Caps a single client cannot pass: rooms per socket, sockets per client address, and
the wait of an address whose socket was cut for flooding."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio

from roomtimer.config import ConfigError, load_settings
from roomtimer.controllers.socket_limits import PenaltyBox
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
            await close_all([client for client, _ in opened])


async def close_all(clients: list[socketio.AsyncClient]) -> None:
    for client in clients:
        await client.shutdown()
        if client.eio.http is not None:
            await client.eio.http.close()


async def test_an_address_cut_for_flooding_waits_to_connect_and_nobody_else_does(
    sqlite_url: str,
) -> None:
    settings = support.settings_for(sqlite_url, SOCKET_FLOOD_PENALTY_S="1")
    async with support.run_app(settings) as app:
        opened: list[socketio.AsyncClient] = []
        async with Api(app.url, app.token()) as api:
            room = await api.room()
            timer = await api.timer(room["id"])
            try:
                there_before, _ = await client_from("127.0.0.2", app.url)  # the flooder's address
                opened.append(there_before)
                updates: asyncio.Queue[Any] = asyncio.Queue()
                there_before.on("timer-update", updates.put_nowait)
                joined = await there_before.call("join-room", {"shareToken": room["shareToken"]})
                assert joined["ok"] is True
                flooder, _ = await client_from("127.0.0.2", app.url)
                opened.append(flooder)
                cut = asyncio.Event()
                flooder.on("disconnect", lambda *reason: cut.set())
                for _ in range(130):  # cut at the 120th event in 10 s
                    await flooder.emit("ping")
                async with asyncio.timeout(10):
                    await cut.wait()
                cut_at = time.monotonic()

                # Barred: the refusal is held back until the bar lifts (at most 1 s)...
                attempt = asyncio.create_task(client_from("127.0.0.2", app.url))
                elsewhere, _ = await client_from("127.0.0.3", app.url)
                opened.append(elsewhere)
                assert elsewhere.connected  # ...while another address is not barred
                assert (await api.command(timer["id"], "start")).status == 200
                async with asyncio.timeout(10):  # and the socket open before the cut carries on
                    assert (await updates.get())["status"] == "running"
                again, refusals = await attempt
                opened.append(again)
                assert not again.connected and refusals[0]["data"] == {
                    "code": "rate_limited",
                    "message": "This address flooded; connect again in 1 s",
                }
                tries = 1
                async with asyncio.timeout(10):  # the bar lifts after its second
                    while not again.connected:
                        assert refusals[-1]["data"]["code"] == "rate_limited"
                        again, refusals = await client_from("127.0.0.2", app.url)
                        opened.append(again)
                        tries += 1
                assert time.monotonic() - cut_at > 0.5  # barred for the window, not a moment
                assert tries <= 4  # reconnecting at once bought no more attempts
            finally:
                await close_all(opened)


async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_barred(
    sqlite_url: str,
) -> None:
    settings = support.settings_for(sqlite_url, TRUSTED_PROXIES="127.0.0.1")
    async with support.run_app(settings) as app:
        flooder = await Viewer(app.url, ["websocket"]).connect(
            headers={"X-Forwarded-For": "203.0.113.5"}
        )
        barred = Viewer(app.url, ["websocket"])
        cut = asyncio.Event()
        flooder.client.on("disconnect", lambda *reason: cut.set())
        try:
            for _ in range(130):
                await flooder.client.emit("ping")
            async with asyncio.timeout(10):
                await cut.wait()
            neighbour = await Viewer(app.url, ["websocket"]).connect(
                headers={"X-Forwarded-For": "203.0.113.6"}
            )  # the same proxy, another client: not barred
            await neighbour.close()
            refusals: list[Any] = []
            barred.client.on("connect_error", refusals.append)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await barred.connect(headers={"X-Forwarded-For": "203.0.113.5"})
            assert refusals[0]["data"]["code"] == "rate_limited"
        finally:
            await flooder.close()
            await barred.client.shutdown()


def test_a_flooder_back_after_its_bar_waits_twice_as_long_up_to_the_cap_then_is_forgotten() -> None:
    now = [100.0]
    box = PenaltyBox(max_s=10, now=lambda: now[0])
    assert box.punish("10.0.0.1") == 2
    now[0] += 1
    assert box.punish("10.0.0.1") == 1  # another socket opened before the bar: no longer
    assert box.retry_after("10.0.0.1") == 1 and box.retry_after("10.0.0.2") == 0
    waits = []
    for _ in range(4):  # each time back as soon as the bar lifts, and cut again
        now[0] += box.retry_after("10.0.0.1")
        assert box.retry_after("10.0.0.1") == 0
        waits.append(box.punish("10.0.0.1"))
    assert waits == [4, 8, 10, 10]
    now[0] += 10 + 10  # quiet for 10 s after the bar: forgotten
    assert box.punish("10.0.0.1") == 2
    assert PenaltyBox(max_s=0).punish("10.0.0.1") == 0  # SOCKET_FLOOD_PENALTY_S=0: off


def test_the_flood_penalty_is_a_setting_that_zero_turns_off(tmp_path: Any) -> None:
    base = {"JWT_SECRET": "a-real-secret-for-the-test", "ROOMTIMER_DATA_DIR": str(tmp_path)}
    assert load_settings(base).socket_flood_penalty_s == 60
    assert load_settings(base | {"SOCKET_FLOOD_PENALTY_S": "0"}).socket_flood_penalty_s == 0
    with pytest.raises(ConfigError, match="SOCKET_FLOOD_PENALTY_S"):
        load_settings(base | {"SOCKET_FLOOD_PENALTY_S": "-1"})


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
