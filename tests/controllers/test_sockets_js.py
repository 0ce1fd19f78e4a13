"""The stock JavaScript socket.io-client 4.8 (in node) against the real server.

SQLite only: the subject is the wire protocol on each transport, which no database changes;
both databases are covered by the python-client tests of the same events. Each case costs a
node start-up, so running it twice would only slow the suite.
"""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from tests.support import app as support
from tests.support.app import Api, RunningApp
from tests.support.jsclient import JsViewer

StartViewer = Callable[..., Awaitable[JsViewer]]


@pytest_asyncio.fixture
async def sqlite_app(sqlite_url: str) -> AsyncIterator[RunningApp]:
    async with support.run_app(support.settings_for(sqlite_url)) as running:
        yield running


@pytest_asyncio.fixture
async def sqlite_api(sqlite_app: RunningApp) -> AsyncIterator[Api]:
    async with Api(sqlite_app.url, sqlite_app.token("alice")) as client:
        yield client


def index_of(viewer: JsViewer, match: Callable[[dict[str, Any]], bool]) -> int:
    return next(i for i, line in enumerate(viewer.lines) if match(line))


@pytest.mark.parametrize(
    ("transports", "carrier"),
    [(None, "websocket"), ("websocket", "websocket"), ("polling", "polling")],
    ids=["polling-then-upgrade", "websocket-only", "polling-only"],
)
async def test_stock_js_client_joins_follows_and_pings(
    sqlite_app: RunningApp,
    sqlite_api: Api,
    js_viewers: StartViewer,
    transports: str | None,
    carrier: str,
) -> None:
    room = await sqlite_api.room()
    timer = await sqlite_api.timer(room["id"])
    viewer = await js_viewers(sqlite_app.url, transports=transports)
    connected = await viewer.wait_for("connect")
    if transports is None:  # it may have upgraded already by the time it is connected
        assert (await viewer.wait_for("upgrade"))["transport"] == "websocket"
    else:
        assert connected["transport"] == transports

    ack = await viewer.emit("join-room", {"shareToken": room["shareToken"]})
    assert ack == {"ok": True, "roomId": room["id"]}
    state = (await viewer.wait_for("room-state"))["data"]
    assert state["room"]["id"] == room["id"] and state["userCount"] >= 1
    assert [t["id"] for t in state["timers"]] == [timer["id"]]
    state_at = index_of(viewer, lambda line: line.get("name") == "room-state")
    assert state_at < index_of(viewer, lambda line: line.get("type") == "ack")

    reply = await sqlite_api.command(timer["id"], "start")
    update = await viewer.wait_for("timer-update")
    assert update["transport"] == carrier
    assert update["data"]["version"] == reply.body["version"] == 2
    assert update["data"]["endsAt"] == reply.body["endsAt"]

    before = time.time_ns() // 1_000_000
    pinged = await viewer.emit("ping")
    assert set(pinged) == {"serverTime"} and pinged["serverTime"] >= before
    await viewer.emit("ping", ack=False)
    assert (await viewer.wait_for("pong"))["data"]["serverTime"] >= before

    for bad in ("not-an-object", {"shareToken": 7}):
        refused = await viewer.emit("join-room", bad)
        assert refused["ok"] is False and refused["error"]["code"] == "invalid_payload"
        assert (await viewer.wait_for("error"))["data"]["code"] == "invalid_payload"
    refused = await viewer.emit("join-room")
    assert refused["error"]["code"] == "invalid_payload"
    unknown = await viewer.emit("join-room", {"shareToken": "no-such-token"})
    assert unknown["error"]["code"] == "room_not_found"
    assert [line["data"]["code"] for line in viewer.lines if line.get("name") == "error"] == [
        "invalid_payload", "invalid_payload", "invalid_payload", "room_not_found",
    ]  # fmt: skip
    if transports == "polling":
        assert not any(line["type"] == "upgrade" for line in viewer.lines)
    assert not any(line["type"] in ("disconnect", "connect_error") for line in viewer.lines)
