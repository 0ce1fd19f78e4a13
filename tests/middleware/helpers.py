"""Checks shared by the HTTP tests: the contract's error shape, and raw HTTP over sockets."""

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.support.app import Reply

# The contract's error codes, by HTTP status.
CODES = {
    400: {"invalid_json", "validation_error"},
    401: {"unauthorized"},
    403: {"forbidden"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    409: {"invalid_transition"},
    413: {"payload_too_large"},
    415: {"unsupported_media_type"},
    422: {"idempotency_conflict"},
    429: {"rate_limited"},
    500: {"internal_error"},
    503: {"unavailable"},
}


def assert_server_time(body: Any) -> int:
    """`serverTime` is an integer near the test's own clock; returns it."""
    assert isinstance(body, dict), body
    server_time = body["serverTime"]
    assert type(server_time) is int, body
    assert abs(server_time - time.time_ns() // 1_000_000) < 60_000
    return server_time


def assert_error_shape(status: int, body: Any) -> dict[str, Any]:
    """`{"error": {code, message, details?}, "serverTime"}` with a code fit for `status`."""
    assert isinstance(body, dict) and set(body) == {"error", "serverTime"}, body
    assert_server_time(body)
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "details"}, error
    assert error["code"] in CODES[status], (status, error)
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"]
    if "details" in error:
        for field, messages in error["details"].items():
            assert isinstance(field, str)
            assert messages and all(isinstance(m, str) for m in messages), error
    return error  # type: ignore[no-any-return]


def assert_error(reply: Reply, status: int, code: str) -> dict[str, Any]:
    """The reply is `status` with error `code` in the contract's shape; returns `error`."""
    assert reply.status == status, (reply.status, reply.body)
    error = assert_error_shape(status, reply.body)
    assert error["code"] == code, error
    return error


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


async def raw_exchange(url: str, data: bytes, *, timeout: float = 10.0) -> RawReply:
    """Writes `data` on a fresh connection and reads one response, all within `timeout`."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        async with asyncio.timeout(timeout):
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return RawReply(status, headers, body)


def http_request(
    method: str, path: str, headers: dict[str, str], body: bytes = b"", *, raw_head: str = ""
) -> bytes:
    """An HTTP/1.1 request as bytes; `raw_head` adds header lines verbatim."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n" + raw_head + "\r\n").encode() + body


def chunked(body: bytes, size: int = 4096) -> bytes:
    """`body` in Transfer-Encoding: chunked framing."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    framed = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces)
    return framed + b"0\r\n\r\n"
