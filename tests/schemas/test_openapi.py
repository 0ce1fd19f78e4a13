"""GET /api/openapi.json: valid OpenAPI 3.1, every route in it, and true to what is answered."""

import asyncio
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.support.app import Api, RunningApp


async def fetch_document(app: RunningApp) -> dict[str, Any]:
    async with Api(app.url, None) as anonymous:
        reply = await anonymous.call("GET", "/api/openapi.json")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    return reply.body  # type: ignore[no-any-return]


async def test_the_document_is_valid_openapi_3_1(app: RunningApp) -> None:
    document = await fetch_document(app)
    validate(document)  # raises on any error
    assert document["openapi"] == "3.1.0"


async def test_every_route_is_in_the_document_and_nothing_else(app: RunningApp) -> None:
    document = await fetch_document(app)
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    served = set()
    for route in app.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        if route.method in ("HEAD", "*") or path.startswith("/socket.io"):
            continue
        if path.startswith(("/v/", "/static/")) or path == "/api/docs":
            continue  # the pages: HTML, not the API
        served.add((route.method, re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)))
    assert served == documented


def checker(document: dict[str, Any], method: str, path: str, status: int) -> Any:
    """A validator of one operation's documented answer for `status`."""
    answer = document["paths"][path][method.lower()]["responses"][str(status)]
    schema = answer["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": document["components"]})


async def test_answers_match_their_documented_schemas(app: RunningApp, api: Api) -> None:
    document = await fetch_document(app)
    seen: list[tuple[str, str, int]] = []

    async def call(method: str, template: str, path: str, body: Any = None) -> Any:
        reply = await api.call(method, path, body)
        checker(document, method, template, reply.status).validate(reply.body)
        seen.append((method, template, reply.status))
        return reply.body

    room = await call("POST", "/api/rooms", "/api/rooms", {"name": "Hall"})
    timer = await call(
        "POST", "/api/rooms/{id}/timers", f"/api/rooms/{room['id']}/timers",
        {"label": "Talk", "durationMs": 60_000, "warnAtMs": 10_000},
    )  # fmt: skip
    await call("POST", "/api/timers/{id}/start", f"/api/timers/{timer['id']}/start")
    await call("POST", "/api/timers/{id}/adjust", f"/api/timers/{timer['id']}/adjust",
               {"deltaMs": -120_000})  # fmt: skip
    await call("POST", "/api/timers/{id}/start", f"/api/timers/{timer['id']}/start")  # 409
    await call("PUT", "/api/timers/{id}", f"/api/timers/{timer['id']}", {"label": "Keynote"})
    await call("PUT", "/api/rooms/{id}/message", f"/api/rooms/{room['id']}/message",
               {"text": "Hi", "visible": True})  # fmt: skip
    await call("PUT", "/api/rooms/{key}", f"/api/rooms/{room['id']}", {"name": ""})  # 400
    await call("GET", "/api/rooms/{key}", f"/api/rooms/{room['shareToken']}")
    await call("GET", "/api/rooms", "/api/rooms?limit=1")
    await call("GET", "/api/stats/socket", "/api/stats/socket")
    await call("POST", "/api/rooms/{id}/share-token", f"/api/rooms/{room['id']}/share-token")
    await call("GET", "/api/rooms/{key}", "/api/rooms/no-such-token")  # 404
    statuses = {status for _, _, status in seen}
    assert statuses == {200, 201, 400, 404, 409}, seen


async def test_a_malformed_request_is_one_warning_not_an_error_with_a_traceback(
    server_factory: Any, tmp_path: Path
) -> None:
    server = await server_factory({"JWT_SECRET": "x" * 40}, workdir=tmp_path)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Probe: \x00\r\n\r\n")
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status.split(b" ")[1] == b"400"
    async with asyncio.timeout(5):
        while "BadHttpMessage" not in server.stderr():
            await asyncio.sleep(0.02)
    [line] = [line for line in server.stderr().splitlines() if "BadHttpMessage" in line]
    assert "WARNING" in line and "ERROR" not in server.stderr(), server.stderr()
    assert "Traceback" not in server.stderr() and "\\x00" not in line
