"""The one event path: every room event reaches every worker's bus once, in order."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest

from roomtimer import keys
from roomtimer.events.bus import EventBus, RoomEvents
from roomtimer.infra.metrics import Metrics
from tests.support.app import Api, RunningApp, Viewer, run_app, settings_for
from tests.support.streams import open_stream

TIMEOUT = 10.0
COMMANDS = ["start", "pause", "start", "adjust", "pause", "reset"] * 5


class Subscriber:
    """A bus output recording every event of one name, in the order delivered."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.payloads: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()

    async def __call__(self, events: RoomEvents) -> None:
        if events.name == self.name:
            self.payloads.extend(dict(p) for p in events.payloads)
            self._arrived.set()

    def versions(self, timer_id: str) -> list[int]:
        return [p["version"] for p in self.payloads if p.get("id") == timer_id]

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not done():
                self._arrived.clear()
                await self._arrived.wait()


async def workers(stack: AsyncExitStack, database_url: str, redis_url: str) -> list[RunningApp]:
    """Two apps on one database and one Redis, each relay subscribed."""
    settings = settings_for(database_url, REDIS_URL=redis_url)
    apps = [await stack.enter_async_context(run_app(settings)) for _ in range(2)]
    for app in apps:
        await app.app[keys.relay].wait_subscribed()
    return apps


@pytest.fixture
async def two_workers(sqlite_url: str, redis_url: str) -> AsyncIterator[list[RunningApp]]:
    async with AsyncExitStack() as stack:
        yield await workers(stack, sqlite_url, redis_url)


async def test_a_command_on_worker_a_reaches_the_bus_of_both_workers_once_in_version_order(
    two_workers: list[RunningApp],
) -> None:
    a, b = two_workers
    on_a, on_b = Subscriber("timer-update"), Subscriber("timer-update")
    a.app[keys.bus].subscribe(on_a)
    b.app[keys.bus].subscribe(on_b)
    viewer_on_b = await Viewer(b.url, transports=["websocket"]).connect()
    try:
        async with Api(a.url, a.token()) as api:
            room = await api.room()
            timer = await api.timer(room["id"])
            assert (await viewer_on_b.join(room["shareToken"]))["ok"] is True
            replies = []
            for name in COMMANDS:
                body = {"deltaMs": 5_000} if name == "adjust" else None
                reply = await api.command(timer["id"], name, body)
                assert reply.status == 200, reply.body
                replies.append(reply.body["version"])
        expected = sorted(set(replies))  # every change once; no-ops change no version
        assert replies == sorted(replies) and len(expected) == len(COMMANDS)
        await on_b.until(lambda: len(on_b.versions(timer["id"])) >= len(expected))
        assert on_a.versions(timer["id"]) == expected  # A's own, delivered as published
        assert on_b.versions(timer["id"]) == expected  # through Redis, once each, in order
        # B's Socket.IO room is an output of B's bus: its viewer saw the same sequence.
        async with asyncio.timeout(TIMEOUT):
            while len(viewer_on_b.events("timer-update")) < len(expected):
                await viewer_on_b.next("timer-update")
        assert [p["version"] for p in viewer_on_b.events("timer-update")] == expected
    finally:
        await viewer_on_b.close()


async def test_a_room_deleted_on_worker_a_empties_the_room_on_worker_b(
    two_workers: list[RunningApp],
) -> None:
    a, b = two_workers
    viewer = await Viewer(b.url).connect()
    try:
        async with Api(a.url, a.token()) as api:
            room = await api.room()
            await viewer.join(room["shareToken"])
            await viewer.next("room-state")
            sockets = b.app[keys.socket_rooms]
            assert sockets.room(room["id"]) == 1
            assert (await api.call("DELETE", f"/api/rooms/{room['id']}")).status == 204
        deleted = await viewer.next("room-deleted")
        assert deleted["id"] == room["id"]
        assert sockets.room(room["id"]) == 0  # removed as B's output delivered the event
    finally:
        await viewer.close()


async def test_a_room_message_set_on_worker_a_reaches_a_viewer_on_worker_b(
    two_workers: list[RunningApp],
) -> None:
    a, b = two_workers
    viewer = await Viewer(b.url).connect()
    try:
        async with Api(a.url, a.token()) as api:
            room = await api.room()
            await viewer.join(room["shareToken"])
            await viewer.next("room-state")
            body = {"text": "Five minutes", "visible": True}
            reply = await api.call("PUT", f"/api/rooms/{room['id']}/message", body)
            assert reply.status == 200
        assert await viewer.next("room-message") == reply.body
        await viewer.client.emit("request-sync", {"shareToken": room["shareToken"]})
        state = await viewer.next("room-state")
        assert state["message"]["text"] == "Five minutes"  # read back on B from the database
    finally:
        await viewer.close()


async def test_an_event_stream_on_worker_b_follows_commands_taken_on_worker_a(
    two_workers: list[RunningApp],
) -> None:
    a, b = two_workers
    async with Api(a.url, a.token()) as api, aiohttp.ClientSession() as session:
        room = await api.room()
        timer = await api.timer(room["id"])
        stream = await open_stream(session, b.url, room["shareToken"])
        try:
            assert (await stream.next())[0] == "room-state"  # type: ignore[index]
            versions = []
            for name in ("start", "pause", "start"):
                versions.append((await api.command(timer["id"], name)).body["version"])
            seen = [(await stream.until("timer-update"))["version"] for _ in versions]
            assert seen == versions
        finally:
            stream.response.close()


async def test_a_control_socket_on_worker_b_watches_rooms_changed_and_made_on_worker_a(
    two_workers: list[RunningApp],
) -> None:
    a, b = two_workers
    control = await Viewer(b.url).connect(auth={"token": b.token("alice")})
    try:
        async with Api(a.url, a.token("alice")) as api:
            room = await api.room()
            ack = await control.client.call("watch-rooms", timeout=TIMEOUT)
            assert [r["id"] for r in ack["rooms"]] == [room["id"]]
            await api.call("PUT", f"/api/rooms/{room['id']}", {"name": "Renamed"})
            assert (await control.next("room-updated"))["name"] == "Renamed"
            later = await api.room(name="Later")  # made on A after the watch began on B
            timer = await api.timer(later["id"])
            assert (await control.next("timer-created"))["id"] == timer["id"]
    finally:
        await control.close()


async def test_an_output_that_fails_does_not_keep_the_event_from_the_next() -> None:
    bus = EventBus(Metrics())
    received: list[str] = []

    async def broken(events: RoomEvents) -> None:
        raise RuntimeError("a broken output")

    async def working(events: RoomEvents) -> None:
        received.append(events.name)

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(working)
    await bus.publish("r1", "timer-update", {"id": "t1", "version": 2})
    unsubscribe()
    await bus.publish("r1", "timer-update", {"id": "t1", "version": 3})
    assert received == ["timer-update"]
