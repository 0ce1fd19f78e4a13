"""Room events reach every joined viewer, with the right payload, before the HTTP reply.

"Before the reply" is checked without racing the client library: RawViewer speaks Socket.IO
over a websocket on a socket the event loop does not watch, so whatever the server wrote
before its HTTP reply is readable the moment `await api.call(...)` returns. Absence is checked
behind a barrier (a `ping` ack: the server answers on the same connection, in order).
"""

import asyncio
import base64
import itertools
import json
import os
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest_asyncio

from roomtimer import keys
from tests.support.app import Api, RunningApp, Viewer
from tests.support.clock import now_ms

PACKET = re.compile(r"4([23])(\d*)(.*)", re.S)  # Engine.IO message: Socket.IO event or ack


class RawViewer:
    """A bare Engine.IO 4 / Socket.IO 5 websocket client (pings ignored: tests are short)."""

    def __init__(self, url: str) -> None:
        self.where = urlsplit(url)
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.buffer = b""
        self.received: list[tuple[str, Any]] = []
        self.acks: dict[int, Any] = {}
        self._ids = itertools.count(1)
        self._taken = 0

    async def connect(self) -> "RawViewer":
        loop = asyncio.get_running_loop()
        await loop.sock_connect(self.sock, (self.where.hostname, self.where.port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {self.where.netloc}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(self.sock, request.encode())
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += await loop.sock_recv(self.sock, 65536)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        await self._send("40")
        await self._until(lambda: ("connect", None) in self.received)
        return self

    async def call(self, event: str, *args: Any) -> Any:
        """Emits with an ack and returns the ack's data."""
        ack_id = next(self._ids)
        await self._send(f"42{ack_id}" + json.dumps([event, *args]))
        await self._until(lambda: ack_id in self.acks)
        return self.acks.pop(ack_id)

    async def join(self, token: str) -> Any:
        return await self.call("join-room", {"shareToken": token})

    def arrived(self, name: str | None = None) -> list[Any]:
        """Payloads of `name` (or all) the server has sent so far, read without waiting."""
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except BlockingIOError:
                break
            assert chunk, "the server closed the connection"
            self.buffer += chunk
        self._parse()
        return [data for event, data in self.received if name is None or event == name]

    async def next(self, name: str, timeout: float = 5.0) -> Any:
        """The next `name` event not yet taken by `next`."""
        await self._until(lambda: len(self.arrived(name)) > self._taken, timeout)
        self._taken += 1
        return self.arrived(name)[self._taken - 1]

    async def _until(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            self._parse()
            while not done():
                chunk = await asyncio.get_running_loop().sock_recv(self.sock, 1 << 20)
                assert chunk, "the server closed the connection"
                self.buffer += chunk
                self._parse()

    def _parse(self) -> None:
        """Moves complete frames from the buffer into `received` and `acks`."""
        while len(self.buffer) >= 2:
            size, start = self.buffer[1] & 0x7F, 2
            if size >= 126:
                start = 4 if size == 126 else 10
                size = int.from_bytes(self.buffer[2:start], "big")
            if len(self.buffer) < start + size:
                return
            opcode, frame = self.buffer[0] & 0x0F, self.buffer[start : start + size]
            self.buffer = self.buffer[start + size :]
            text = frame.decode() if opcode == 1 else ""
            if text.startswith("40"):
                self.received.append(("connect", None))
            elif match := PACKET.fullmatch(text):
                kind, ack_id, body = match.groups()
                if kind == "3":
                    self.acks[int(ack_id)] = (json.loads(body) or [None])[0]
                else:
                    event, *args = json.loads(body)
                    self.received.append((event, args[0] if args else None))

    async def _send(self, text: str) -> None:
        data, mask = text.encode(), os.urandom(4)
        assert len(data) < 126, "short messages only"
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
        frame = bytes([0x81, 0x80 | len(data)]) + mask + masked
        await asyncio.get_running_loop().sock_sendall(self.sock, frame)


OpenRaw = Callable[[str], Awaitable[RawViewer]]


@pytest_asyncio.fixture
async def raw() -> AsyncIterator[OpenRaw]:
    """`await raw(url)` → a connected RawViewer, closed after the test."""
    opened: list[RawViewer] = []

    async def open_raw(url: str) -> RawViewer:
        viewer = RawViewer(url)
        opened.append(viewer)
        return await viewer.connect()

    yield open_raw
    for viewer in opened:
        viewer.sock.close()


async def barrier(viewer: RawViewer) -> None:
    """Everything sent to `viewer` before now has arrived once this returns."""
    assert "serverTime" in await viewer.call("ping")


def assert_same(event: dict[str, Any], reply: dict[str, Any]) -> None:
    """The event says what the reply says, with `remainingMs` exact at its own `serverTime`."""
    clockless = {"serverTime", "remainingMs"}
    assert {k: v for k, v in event.items() if k not in clockless} == {
        k: v for k, v in reply.items() if k not in clockless
    }
    assert set(event) == set(reply)
    if event.get("status") == "running":
        assert event["remainingMs"] == event["endsAt"] - event["serverTime"]
    elif "remainingMs" in event:
        assert event["remainingMs"] == reply["remainingMs"]


def room_events(viewer: RawViewer) -> list[tuple[str, Any]]:
    """Every event that arrived so far, but for connection and presence traffic."""
    viewer.arrived()
    return [(e, d) for e, d in viewer.received if e not in ("connect", "room-state", "user-count")]


async def test_timer_events_reach_every_viewer_of_the_room_before_the_reply(
    app: RunningApp, api: Api, raw: OpenRaw
) -> None:
    room, elsewhere = await api.room(), await api.room(name="Other hall")
    viewers = [await raw(app.url), await raw(app.url)]
    upgraded = await Viewer(app.url).connect()  # python-socketio, polling then websocket
    outsider = await raw(app.url)
    sent: list[str] = []

    async def change(method: str, path: str, event: str, body: Any = None) -> Any:
        """Makes one change; each websocket viewer already holds its event with the reply."""
        before = now_ms()
        reply = await api.call(method, path, body)
        assert reply.status in (200, 201, 204), reply.body
        sent.append(event)
        for viewer in viewers:
            got = room_events(viewer)
            assert [name for name, _ in got] == sent
            payload = got[-1][1]
            assert before <= payload["serverTime"] <= now_ms()
            if reply.body is not None:
                assert_same(payload, reply.body)
        return got[-1][1]

    try:
        joiners: list[RawViewer | Viewer] = [*viewers, upgraded]
        for joiner in joiners:
            assert (await joiner.join(room["shareToken"]))["ok"] is True
        await outsider.join(elsewhere["shareToken"])
        new = {"label": "T", "durationMs": 60_000}
        created = await change("POST", f"/api/rooms/{room['id']}/timers", "timer-created", new)
        path = f"/api/timers/{created['id']}"
        await change("POST", f"{path}/start", "timer-update")
        await change("POST", f"{path}/adjust", "timer-update", {"deltaMs": -5_000})
        await change("POST", f"{path}/pause", "timer-update")
        noop = await api.call("POST", f"{path}/pause")  # already paused: no change, no event
        assert noop.status == 200 and noop.body["version"] == 4
        await change("POST", f"{path}/adjust", "timer-update", {"deltaMs": 7_000})
        await change("POST", f"{path}/reset", "timer-update")
        final = await change("PUT", path, "timer-update", {"label": "Panel", "durationMs": 90_000})
        assert (final["label"], final["remainingMs"]) == ("Panel", 90_000)  # idle: duration applies
        got = [payload for _, payload in room_events(viewers[0])]
        assert [p["version"] for p in got] == list(range(1, 8))  # strictly increasing, in order
        statuses = ["idle", "running", "running", "paused", "paused", "idle", "idle"]
        assert [p["status"] for p in got] == statuses
        assert got[2]["endsAt"] == got[1]["endsAt"] - 5_000
        assert got[4]["remainingMs"] == got[3]["remainingMs"] + 7_000
        deleted = await change("DELETE", path, "timer-deleted")
        assert deleted == {**deleted, "id": created["id"], "roomId": room["id"]}
        assert set(deleted) == {"id", "roomId", "serverTime"}
        await upgraded.next("timer-deleted")
        names = [name for name, _ in upgraded.received if name not in ("room-state", "user-count")]
        assert names == sent  # the no-op sent nothing: everything after it arrived in order
        await barrier(outsider)
        assert room_events(outsider) == []
    finally:
        await upgraded.close()


async def test_timer_finished_once_at_the_deadline(app: RunningApp, api: Api, raw: OpenRaw) -> None:
    room = await api.room()
    timer = await api.timer(room["id"], durationMs=1_000)
    viewer = await raw(app.url)
    await viewer.join(room["shareToken"])
    started = (await api.command(timer["id"], "start")).body
    finished = await viewer.next("timer-finished", timeout=5)
    assert now_ms() >= started["endsAt"]
    assert started["endsAt"] <= finished["finishedAt"] <= finished["serverTime"]
    assert finished["id"] == timer["id"]
    assert (finished["status"], finished["remainingMs"]) == ("finished", 0)
    assert finished["endsAt"] is None and finished["version"] == started["version"] + 1
    assert await app.app[keys.scheduler].finish_due() == 0  # a scheduler pass finds nothing
    assert (await api.command(timer["id"], "start")).status == 409
    await barrier(viewer)
    assert len(viewer.arrived("timer-finished")) == 1
    [update] = viewer.arrived("timer-update")
    assert_same(update, started)


async def test_adjust_leaving_no_time_finishes_before_the_reply(
    app: RunningApp, api: Api, raw: OpenRaw
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    viewer = await raw(app.url)
    await viewer.join(room["shareToken"])
    await api.command(timer["id"], "start")
    reply = await api.command(timer["id"], "adjust", {"deltaMs": -600_000})
    assert reply.status == 200 and reply.body["status"] == "finished"
    [finished] = viewer.arrived("timer-finished")
    assert finished["status"] == "finished" and finished["remainingMs"] == 0
    assert finished["version"] == reply.body["version"] and finished["finishedAt"] is not None


async def test_room_updated_and_room_deleted(app: RunningApp, api: Api, raw: OpenRaw) -> None:
    room = await api.room()
    viewer = await raw(app.url)
    await viewer.join(room["shareToken"])
    reply = await api.call("PUT", f"/api/rooms/{room['id']}", {"name": "  Renamed "})
    [updated] = viewer.arrived("room-updated")
    assert updated == {**updated, "id": room["id"], "name": "Renamed", "description": ""}
    assert set(updated) == {"id", "name", "description", "serverTime"}
    assert reply.body["name"] == "Renamed"
    assert (await api.call("DELETE", f"/api/rooms/{room['id']}")).status == 204
    [deleted] = viewer.arrived("room-deleted")
    assert set(deleted) == {"id", "serverTime"} and deleted["id"] == room["id"]
    # No HTTP call reaches a deleted room: address its id directly to prove nobody is in it.
    await app.app[keys.bus].publish(room["id"], "probe", {"serverTime": now_ms()})
    await barrier(viewer)  # still connected
    assert viewer.arrived("probe") == []
    other = await api.room(name="Next")
    assert (await viewer.join(other["shareToken"]))["ok"] is True


async def test_share_token_rotation_revokes_old_viewers(
    app: RunningApp, api: Api, raw: OpenRaw
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    old = [await raw(app.url), await raw(app.url)]
    for viewer in old:
        await viewer.join(room["shareToken"])
    reply = await api.call("POST", f"/api/rooms/{room['id']}/share-token")
    new_token = reply.body["shareToken"]
    assert reply.status == 200 and new_token != room["shareToken"]
    for viewer in old:
        [revoked] = viewer.arrived("error")
        assert (revoked["code"], revoked["roomId"]) == ("share_token_revoked", room["id"])
    fresh = await raw(app.url)
    assert await fresh.join(new_token) == {"ok": True, "roomId": room["id"]}
    refused = await old[0].join(room["shareToken"])
    assert refused["ok"] is False and refused["error"]["code"] == "room_not_found"
    await api.command(timer["id"], "start")
    assert fresh.arrived("timer-update")[0]["status"] == "running"
    for viewer in old:
        await barrier(viewer)
        assert viewer.arrived("timer-update") == []
