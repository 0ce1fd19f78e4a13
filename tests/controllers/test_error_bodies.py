"""No error answer shows a stack trace, SQL, a file path or a library's name: hostile
paths, bad bodies and headers, and an unexpected failure (the database dropped under the
server), on HTTP, on the pages and on Socket.IO."""

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from tests.middleware.helpers import assert_error_shape, http_request, raw_exchange
from tests.support import services
from tests.support.app import Api, RunningApp, Viewer, run_app, settings_for

# Words that would give away how the server is built or what failed inside it.
INTERNALS = re.compile(
    r"traceback|File \"|\.py\b|site-packages|/home/|/work/|/usr/|/tmp/|python|aiohttp|"
    r"sqlalchemy|asyncpg|aiosqlite|sqlite|postgres|psycopg|marshmallow|orjson|socketio|"
    r"engineio|loguru|\bSELECT\b|\bINSERT\b|\bUPDATE\b|\bDELETE FROM\b|\bWHERE\b|rooms\.|"
    r"Exception|Error:|errno|bytearray|does not exist",
    re.IGNORECASE,
)

HOSTILE_PATHS = [
    "/static/x/../../../../etc/passwd",
    "/static/x/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/x/..%2f..%2fconfig.py",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/api/rooms/%00",
    "/api/rooms/%ff%fe",
    "/api/rooms/'%20OR%201=1%20--",
    "/api/rooms/x%22;DROP%20TABLE%20rooms;--/events",
    "/v/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/v/" + "A" * 2000,
    "/api/timers/%E2%80%AE/start",
    "/socket.io/?EIO=9&transport=polling",
    "/socket.io/?EIO=4&transport=carrier-pigeon",
    "/socket.io/?EIO=4&transport=polling&sid=%00",
    "/api/openapi.json/../../../etc/passwd",
    "/api/docs/..%5c..%5cwin.ini",
]


def assert_no_internals(what: str, body: bytes | str) -> None:
    """The body names nothing of the server's insides."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    found = INTERNALS.search(text)
    assert found is None, (what, found.group(0) if found else None, text[:300])


async def test_hostile_paths_and_bodies_get_plain_errors(app: RunningApp, api: Api) -> None:
    for path in HOSTILE_PATHS:
        for method in ("GET", "POST", "PUT", "DELETE"):
            async with api.session.request(method, app.url + path, data=b"{") as resp:
                body = await resp.read()
            assert resp.status < 500, (method, path)
            if resp.status >= 400:
                assert_no_internals(f"{method} {path}", body)
    room = await api.room()
    bodies: list[tuple[str, Any]] = [
        ("bad json", b'{"name": '),
        ("json with a NaN", b'{"name": NaN}'),
        ("deep json", b"[" * 100_000 + b"]" * 100_000),
        ("huge body", b'{"name": "' + b"x" * 200_000 + b'"}'),
        ("not utf-8", b'{"name": "\xff\xfe"}'),
        ("lone surrogate", b'{"name": "\\ud800"}'),
        ("huge integer", b'{"name": "x", "description": ' + b"9" * 5000 + b"}"),
        ("wrong types", b'{"name": ["x"], "description": {"a": 1}}'),
    ]
    json = {"Content-Type": "application/json"}
    for what, data in bodies:
        for method, path in [("POST", "/api/rooms"), ("PUT", f"/api/rooms/{room['id']}")]:
            reply = await api.call(method, path, data=data, headers=json)
            assert 400 <= reply.status < 500, (what, reply.status)
            assert_error_shape(reply.status, reply.body)
            assert_no_internals(what, str(reply.body))
    for what, raw in [
        ("nul in a header", http_request("GET", "/api/rooms", {"X-Probe": "a\x00b"})),
        ("8 KB header", http_request("GET", "/api/rooms", {"X-Big": "y" * 9000})),
        ("lying length", http_request("POST", "/api/rooms", {"Content-Length": "-1"})),
        ("bad chunking", http_request("POST", "/api/rooms", {"Transfer-Encoding": "chunked"},
                                      b"zz\r\nnope\r\n0\r\n\r\n")),
    ]:  # fmt: skip
        reply = await raw_exchange(app.url, raw)
        assert 400 <= reply.status < 500, what
        assert_no_internals(what, reply.body)


@pytest_asyncio.fixture
async def doomed(postgres_url: str) -> AsyncIterator[RunningApp]:
    """The app on a PostgreSQL database that the test drops under it."""
    async with run_app(settings_for(postgres_url)) as running:
        yield running


async def test_an_unexpected_failure_says_nothing_of_what_failed(
    doomed: RunningApp, postgres_url: str
) -> None:
    async with Api(doomed.url, doomed.token()) as api:
        room = await api.room()
        share = room["shareToken"]
        viewer = await Viewer(doomed.url).connect()
        try:
            await services.drop_database(services.database_url(), postgres_url)
            calls = [
                ("GET", f"/api/rooms/{share}"), ("GET", "/api/rooms"),
                ("POST", "/api/rooms"), ("PUT", f"/api/rooms/{room['id']}"),
                ("POST", f"/api/rooms/{room['id']}/share-token"), ("GET", "/api/stats/socket"),
                ("GET", f"/api/rooms/{share}/events"), ("GET", "/health"),
            ]  # fmt: skip
            for method, path in calls:
                async with api.session.request(
                    method, doomed.url + path, json={"name": "x"},
                    headers={"Authorization": f"Bearer {api.token}", "Accept": "text/html"},
                ) as resp:  # fmt: skip
                    body = await resp.read()
                assert resp.status in (500, 503), (method, path, resp.status)
                assert_no_internals(f"{method} {path}", body)
            async with api.session.get(f"{doomed.url}/v/{share}") as resp:
                assert resp.status >= 500
                assert_no_internals("viewer page", await resp.read())
            ack = await viewer.join(share)
            assert ack["ok"] is False and ack["error"]["code"] in ("internal_error", "unavailable")
            assert_no_internals("join-room", str(ack))
            assert_no_internals("error event", str(await viewer.next("error")))
        finally:
            await viewer.close()
