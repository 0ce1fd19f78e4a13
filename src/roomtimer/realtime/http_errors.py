"""The answers aiohttp writes by itself, in the contract's shape and with no version banner.

A request aiohttp cannot parse (a NUL in a header, a request line over 8 KB) never reaches
the app: `RequestHandler.handle_error` answers it in plain text that echoes the request's
bytes in a Python repr, names no route, so no `on_response_prepare` hook runs, and carries
`Server: Python/3.11 aiohttp/…`. `install` wraps that method (checked by `compat`) so the
answer is the contract's JSON error with the security headers; aiohttp still logs it.
"""

import time
from typing import Any

from aiohttp import web, web_protocol
from loguru import logger

from roomtimer.realtime import compat
from roomtimer.render import API_HEADERS, SERVER, error_response

_MARK = "_roomtimer_contract_errors"


def contract_answer(status: int) -> web.Response:
    """The contract's error for what aiohttp refused itself: no detail, nothing echoed."""
    now = time.time_ns() // 1_000_000
    if status < 500:
        response = error_response(now, 400, "validation_error", "Malformed HTTP request")
    else:
        response = error_response(now, 500, "internal_error", "Internal server error")
    # No hook runs on these answers: the headers it would add, set here.
    response.headers.update(API_HEADERS)
    response.headers["Server"] = SERVER
    response.force_close()
    return response


def install() -> bool:
    """Wraps aiohttp's own error answers once per process; False if its shape changed."""
    report = compat.check_error_answers()
    if not report.ok:
        missing = ", ".join(report.missing)
        logger.warning("aiohttp differs from 3.14.5, its own error answers stay: {}", missing)
        return False
    handler_class: Any = web_protocol.RequestHandler
    original = handler_class.handle_error
    if getattr(original, _MARK, False):
        return True

    def handle_error(
        self: Any,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        original(self, request, status, exc, message)  # logs it, refuses a half-sent answer
        return contract_answer(status)

    setattr(handle_error, _MARK, True)
    handler_class.handle_error = handle_error
    return True
