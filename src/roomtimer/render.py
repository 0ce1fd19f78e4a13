"""JSON responses in the contract's shapes."""

from typing import Any

import orjson
from aiohttp import web

from roomtimer.schemas import public

# Said instead of aiohttp's `Python/3.11 aiohttp/3.14.5`: a version banner only helps an
# attacker pick an exploit. aiohttp sets its own with setdefault, after
# middleware/security.py's hook; realtime/http_errors.py sets these where no hook runs.
SERVER = "roomtimer"
API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-site",
    "Cache-Control": "no-store",
}


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def error_response(
    now: int,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """`{"error": {code, message, details?}, "serverTime": now}` with `status`."""
    return json_response(public.error_body(code, message, now, details), status, headers)
