"""GET /api/rooms/{shareToken}/events: a room's events as server-sent events."""

import asyncio
import gc
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from roomtimer import keys
from tests.support import app as support
from tests.support.app import Api, RunningApp, Viewer
from tests.support.streams import TIMEOUT, open_stream


@pytest_asyncio.fixture
async def sqlite_app(sqlite_url: str) -> AsyncIterator[RunningApp]:
    async with support.run_app(support.settings_for(sqlite_url)) as running:
        yield running


async def test_a_stream_starts_with_room_state_then_carries_the_socket_events(
    app: RunningApp, api: Api
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    viewer = await Viewer(app.url).connect()
    async with aiohttp.ClientSession() as session:
        stream = await open_stream(session, app.url, room["shareToken"])
        try:
            name, state = await stream.next()  # type: ignore[misc]
            assert name == "room-state" and state["room"]["id"] == room["id"]
            assert [t["id"] for t in state["timers"]] == [timer["id"]]
            await viewer.join(room["shareToken"])
            started = await api.command(timer["id"], "start")
            update = await stream.until("timer-update")
            assert update == await viewer.next("timer-update")  # same name, same payload
            assert update["version"] == started.body["version"]
            reply = await api.call(
                "PUT", f"/api/rooms/{room['id']}/message", {"text": "Hi", "visible": True}
            )
            assert await stream.until("room-message") == reply.body
        finally:
            stream.response.close()
            await viewer.close()


async def test_quiet_streams_get_a_comment_every_heartbeat(
    sqlite_app: RunningApp,
) -> None:
    sqlite_app.app[keys.room_streams].heartbeat_s = 0.2
    async with Api(sqlite_app.url, sqlite_app.token()) as api:
        room = await api.room()
    async with aiohttp.ClientSession() as session:
        stream = await open_stream(session, sqlite_app.url, room["shareToken"])
        await stream.next()
        with pytest.raises(TimeoutError):
            await stream.next(timeout=1.0)  # nothing happens in the room...
        assert stream.comments >= 3  # ...yet the stream spoke
        stream.response.close()


@pytest.mark.parametrize("ending", ["delete", "rotate"])
async def test_a_stream_ends_cleanly_when_its_room_is_deleted_or_its_link_replaced(
    app: RunningApp, api: Api, ending: str
) -> None:
    room = await api.room()
    async with aiohttp.ClientSession() as session:
        stream = await open_stream(session, app.url, room["shareToken"])
        await stream.next()
        if ending == "delete":
            assert (await api.call("DELETE", f"/api/rooms/{room['id']}")).status == 204
            last = await stream.until("room-deleted")
            assert last["id"] == room["id"]
        else:
            assert (await api.call("POST", f"/api/rooms/{room['id']}/share-token")).status == 200
            last = await stream.until("error")
            assert last["code"] == "share_token_revoked"
        assert await stream.next() is None  # then the server ends the response
    assert list(app.app[keys.room_streams].streams()) == []


async def test_an_unknown_share_token_is_a_404_in_the_contract_shape(app: RunningApp) -> None:
    async with Api(app.url, None) as anonymous:
        reply = await anonymous.call("GET", "/api/rooms/no-such-token/events")
    assert reply.status == 404 and reply.body["error"]["code"] == "not_found"


async def test_curl_reads_the_stream(sqlite_app: RunningApp, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    async with Api(sqlite_app.url, sqlite_app.token()) as api:
        room = await api.room()
        timer = await api.timer(room["id"])
        url = f"{sqlite_app.url}/api/rooms/{room['shareToken']}/events"
        proc = await asyncio.create_subprocess_exec(
            curl, "-sN", "--max-time", "20", url, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None
        try:
            read = proc.stdout.readuntil
            assert await asyncio.wait_for(read(b"\n\n"), TIMEOUT) == b"retry: 3000\n\n"
            first = await asyncio.wait_for(read(b"\n\n"), TIMEOUT)
            assert first.startswith(b"event: room-state\ndata: {")
            await api.command(timer["id"], "start")
            update = await asyncio.wait_for(read(b"\n\n"), TIMEOUT)
            assert update.startswith(b"event: timer-update\ndata: {")
            assert json.loads(update.split(b"data: ", 1)[1])["status"] == "running"
        finally:
            proc.kill()
            await proc.wait()


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def open_and_drop(app: RunningApp, token: str, count: int) -> None:
    """Opens `count` streams, waits until each got its room-state, then drops them all."""
    streams = app.app[keys.room_streams]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        opened = await asyncio.gather(*(open_stream(session, app.url, token) for _ in range(count)))
        await asyncio.gather(*(s.next() for s in opened))
        assert len(list(streams.streams())) == count
        for stream in opened:
            stream.response.close()  # the client goes away without a word
    async with asyncio.timeout(TIMEOUT):  # each handler notices within its gone-check
        while list(streams.streams()):
            await asyncio.sleep(0.05)


async def test_1000_dropped_streams_leave_no_task_and_no_memory_behind(
    sqlite_app: RunningApp,
) -> None:
    async with Api(sqlite_app.url, sqlite_app.token()) as api:
        room = await api.room()
    tasks_before = len(asyncio.all_tasks())
    await open_and_drop(sqlite_app, room["shareToken"], 1000)  # warms every pool up
    # A leak grows every round alike; the allocator's own steps (this process has run other
    # tests) come now and then: so the smaller of two rounds' growth must stay small.
    grown_kb = []
    for _ in range(2):
        gc.collect()
        rss_warm = rss_kb()
        await open_and_drop(sqlite_app, room["shareToken"], 1000)
        async with asyncio.timeout(TIMEOUT):  # aiohttp ends each handler's task as it returns
            while len(asyncio.all_tasks()) > tasks_before:
                await asyncio.sleep(0.05)
        gc.collect()
        grown_kb.append(rss_kb() - rss_warm)
    assert min(grown_kb) < 4 * 1024, f"RSS grew {grown_kb} KB over rounds of 1000 streams"
