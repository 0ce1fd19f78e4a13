"""JSON responses in the contract's shapes."""

from typing import Any

import orjson
from aiohttp import web

from roomtimer.clock import SystemClock

_clock = SystemClock()


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """`{"error": {code, message, details?}, "serverTime"}` with `status`."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return json_response({"error": error, "serverTime": _clock.now_ms()}, status, headers)
