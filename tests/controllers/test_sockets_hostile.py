"""Hostile Socket.IO input: every handler answers with an error ack and the socket lives on."""

import json
from typing import Any

import aiohttp
import pytest
import socketio

from tests.support.app import Api, RunningApp, Viewer

EVENTS = ["join-room", "leave-room", "request-sync", "watch-rooms", "ping", "no-such-event"]


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"shareToken": value}
    return value


HOSTILE: dict[str, Any] = {
    "number": 5,
    "string": "x" * 60_000,  # under the 64 KiB message cap
    "list": [{"shareToken": "a"}],
    "null": None,
    "boolean": True,
    "deep": nested(200),  # the client encodes with orjson too (its limit is 254)
    "binary": b"\x00\xff" * 1000,
    "binary token": {"shareToken": b"\x00\x01"},
    "list token": {"shareToken": ["a"]},
    "huge token": {"shareToken": "t" * 40_000},
    "NUL token": {"shareToken": "\x00"},
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_each_handler_refuses_hostile_payloads_and_the_socket_lives_on(
    app: RunningApp, name: str
) -> None:
    payload = HOSTILE[name]
    viewer = await Viewer(app.url, transports=["websocket"]).connect()
    try:
        for event in EVENTS:
            ack = await viewer.client.call(event, payload, timeout=10)
            if event == "ping":  # takes no payload: extra arguments are ignored
                assert set(ack) == {"serverTime"}, ack
                continue
            if event == "no-such-event":  # no handler: python-socketio acks with nothing
                assert ack is None
                continue
            assert ack["ok"] is False, (event, ack)
            assert ack["error"]["code"] in ("invalid_payload", "room_not_found", "unauthorized")
        assert set(await viewer.client.call("ping", timeout=10)) == {"serverTime"}
    finally:
        await viewer.close()


async def test_a_message_over_the_cap_closes_only_that_socket(app: RunningApp, api: Api) -> None:
    room = await api.room()
    bystander = await Viewer(app.url, transports=["websocket"]).connect()
    flooder = socketio.AsyncClient(reconnection=False)
    gone: list[Any] = []
    flooder.on("disconnect", lambda *reason: gone.append(reason))
    try:
        assert (await bystander.join(room["shareToken"]))["ok"] is True
        await flooder.connect(app.url, transports=["websocket"], wait_timeout=10)
        await flooder.emit("join-room", {"shareToken": "x" * 200_000})
        await flooder.wait()  # returns once the server has closed it
        assert gone
        assert set(await bystander.client.call("ping", timeout=10)) == {"serverTime"}
        timer = await api.timer(room["id"])
        await api.command(timer["id"], "start")
        assert (await bystander.next("timer-update"))["id"] == timer["id"]
    finally:
        await bystander.close()
        await flooder.shutdown()


@pytest.mark.parametrize(
    "payload",
    [
        '{"shareToken":"\\ud800"}',  # a lone surrogate: no JSON parser takes it
        '{"a":' * 3000 + "1" + "}" * 3000,  # deeper than the parser goes
        '{"shareToken": tru',  # cut short
    ],
    ids=["lone surrogate", "nested 3000 deep", "truncated"],
)
async def test_an_unreadable_event_gets_invalid_payload_and_its_ack(
    app: RunningApp, payload: str
) -> None:
    url = app.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        assert (await ws.receive_str(timeout=10)).startswith("0")  # Engine.IO open
        await ws.send_str("40")
        assert (await ws.receive_str(timeout=10)).startswith("40")  # Socket.IO connected
        await ws.send_str('427["join-room",' + payload + "]")  # ack id 7
        answers = [await ws.receive_str(timeout=10) for _ in range(2)]
        error = json.loads(next(a for a in answers if a.startswith("42"))[2:])
        ack = json.loads(next(a for a in answers if a.startswith("437"))[3:])
        assert error[0] == "error" and error[1]["code"] == "invalid_payload"
        assert ack == [
            {
                "ok": False,
                "error": {"code": "invalid_payload", "message": ack[0]["error"]["message"]},
            }
        ]
        await ws.send_str('428["ping"]')
        assert json.loads((await ws.receive_str(timeout=10))[3:])[0]["serverTime"] > 0
