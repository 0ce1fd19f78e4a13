"""Request ids on every response, and logs that never carry a bearer or share token."""

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger

from tests.support.app import Api, RunningApp, Viewer


class Captured:
    """Every log record the app emits while the capture is on: loguru and stdlib."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.lines: list[str] = []

    def sink(self, message: Any) -> None:
        """loguru sink: keeps the formatted line (traceback included) and the record."""
        self.lines.append(str(message))
        self.records.append(message.record)

    def text(self, caplog: pytest.LogCaptureFixture) -> str:
        """All of it as one text."""
        stdlib = [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
        return "\n".join(self.lines + stdlib)


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[Captured]:
    """The app's log output from DEBUG up, including tracebacks with their variables."""
    caplog.set_level(logging.INFO)
    capture = Captured()
    sink = logger.add(
        capture.sink, level="DEBUG", format="{message} {extra}", backtrace=True, diagnose=True
    )
    try:
        yield capture
    finally:
        logger.remove(sink)


async def test_a_valid_request_id_is_echoed(api: Api) -> None:
    for path in ["/api/rooms", "/health", "/api/rooms/unknown", "/nowhere"]:
        reply = await api.call("GET", path, headers={"X-Request-Id": "trace-42.a_b"})
        assert reply.headers["X-Request-Id"] == "trace-42.a_b", path


async def test_a_request_id_is_made_up_when_missing_or_unsafe(api: Api) -> None:
    seen = set()
    for incoming in [None, "", "has spaces", "x" * 200, "new\\nline", "<script>"]:
        headers = {"X-Request-Id": incoming} if incoming is not None else {}
        reply = await api.call("GET", "/api/rooms", headers=headers)
        request_id = reply.headers["X-Request-Id"]
        assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", request_id), request_id
        assert request_id != incoming
        seen.add(request_id)
    assert len(seen) == 6


async def test_error_responses_carry_the_request_id(api: Api) -> None:
    headers = {"X-Request-Id": "err-1"}
    as_json = {**headers, "Content-Type": "application/json"}
    for reply in [
        await api.call("GET", "/api/rooms", token=None, headers=headers),
        await api.call("POST", "/api/rooms", data=b"x" * 20_000, headers=headers),
        await api.call("PATCH", "/api/rooms", headers=headers),
        await api.call("POST", "/api/rooms", data=b"{", headers=as_json),
    ]:
        assert reply.headers["X-Request-Id"] == "err-1", reply.status


async def test_each_request_is_logged_once_with_its_id_and_route(
    api: Api, captured: Captured
) -> None:
    room = await api.room()
    await api.call("GET", f"/api/rooms/{room['shareToken']}", headers={"X-Request-Id": "r-77"})
    tagged = [r for r in captured.records if r["extra"].get("request_id") == "r-77"]
    assert len(tagged) == 1
    assert "/api/rooms/{key}" in tagged[0]["message"] and "200" in tagged[0]["message"]


async def test_logs_never_contain_tokens(
    app: RunningApp, api: Api, captured: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    old_share = room["shareToken"]
    bob = app.token("bob")
    viewer = await Viewer(app.url).connect()
    try:
        assert (await viewer.join(old_share))["ok"] is True
        await api.call("GET", f"/api/rooms/{old_share}", token=None)
        await api.call("GET", f"/api/rooms/{old_share}x", token=None)  # an unknown token
        await api.command(timer["id"], "start")
        await api.call("PUT", f"/api/timers/{timer['id']}", {"label": "x"}, token=bob)
        await api.call("GET", "/api/rooms", headers={"Authorization": f"Bearer {bob}x"})
        await api.call("GET", "/api/rooms", headers={"Authorization": f"Basic {bob}"})
        await api.call("POST", "/api/rooms", data=b'{"name": "\\ud800"}',
                       headers={"Content-Type": "application/json"})  # fmt: skip
        rotated = await api.call("POST", f"/api/rooms/{room['id']}/share-token")
        new_share = rotated.body["shareToken"]
        await api.call("GET", f"/api/rooms/{new_share}", token=None)
        await api.call("GET", f"/api/rooms/{new_share}/share-token", token=None)
    finally:
        await viewer.close()
    text = captured.text(caplog)
    assert "/api/rooms/{key}" in text  # the capture did see the requests
    for secret in [api.token, bob, old_share, new_share, app.settings.jwt_secret]:
        assert secret is not None and secret not in text
    # Nor a recognisable piece of one (a JWT's signature, a token's first half).
    for token in [api.token, bob]:
        assert token is not None and token.split(".")[2] not in text
    assert old_share[:16] not in text and new_share[:16] not in text
