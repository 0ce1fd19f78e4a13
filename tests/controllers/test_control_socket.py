"""Control sockets: `auth: {token}`, `watch-rooms`, every event of every room of the owner."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
import socketio

from tests.support import app as support
from tests.support.app import Api, RunningApp, Viewer
from tests.support.jsclient import JsViewer

StartViewer = Callable[..., Awaitable[JsViewer]]


@pytest_asyncio.fixture
async def sqlite_app(sqlite_url: str) -> AsyncIterator[RunningApp]:
    async with support.run_app(support.settings_for(sqlite_url)) as running:
        yield running


async def test_an_owner_watches_every_room_including_rooms_made_later(
    app: RunningApp, api: Api
) -> None:
    first = await api.room(name="Hall")
    timer = await api.timer(first["id"])
    async with Api(app.url, app.token("bob")) as bob:
        bobs = await bob.room(name="Bob's")
        bobs_timer = await bob.timer(bobs["id"])
        control = await Viewer(app.url).connect(auth={"token": app.token("alice")})
        try:
            ack = await control.client.call("watch-rooms", timeout=10)
            assert ack["ok"] is True and [r["id"] for r in ack["rooms"]] == [first["id"]]
            assert ack["rooms"][0]["shareToken"] == first["shareToken"]  # the owner's view
            await api.command(timer["id"], "start")
            update = await control.next("timer-update")
            assert (update["id"], update["status"]) == (timer["id"], "running")
            later = await api.room(name="Made later")
            made = await api.timer(later["id"], label="New")
            assert (await control.next("timer-created"))["id"] == made["id"]
            await bob.command(bobs_timer["id"], "start")  # not alice's: never delivered
            assert (await api.call("DELETE", f"/api/rooms/{later['id']}")).status == 204
            assert (await control.next("room-deleted"))["id"] == later["id"]
            updates = [e["id"] for e in control.events("timer-update")]
            assert bobs_timer["id"] not in updates
        finally:
            await control.close()


async def test_a_viewer_socket_cannot_watch_rooms(app: RunningApp) -> None:
    viewer = await Viewer(app.url).connect()
    try:
        ack = await viewer.client.call("watch-rooms", timeout=10)
        assert ack == {
            "ok": False,
            "error": {"code": "unauthorized", "message": ack["error"]["message"]},
        }
        assert (await viewer.next("error"))["code"] == "unauthorized"
    finally:
        await viewer.close()


@pytest.mark.parametrize("token", ["not-a-jwt", "", 42, None])
async def test_a_bad_token_refuses_the_connection_with_unauthorized(
    app: RunningApp, token: Any
) -> None:
    client = socketio.AsyncClient(reconnection=False)
    refused: list[Any] = []
    client.on("connect_error", refused.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(app.url, auth={"token": token}, wait_timeout=10)
    assert refused and refused[0]["data"]["code"] == refused[0]["code"] == "unauthorized"
    await client.shutdown()


async def test_an_expired_or_foreign_token_is_refused(app: RunningApp) -> None:
    for token in (
        support.make_token("alice", ttl_s=-10),
        support.make_token("alice", secret="x" * 40),
    ):
        client = socketio.AsyncClient(reconnection=False)
        refused: list[Any] = []
        client.on("connect_error", refused.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(app.url, auth={"token": token}, wait_timeout=10)
        assert refused[0]["data"]["code"] == "unauthorized"
        await client.shutdown()


async def test_the_stock_js_client_watches_rooms_and_is_refused_with_a_bad_token(
    sqlite_app: RunningApp, js_viewers: StartViewer
) -> None:
    async with Api(sqlite_app.url, sqlite_app.token("alice")) as api:
        room = await api.room()
        timer = await api.timer(room["id"])
        control = await js_viewers(sqlite_app.url, auth={"token": sqlite_app.token("alice")})
        await control.wait_for("connect")
        ack = await control.emit("watch-rooms")
        assert ack["ok"] is True and [r["id"] for r in ack["rooms"]] == [room["id"]]
        reply = await api.command(timer["id"], "start")
        update = (await control.wait_for("timer-update"))["data"]
        assert update["version"] == reply.body["version"]
    refused = await js_viewers(sqlite_app.url, auth={"token": "forged"}, reconnection=False)
    error = await refused.wait_for("connect_error")
    assert error["data"]["data"]["code"] == "unauthorized"
