"""One middleware turns every failure into the contract's error shape."""

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from loguru import logger
from marshmallow import ValidationError

from roomtimer import keys
from roomtimer.errors import AppError, MethodNotAllowed, RateLimited, Unavailable
from roomtimer.infra import db as database
from roomtimer.render import error_response

HTTP_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "invalid_transition",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "idempotency_conflict",
    429: "rate_limited",
    503: "unavailable",
}


def app_error_response(exc: AppError, now: int) -> web.Response:
    """The response for a domain error."""
    headers: dict[str, str] = {}
    if isinstance(exc, MethodNotAllowed):
        headers["Allow"] = ", ".join(exc.allowed)
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    return error_response(now, exc.status, exc.code, exc.message, exc.details, headers)


def http_error_response(exc: web.HTTPException, now: int) -> web.Response:
    """aiohttp's own errors (router 404/405, oversize) in the contract's shape."""
    status = exc.status
    headers = {}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        message = f"Method {exc.method} not allowed"
    elif status == 404:
        message = "No such route"
    else:
        message = exc.reason
    code = HTTP_CODES.get(status, "internal_error" if status >= 500 else "validation_error")
    return error_response(now, status, code, message, headers=headers)


def _str_keys(messages: Any) -> Any:
    """marshmallow keys a list item's messages by its index: JSON keys are strings."""
    if isinstance(messages, dict):
        return {str(key): _str_keys(value) for key, value in messages.items()}
    return messages


def error_for(exc: Exception, now: int) -> web.Response | None:
    """The contract's response for a known failure; None for an unknown one (a 500)."""
    if isinstance(exc, AppError):
        return app_error_response(exc, now)
    if isinstance(exc, ValidationError):
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return error_response(
            now, 400, "validation_error", "Invalid request body", _str_keys(messages)
        )
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        return http_error_response(exc, now)
    if database.is_unavailable(exc):  # a dependency down is 503, with no stack trace
        logger.warning("the database is unavailable ({})", type(exc).__name__)
        return app_error_response(Unavailable("The database is unavailable"), now)
    return None


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Maps AppError, marshmallow errors and aiohttp errors; anything else is a logged 500."""
    clock = request.app[keys.clock]
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return http_error_response(exc, clock.now_ms())
    except Exception as exc:
        response = error_for(exc, clock.now_ms())
        if response is not None:
            return response
        logger.exception("unhandled error on {} {}", request.method, _route(request))
        return error_response(clock.now_ms(), 500, "internal_error", "Internal server error")


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"
