"""Request bodies: 16 KiB at most, enforced while reading, whatever the headers claim."""

import asyncio
import gzip
from typing import Any

from loguru import logger

from tests.middleware.helpers import (
    assert_error,
    assert_error_shape,
    chunked,
    http_request,
    raw_exchange,
)
from tests.support.app import Api, RunningApp

LIMIT = 16 * 1024
JSON = {"Content-Type": "application/json"}


def padded(size: int) -> bytes:
    """A valid room body of exactly `size` bytes (JSON white space as padding)."""
    core = b'{"name": "Padded"}'
    return core[:-1] + b" " * (size - len(core)) + b"}"


async def rooms(api: Api) -> list[dict[str, Any]]:
    """Alice's rooms."""
    reply = await api.call("GET", "/api/rooms")
    return reply.body["rooms"]  # type: ignore[no-any-return]


async def counted(api: Api, method: str, route: str) -> bool:
    """True once /metrics has counted a request to `route` (i.e. it has finished)."""
    async with api.session.get(api.base_url + "/metrics") as resp:
        text = await resp.text()
    return f'method="{method}",route="{route}"' in text


async def test_exactly_16_kib_is_accepted(api: Api) -> None:
    reply = await api.call("POST", "/api/rooms", data=padded(LIMIT), headers=JSON)
    assert reply.status == 201 and reply.body["name"] == "Padded"


async def test_one_byte_more_is_413_on_every_body_route(api: Api) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    for method, path in [
        ("POST", "/api/rooms"),
        ("PUT", f"/api/rooms/{room['id']}"),
        ("POST", f"/api/rooms/{room['id']}/timers"),
        ("POST", f"/api/rooms/{room['id']}/share-token"),
        ("PUT", f"/api/timers/{timer['id']}"),
        ("POST", f"/api/timers/{timer['id']}/adjust"),
        ("POST", f"/api/timers/{timer['id']}/start"),
    ]:
        reply = await api.call(method, path, data=padded(LIMIT + 1), headers=JSON)
        assert_error(reply, 413, "payload_too_large")
    assert [r["name"] for r in await rooms(api)] == ["Main hall"]


async def test_413_comes_before_authentication(api: Api) -> None:
    reply = await api.call("POST", "/api/rooms", data=padded(LIMIT * 4), headers=JSON, token=None)
    assert_error(reply, 413, "payload_too_large")


async def test_a_declared_oversize_length_is_refused_before_the_body_arrives(
    app: RunningApp, api: Api
) -> None:
    # Only the head is sent: the server must answer from Content-Length alone.
    head = http_request(
        "POST", "/api/rooms",
        {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json",
         "Content-Length": str(10 * 1024 * 1024)},
    )  # fmt: skip
    reply = await raw_exchange(app.url, head, timeout=10)
    assert reply.status == 413
    assert_error_shape(413, reply.json())


async def test_chunked_body_without_length_is_cut_off_at_16_kib(app: RunningApp, api: Api) -> None:
    headers = {
        "Authorization": f"Bearer {api.token}",
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    reply = await raw_exchange(
        app.url, http_request("POST", "/api/rooms", headers, chunked(padded(LIMIT * 3)))
    )
    assert reply.status == 413 and "content-length" in reply.headers
    assert reply.json()["error"]["code"] == "payload_too_large"
    small = await raw_exchange(
        app.url, http_request("POST", "/api/rooms", headers, chunked(padded(2000), size=100))
    )
    assert small.status == 201 and small.json()["name"] == "Padded"


async def test_a_small_lying_content_length_does_not_hang_or_smuggle(
    app: RunningApp, api: Api
) -> None:
    body = b'{"name": "' + b"x" * (LIMIT * 2) + b'"}'
    headers = {
        "Authorization": f"Bearer {api.token}",
        "Content-Type": "application/json",
        "Content-Length": "10",
    }
    reply = await raw_exchange(app.url, http_request("POST", "/api/rooms", headers, body))
    assert 400 <= reply.status < 500
    # The server still answers everyone, and nothing was created from the fragments.
    assert await rooms(api) == []
    assert (await api.call("GET", "/health")).status == 200


async def test_a_body_shorter_than_its_length_does_not_block_other_clients(
    app: RunningApp, api: Api
) -> None:
    host, port = app.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    writer.write(http_request("POST", "/api/rooms", {**headers, "Content-Length": "100"}, b"{"))
    await writer.drain()
    try:
        async with asyncio.timeout(5):
            assert (await api.call("POST", "/api/rooms", {"name": "Other"})).status == 201
            assert [r["name"] for r in await rooms(api)] == ["Other"]
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_client_leaving_mid_body_is_not_a_server_error(app: RunningApp, api: Api) -> None:
    errors: list[str] = []
    sink = logger.add(errors.append, level="ERROR", format="{message}")
    try:
        host, port = app.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
        request = http_request("POST", "/api/rooms", {**headers, "Content-Length": "100"}, b"{")
        writer.write(request)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        # The abandoned request is over once the server counts it; then check the logs.
        async with asyncio.timeout(5):
            while not await counted(api, "POST", "/api/rooms"):
                await asyncio.sleep(0.02)
    finally:
        logger.remove(sink)
    assert errors == []
    assert await rooms(api) == []


async def test_compressed_bodies_count_once_inflated(api: Api) -> None:
    headers = {**JSON, "Content-Encoding": "gzip"}
    small = await api.call("POST", "/api/rooms", data=gzip.compress(padded(4000)), headers=headers)
    assert small.status == 201 and small.body["name"] == "Padded"
    bomb = gzip.compress(padded(LIMIT * 64))
    assert len(bomb) < LIMIT
    reply = await api.call("POST", "/api/rooms", data=bomb, headers=headers)
    assert_error(reply, 413, "payload_too_large")


async def test_a_body_that_cannot_be_decoded_is_400(api: Api) -> None:
    headers = {**JSON, "Content-Encoding": "gzip"}
    reply = await api.call("POST", "/api/rooms", data=b"not gzip at all", headers=headers)
    assert_error(reply, 400, "invalid_json")
    assert await rooms(api) == []
