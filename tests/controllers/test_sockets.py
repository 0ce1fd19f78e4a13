"""Socket.IO requests of viewers, seen through python-socketio's client.

Absence of an event is checked behind a barrier, never a sleep: a `ping` with an ack goes
over the same connection, and the server answers in order, so anything sent to the viewer
before it has been recorded by the time its ack is back.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import socketio
from loguru import logger

from roomtimer import keys
from tests.support import app as support
from tests.support.app import Api, RunningApp, Viewer
from tests.support.clock import now_ms

Connect = Callable[..., Awaitable[Viewer]]
MISSING = object()
TIMER_KEYS = {
    "id", "roomId", "label", "durationMs", "status", "remainingMs", "endsAt", "position",
    "version", "createdAt", "updatedAt",
}  # fmt: skip


@pytest_asyncio.fixture
async def connect() -> AsyncIterator[Connect]:
    """`await connect(url, transports=None)` → a connected Viewer (websocket unless told)."""
    opened: list[Viewer] = []

    async def open_viewer(url: str, transports: list[str] | None = None) -> Viewer:
        viewer = Viewer(url, transports or ["websocket"])
        opened.append(viewer)
        return await viewer.connect()

    yield open_viewer
    await asyncio.gather(*(viewer.close() for viewer in opened))


async def emit(viewer: Viewer, event: str, payload: Any = MISSING) -> Any:
    """`event` with an ack callback (and no payload at all when MISSING)."""
    if payload is MISSING:
        return await viewer.client.call(event, timeout=10)
    return await viewer.client.call(event, payload, timeout=10)


async def barrier(viewer: Viewer) -> None:
    """Returns once everything the server sent this viewer before now has been recorded."""
    assert "serverTime" in await emit(viewer, "ping")


def assert_refused(ack: Any, viewer: Viewer, code: str) -> None:
    """The ack says `code`, and so does the last `error` event the viewer holds."""
    assert ack == {"ok": False, "error": {"code": code, "message": ack["error"]["message"]}}
    assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
    error = viewer.events("error")[-1]
    assert (error["code"], error["message"]) == (code, ack["error"]["message"])
    assert isinstance(error["serverTime"], int)


@pytest.mark.parametrize(
    "transports",
    [["polling", "websocket"], ["polling"], ["websocket"]],
    ids=["polling-then-upgrade", "polling-only", "websocket-only"],
)
async def test_join_sends_room_state_then_acks(
    app: RunningApp, api: Api, connect: Connect, transports: list[str]
) -> None:
    room = await api.room(name="Hall B", description="Talks")
    second = await api.timer(room["id"], label="Q&A", position=5)
    first = await api.timer(room["id"], label="Keynote", position=1)
    viewer = await connect(app.url, transports)
    before = now_ms()
    ack = await viewer.join(room["shareToken"])
    assert ack == {"ok": True, "roomId": room["id"]}
    [state] = viewer.events("room-state")  # already there when the ack arrived
    assert set(state) == {"room", "timers", "message", "userCount", "serverTime"}
    assert state["room"] == {"id": room["id"], "name": "Hall B", "description": "Talks"}
    assert [t["id"] for t in state["timers"]] == [first["id"], second["id"]]
    assert all(TIMER_KEYS <= set(t) for t in state["timers"])
    assert state["timers"][0]["status"] == "idle" and state["timers"][0]["version"] == 1
    assert state["userCount"] >= 1
    assert before <= state["serverTime"] <= now_ms()


async def test_bad_join_payloads_are_refused_by_ack_and_error_event(
    app: RunningApp, api: Api, connect: Connect
) -> None:
    room = await api.room()
    viewer = await connect(app.url)
    bad: list[Any] = [
        MISSING, "a-token", 42, [room["shareToken"]], {}, {"token": room["shareToken"]},
        {"shareToken": 5}, {"shareToken": None}, {"shareToken": ["x"]}, {"shareToken": ""},
        {"shareToken": "x" * 10_000},
    ]  # fmt: skip
    for payload in bad:
        ack = await emit(viewer, "join-room", payload)
        assert_refused(ack, viewer, "invalid_payload")
    assert len(viewer.events("error")) == len(bad)
    assert viewer.events("room-state") == []
    assert (await viewer.join(room["shareToken"]))["ok"] is True  # still connected and usable


async def test_unknown_share_token_is_room_not_found(
    app: RunningApp, api: Api, connect: Connect
) -> None:
    viewer = await connect(app.url)
    ack = await viewer.join("no-such-room-token-" + "A" * 20)
    assert_refused(ack, viewer, "room_not_found")
    assert viewer.events("room-state") == []


async def test_leave_room_stops_room_events(app: RunningApp, api: Api, connect: Connect) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    stayer, leaver = await connect(app.url), await connect(app.url)
    for viewer in (stayer, leaver):
        await viewer.join(room["shareToken"])
    assert await emit(leaver, "leave-room", {"shareToken": room["shareToken"]}) == {"ok": True}
    assert (await api.command(timer["id"], "start")).status == 200
    assert (await stayer.next("timer-update"))["status"] == "running"
    await barrier(leaver)
    assert leaver.events("timer-update") == []
    ack = await emit(leaver, "request-sync", {"shareToken": room["shareToken"]})
    assert_refused(ack, leaver, "not_joined")


@pytest.mark.parametrize("event", ["leave-room", "request-sync"])
async def test_requests_for_a_room_not_joined_are_refused(
    app: RunningApp, api: Api, connect: Connect, event: str
) -> None:
    room = await api.room()
    viewer = await connect(app.url)
    for payload, code in [
        ({"shareToken": room["shareToken"]}, "not_joined"),
        ({"shareToken": "unknown"}, "room_not_found"),
        ({"nope": 1}, "invalid_payload"),
        (MISSING, "invalid_payload"),
    ]:
        assert_refused(await emit(viewer, event, payload), viewer, code)
    assert viewer.events("room-state") == []


async def test_request_sync_sends_fresh_room_state(
    app: RunningApp, api: Api, connect: Connect
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    viewer = await connect(app.url)
    await viewer.join(room["shareToken"])
    started = await api.command(timer["id"], "start")
    ack = await emit(viewer, "request-sync", {"shareToken": room["shareToken"]})
    assert ack == {"ok": True}
    first, fresh = viewer.events("room-state")
    [synced] = fresh["timers"]
    assert (synced["status"], synced["version"]) == ("running", 2)
    assert synced["endsAt"] == started.body["endsAt"]
    assert synced["remainingMs"] == synced["endsAt"] - fresh["serverTime"]
    assert fresh["serverTime"] >= first["serverTime"]


async def test_ping_answers_by_ack_or_else_by_pong(app: RunningApp, connect: Connect) -> None:
    viewer = await connect(app.url)
    before = now_ms()
    ack = await emit(viewer, "ping")
    assert set(ack) == {"serverTime"} and isinstance(ack["serverTime"], int)
    assert before <= ack["serverTime"] <= now_ms()
    await viewer.client.emit("ping")
    pong = await viewer.next("pong")
    assert set(pong) == {"serverTime"} and before <= pong["serverTime"] <= now_ms()
    assert viewer.events("error") == []


async def test_a_flooding_socket_is_told_once_then_cut_off_and_others_carry_on(
    app: RunningApp, connect: Connect
) -> None:
    calm = await connect(app.url)
    flooder = socketio.AsyncClient(reconnection=False)
    answers: list[str] = []
    gone = asyncio.Event()
    flooder.on("pong", lambda data: answers.append("pong"))
    flooder.on("error", lambda data: answers.append(data["code"]))
    flooder.on("disconnect", lambda *reason: gone.set())
    await flooder.connect(app.url, transports=["websocket"], wait_timeout=10)
    try:
        for _ in range(200):  # no acks: each allowed ping is answered by a `pong` event
            await flooder.emit("ping")
        async with asyncio.timeout(10):
            await gone.wait()  # cut off at twice the limit, by the server
        # 60 answered, one `rate_limited`, then nothing: the flood costs the server little.
        assert answers == ["pong"] * 60 + ["rate_limited"], answers[-5:]
        assert "serverTime" in await emit(calm, "ping")
    finally:
        await flooder.shutdown()


@pytest_asyncio.fixture
async def sqlite_app(sqlite_url: str) -> AsyncIterator[RunningApp]:
    """The app on SQLite only: user-count does not depend on the database."""
    async with support.run_app(support.settings_for(sqlite_url)) as running:
        yield running


async def test_a_socket_cut_while_its_joins_are_in_flight_is_cut_once_without_errors(
    sqlite_app: RunningApp, connect: Connect
) -> None:
    # bench/flood.js found it: the events read with the one that cut the socket were each
    # cut (and logged) again, and its joins still waiting on the database then failed
    # with an ERROR and a traceback apiece: thousands a second under a sustained flood.
    logged: list[Any] = []
    sink = logger.add(lambda message: logged.append(message.record), level="WARNING")
    async with Api(sqlite_app.url, sqlite_app.token()) as api:
        room = await api.room()
    flooder = socketio.AsyncClient(reconnection=False)
    gone = asyncio.Event()
    flooder.on("disconnect", lambda *reason: gone.set())
    # Connected first: the flooder's address (the same) is barred from new sockets a while.
    calm = await connect(sqlite_app.url)
    try:
        await flooder.connect(sqlite_app.url, transports=["websocket"], wait_timeout=10)
        for _ in range(300):
            await flooder.emit("join-room", {"shareToken": room["shareToken"]})
        async with asyncio.timeout(10):
            await gone.wait()
        # Its join queues behind the flooder's lookups.
        assert (await calm.join(room["shareToken"]))["ok"] is True
        await barrier(calm)
    finally:
        await flooder.shutdown()
        logger.remove(sink)
    cuts = [r for r in logged if "disconnected for flooding" in r["message"]]
    errors = [r["message"] for r in logged if r["level"].no >= 40]
    assert len(cuts) == 1 and errors == [], (len(cuts), errors[:3])


async def count_reaches(viewer: Viewer, count: int, timeout: float = 6.0) -> None:
    async with asyncio.timeout(timeout):
        while (await viewer.next("user-count"))["count"] != count:
            pass


def assert_paced(viewer: Viewer, room_id: str) -> None:
    """At most about one user-count a second, and never the same count twice in a row."""
    counts = viewer.events("user-count")
    assert all(set(c) == {"roomId", "count", "serverTime"} for c in counts)
    assert all(c["roomId"] == room_id for c in counts)
    times = [c["serverTime"] for c in counts]
    assert all(later - earlier >= 950 for earlier, later in zip(times, times[1:], strict=False))
    values = [c["count"] for c in counts]
    assert all(a != b for a, b in zip(values, values[1:], strict=False))


async def test_user_count_is_paced_and_follows_joins_leaves_and_disconnects(
    sqlite_app: RunningApp, connect: Connect
) -> None:
    url = sqlite_app.url
    async with Api(url, sqlite_app.token("alice")) as api:
        room = await api.room()
    token = room["shareToken"]
    watcher = await connect(url)
    await watcher.join(token)
    await count_reaches(watcher, 1)
    crowd = await asyncio.gather(*(connect(url) for _ in range(30)))
    burst_started = now_ms()
    await asyncio.gather(*(viewer.join(token) for viewer in crowd))
    await count_reaches(watcher, 31)
    burst_ms = now_ms() - burst_started
    for viewer in (watcher, *crowd):
        assert_paced(viewer, room["id"])
        assert len(viewer.events("user-count")) <= 2 + burst_ms // 1000
    leavers, quitters = crowd[:10], crowd[10:20]
    await asyncio.gather(*(emit(v, "leave-room", {"shareToken": token}) for v in leavers))
    await asyncio.gather(*(viewer.close() for viewer in quitters))
    await count_reaches(watcher, 11)
    assert_paced(watcher, room["id"])
    await barrier(crowd[-1])
    assert crowd[-1].events("user-count")[-1]["count"] == 11


async def test_a_polling_viewer_that_closes_has_its_pending_long_poll_answered_at_once(
    app: RunningApp,
) -> None:
    # python-engineio alone would hold the parked long-poll for 45 s (ping interval +
    # timeout), then answer 400; the Engine.IO protocol answers it NOOP (6) at once.
    base = app.url + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as reply:
            opened = json.loads((await reply.text())[1:])
        url = f"{base}&sid={opened['sid']}"
        async with http.post(url, data="40") as reply:
            assert reply.status == 200
        async with http.get(url) as reply:
            assert (await reply.text()).startswith("40")  # connected to the namespace
        pending = asyncio.create_task(http.get(url))
        queue = app.app[keys.sio].eio.sockets[opened["sid"]].queue
        async with asyncio.timeout(5):  # parked in the server: fast path's queue, or stock's
            while not (getattr(queue, "parked", 0) or getattr(queue, "_getters", None)):
                await asyncio.sleep(0.01)
        assert not pending.done()
        async with http.post(url, data="1") as reply:  # the client closes
            assert reply.status == 200
        started = time.monotonic()
        async with asyncio.timeout(5):
            answer = await pending
        assert answer.status == 200 and time.monotonic() - started < 2.0
        assert await answer.text() == "6"  # NOOP: the client closed, so not CLOSE (1)
    assert opened["sid"] not in app.app[keys.sio].eio.sockets


async def test_unknown_and_malformed_events_do_not_break_the_connection(
    app: RunningApp, connect: Connect
) -> None:
    viewer = await connect(app.url)
    await viewer.client.emit("no-such-event", {"x": 1})
    ack = await viewer.client.call(5, {"shareToken": "x"}, timeout=10)  # type: ignore[arg-type]
    assert_refused(ack, viewer, "invalid_payload")
    await barrier(viewer)
