"""Security headers on every response, and CORS only for the origins in CORS_ORIGIN."""

from collections.abc import Callable
from typing import Any

import pytest

from tests.middleware.helpers import raw_exchange
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


def websocket_upgrade(origin: str | None = None) -> dict[str, str]:
    """The headers of a websocket handshake (from a browser page at `origin`)."""
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    return {**headers, "Origin": origin} if origin else headers


def ws_url(app: RunningApp) -> str:
    """The Socket.IO websocket endpoint of `app`."""
    return app.url + "/socket.io/?EIO=4&transport=websocket"


def assert_no_banner(headers: Any, what: str) -> None:
    """No Server header that names the language, the framework or a version."""
    server = headers.get("Server", "")
    assert server == "roomtimer", (what, server)


async def test_no_answer_names_python_or_aiohttp(app: RunningApp, api: Api) -> None:
    room = await api.room()
    share = room["shareToken"]
    html = {"Accept": "text/html"}
    answers = {
        "api": await api.call("GET", "/api/rooms"),
        "api 401": await api.call("GET", "/api/rooms", token=None),
        "api 404": await api.call("GET", "/api/rooms/no-such-token"),
        "api 405": await api.call("PATCH", "/api/rooms"),
        "api 413": await api.call("POST", "/api/rooms", data=b"x" * 20_000),
        "unknown route": await api.call("GET", "/no/such/page", headers=html),
        "HEAD": await api.call("HEAD", "/health"),
        "health": await api.call("GET", "/health"),
    }
    for what, reply in answers.items():
        assert_no_banner(reply.headers, what)
    for what, path in {
        "viewer page": f"/v/{share}",
        "viewer 404 page": "/v/no-such-token",
        "docs page": "/api/docs",
        "openapi": "/api/openapi.json",
        "metrics": "/metrics",
        "polling handshake": "/socket.io/?EIO=4&transport=polling",
        "socket.io 400": "/socket.io/?EIO=4&transport=polling&sid=unknown",
    }.items():
        async with api.session.get(app.url + path) as resp:
            assert resp.status < 500, what
            assert_no_banner(resp.headers, what)
    async with api.session.get(app.url + f"/v/{share}") as resp:
        script = next(p for p in (await resp.text()).split('"') if p.endswith("viewer.js"))
    async with api.session.get(app.url + script) as resp:
        assert resp.status == 200
        assert_no_banner(resp.headers, "static file")
    async with api.session.get(app.url + f"/api/rooms/{share}/events") as resp:
        assert resp.status == 200
        assert_no_banner(resp.headers, "event stream")
    upgrade = websocket_upgrade()
    async with api.session.get(ws_url(app), headers=upgrade) as resp:
        assert resp.status == 101
        assert_no_banner(resp.headers, "websocket 101")


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Probe: \x00\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"b" * 9000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS to a plain port\r\n\r\n",
        b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
        b"POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Many: b\r\n" * 200 + b"\r\n",
    ],
    ids=[
        "nul in header",
        "long path",
        "long header",
        "tls hello",
        "bad version",
        "two lengths",
        "200 headers",
    ],
)
async def test_what_aiohttp_refuses_itself_is_the_contracts_json(
    app: RunningApp, raw: bytes
) -> None:
    reply = await raw_exchange(app.url, raw)
    assert reply.status == 400
    assert reply.headers["server"] == "roomtimer"
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.headers["x-content-type-options"] == "nosniff"
    body = reply.json()
    assert body["error"] == {"code": "validation_error", "message": "Malformed HTTP request"}
    text = reply.body.decode()
    assert "aaaa" not in text and "bbbb" not in text and "bytearray" not in text


def csp_of(header: str) -> dict[str, str]:
    """A Content-Security-Policy as {directive: sources}."""
    parts = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


async def test_each_page_has_its_own_policy_and_no_inline_code(app: RunningApp, api: Api) -> None:
    room = await api.room()
    policies = {}
    for path in (f"/v/{room['shareToken']}", "/v/no-such-token", "/api/docs"):
        async with api.session.get(app.url + path) as resp:
            policies[path] = csp_of(resp.headers["Content-Security-Policy"])
            page = await resp.text()
        assert "unsafe-inline" not in str(policies[path]) and "unsafe-eval" not in str(
            policies[path]
        )
        assert (
            policies[path]["default-src"] == "'none'" and policies[path]["script-src"] == "'self'"
        )
        assert policies[path]["base-uri"] == "'none'" and policies[path]["form-action"] == "'none'"
        # No inline script or style the policy would have to allow (JSON data blocks run nothing).
        scripts = page.split("<script")[1:]
        assert all(
            " src=" in s.split(">")[0] or "application/json" in s.split(">")[0] for s in scripts
        )
        assert " style=" not in page and "<style" not in page and "onload=" not in page
    viewer, docs = policies[f"/v/{room['shareToken']}"], policies["/api/docs"]
    host = app.url.removeprefix("http://")
    assert viewer["connect-src"] == f"'self' ws://{host} wss://{host}"  # its Socket.IO
    assert viewer["frame-ancestors"] == "'self'" and viewer["font-src"] == "'self'"
    assert docs["connect-src"] == "'self'" and docs["img-src"] == "'self' data:"  # Swagger UI
    assert docs["frame-ancestors"] == "'none'" and "font-src" not in docs
    api_policy = csp_of((await api.call("GET", "/api/rooms")).headers["Content-Security-Policy"])
    assert api_policy == {"default-src": "'none'", "frame-ancestors": "'none'"}


async def test_socket_io_without_cors_origin_accepts_only_its_own_origin(
    app: RunningApp, api: Api
) -> None:
    polling = app.url + "/socket.io/?EIO=4&transport=polling"
    async with api.session.get(polling, headers={"Origin": EVIL}) as resp:
        assert resp.status == 400 and "Access-Control-Allow-Origin" not in resp.headers
    async with api.session.options(polling, headers=preflight(EVIL, "GET")) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers
    async with api.session.get(polling, headers={"Origin": app.url}) as resp:
        assert resp.status == 200  # a page served by roomtimer itself (the viewer screen)
        assert "Access-Control-Allow-Credentials" not in resp.headers
    async with api.session.get(polling) as resp:  # no Origin: not a browser, never affected
        assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
    upgrade = websocket_upgrade(EVIL)
    async with api.session.get(ws_url(app), headers=upgrade) as resp:
        assert resp.status == 400  # a page elsewhere cannot open a websocket here either


async def test_socket_io_with_cors_origin_answers_listed_origins_only(start_app: Start) -> None:
    app: RunningApp = await start_app(CORS_ORIGIN=PANEL)
    polling = app.url + "/socket.io/?EIO=4&transport=polling"
    async with Api(app.url, None) as api:
        async with api.session.options(polling, headers=preflight(PANEL, "GET")) as resp:
            assert resp.headers.get("Access-Control-Allow-Origin") == PANEL
        async with api.session.options(polling, headers=preflight(EVIL, "GET")) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
        upgrade = websocket_upgrade(EVIL)
        async with api.session.get(ws_url(app), headers=upgrade) as resp:
            assert resp.status == 400
        upgrade["Origin"] = PANEL
        async with api.session.get(ws_url(app), headers=upgrade) as resp:
            assert resp.status == 101
