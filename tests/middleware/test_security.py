"""Security headers on every response, and CORS only for the origins in CORS_ORIGIN."""

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.app import Api, RunningApp

Start = Callable[..., Any]
PANEL, WALL, EVIL = "https://panel.example", "https://wall.example", "https://evil.example"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    """The headers of a browser's CORS preflight."""
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_every_kind_of_response_carries_security_headers(app: RunningApp, api: Api) -> None:
    room = await api.room()
    replies = [
        await api.call("GET", "/api/rooms"),
        await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None),
        await api.call("POST", "/api/rooms", {"name": "Second"}),
        await api.call("GET", "/api/rooms", token=None),
        await api.call("GET", "/api/rooms/unknown-share-token"),
        await api.call("PATCH", "/api/rooms"),
        await api.call("POST", "/api/rooms", {"nope": 1}),
        await api.call("POST", "/api/rooms", data=b"x" * 20_000),
        await api.call("DELETE", f"/api/rooms/{room['id']}"),
        await api.call("GET", "/health"),
        await api.call("GET", "/no/such/page"),
    ]
    assert [r.status for r in replies] == [200, 200, 201, 401, 404, 405, 400, 413, 204, 200, 404]
    for reply in replies:
        for name, value in SECURITY_HEADERS.items():
            assert reply.headers.get(name) == value, (reply.status, name)
        assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
        assert reply.headers["Referrer-Policy"] == "no-referrer"
    async with api.session.get(app.url + "/metrics") as resp:
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_websocket_upgrades_carry_security_headers(app: RunningApp, api: Api) -> None:
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    url = app.url + "/socket.io/?EIO=4&transport=websocket"
    async with api.session.get(url, headers=upgrade) as resp:
        assert resp.status == 101
        assert resp.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        for name, value in SECURITY_HEADERS.items():
            assert resp.headers.get(name) == value, name


async def test_json_responses_say_they_are_json(api: Api) -> None:
    for reply in [await api.call("GET", "/api/rooms"), await api.call("GET", "/nowhere")]:
        assert reply.headers["Content-Type"].split(";")[0] == "application/json"


@pytest.mark.parametrize("origin", [PANEL, WALL])
async def test_listed_origins_may_call_the_api_from_a_browser(
    start_app: Start, origin: str
) -> None:
    app: RunningApp = await start_app(CORS_ORIGIN=f"{PANEL}, {WALL}")
    async with Api(app.url, app.token()) as api:
        room = await api.room()
        for method, path in [
            ("POST", "/api/rooms"),
            ("PUT", f"/api/rooms/{room['id']}"),
            ("DELETE", f"/api/rooms/{room['id']}"),
            ("POST", "/api/timers/any/start"),
        ]:
            reply = await api.call("OPTIONS", path, token=None, headers=preflight(origin, method))
            assert reply.status == 200, (method, path)
            assert reply.headers["Access-Control-Allow-Origin"] == origin
            assert method in reply.headers["Access-Control-Allow-Methods"]
            allowed = reply.headers["Access-Control-Allow-Headers"].lower()
            assert "authorization" in allowed and "content-type" in allowed
        listed = await api.call("GET", "/api/rooms", headers={"Origin": origin})
        assert listed.headers["Access-Control-Allow-Origin"] == origin
        denied = await api.call("GET", "/api/rooms", token=None, headers={"Origin": origin})
        assert denied.status == 401
        assert denied.headers["Access-Control-Allow-Origin"] == origin  # the panel can read why


async def test_other_origins_are_not_allowed(start_app: Start) -> None:
    app: RunningApp = await start_app(CORS_ORIGIN=PANEL)
    async with Api(app.url, app.token()) as api:
        for origin in [EVIL, "https://panel.example.evil.example", "http://panel.example", "null"]:
            reply = await api.call("OPTIONS", "/api/rooms", token=None, headers=preflight(origin))
            assert reply.status >= 400
            assert "Access-Control-Allow-Origin" not in reply.headers
            listed = await api.call("GET", "/api/rooms", headers={"Origin": origin})
            assert "Access-Control-Allow-Origin" not in listed.headers
        async with api.session.get(
            app.url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": EVIL}
        ) as resp:
            assert resp.status == 400 and "Access-Control-Allow-Origin" not in resp.headers
        async with api.session.get(
            app.url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": PANEL}
        ) as resp:
            assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == PANEL


async def test_without_cors_origin_no_browser_origin_is_allowed(app: RunningApp, api: Api) -> None:
    reply = await api.call("OPTIONS", "/api/rooms", token=None, headers=preflight(PANEL))
    assert reply.status >= 400 and "Access-Control-Allow-Origin" not in reply.headers
    listed = await api.call("GET", "/api/rooms", headers={"Origin": PANEL})
    assert listed.status == 200 and "Access-Control-Allow-Origin" not in listed.headers
