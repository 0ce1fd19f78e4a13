"""Logging: loguru to stderr, flat JSON lines in production; stdlib logging routed through it.

Nothing secret reaches a line: tracebacks carry no variable values (`diagnose=False`),
credentials and tokens are masked in every message and traceback, and while a request is
served every record carries its request id and route (a context variable the
observability middleware sets).
"""

import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TextIO

from aiohttp.http_exceptions import HttpProcessingError
from loguru import logger
from sqlalchemy.engine import make_url

from roomtimer.config import Settings

MASK = "[redacted]"
_PATTERNS = [
    # user:password@ in any URL (database, Redis, webhooks).
    (re.compile(r"(?P<keep>\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)[^@\s]+@"), r"\g<keep>" + MASK + "@"),
    # JWTs (admin tokens), room keys, and whatever follows an Authorization scheme.
    (re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*"), MASK),
    (re.compile(r"\brk_[\w-]+"), "rk_" + MASK),
    (re.compile(r"\b(?P<keep>Bearer|Basic)\s+[^\s'\"]+", re.IGNORECASE), r"\g<keep> " + MASK),
]
# Path parameters that are capabilities: their values are masked in the request's records.
SECRET_PARAMS = ("key", "shareToken", "token")


@dataclass(frozen=True)
class RequestContext:
    """What every record written while serving one request carries (and masks)."""

    request_id: str
    route: str
    secrets: tuple[str, ...] = ()


_request: ContextVar[RequestContext | None] = ContextVar("roomtimer_request", default=None)
_secrets: list[str] = []  # process-wide: the JWT secret, database and Redis passwords


@contextmanager
def request_context(request_id: str, route: str, secrets: Iterable[str]) -> Iterator[None]:
    """Binds a request's id and route to every record written inside the block."""
    token = _request.set(RequestContext(request_id, route, tuple(s for s in secrets if s)))
    try:
        yield
    finally:
        _request.reset(token)


MIN_LITERAL_SECRET = 12


def redact(text: str) -> str:
    """text with credentials, tokens and the current request's capabilities masked."""
    context = _request.get()
    for secret in (*_secrets, *(context.secrets if context else ())):
        # A short secret cannot be told from the words around it ("roomtimer" as a test
        # database's password masked the program's own name); passwords inside URLs are
        # masked by _PATTERNS whatever their length.
        if len(secret) >= MIN_LITERAL_SECRET:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _patch(record: Any) -> None:
    context = _request.get()
    if context is not None:
        record["extra"].setdefault("request_id", context.request_id)
        record["extra"].setdefault("route", context.route)
    record["message"] = redact(record["message"])


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def json_line(
    level: str, time: str, message: str, fields: dict[str, Any], exception: str | None
) -> str:
    """One flat JSON object: level, time, message, then requestId, route, status…"""
    line: dict[str, Any] = {"level": level, "time": time, "message": message}
    for name, value in fields.items():
        line.setdefault(_camel(name), value)
    if exception:
        line["exception"] = redact(exception)
    return json.dumps(line, default=str, ensure_ascii=False)


def _json_sink(stream: TextIO) -> Any:
    def write(message: Any) -> None:
        record = message.record
        exception = None
        if record["exception"] is not None:
            kind, value, tb = record["exception"]
            exception = "".join(traceback.format_exception(kind, value, tb)).rstrip()
        time = record["time"].isoformat(timespec="milliseconds")
        fields = {"logger": record["name"], **record["extra"]}
        stream.write(json_line(record["level"].name, time, record["message"], fields, exception))
        stream.write("\n")
        stream.flush()

    return write


def _text_sink(stream: TextIO) -> Any:
    def write(message: Any) -> None:
        stream.write(redact(str(message)))  # the traceback too, not only the message
        stream.flush()

    return write


def _text_format(record: Any) -> str:
    # The request id is [A-Za-z0-9._-] only (the middleware's check): safe in a format.
    request_id = record["extra"].get("request_id")
    tail = f" <dim>[{request_id}]</dim>" if request_id else ""
    return (
        "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> {message}"
        + tail
        + "\n{exception}"
    )


class _Intercept(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        message = record.getMessage()
        if record.name.startswith("aiosqlite"):
            message = _without_parameters(message)
        exc_info = record.exc_info
        if exc_info and isinstance(exc_info[1], HttpProcessingError | ConnectionResetError):
            # A malformed request (a NUL in a header, a line too long) is the client's
            # error, answered 400 by aiohttp; a client gone mid-answer is the client's
            # doing too: one line, not an ERROR with a traceback.
            level, exc_info = "WARNING", None
            message = f"{message}: {type(record.exc_info[1]).__name__}"  # type: ignore[index]
        logger.opt(depth=6, exception=exc_info).log(level, message)


# aiosqlite's debug lines repr each call: `functools.partial(<method>, 'SQL', (params…))`.
_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _without_parameters(message: str) -> str:
    """aiosqlite's debug line with the statement kept and its parameters (user data) dropped."""
    start = message.find("functools.partial(")
    statement = _LITERAL.search(message, start) if start >= 0 else None
    if statement is None:
        return message
    return message[: statement.end()] + ", <parameters hidden>)" + message[message.rfind(")") + 1 :]


def _process_secrets(settings: Settings) -> list[str]:
    found = [settings.jwt_secret]
    for url in (settings.database_url, settings.redis_url):
        if url:
            try:
                found.append(make_url(url).password or "")
            except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot read has no password to hide
                pass
    return [s for s in found if s]


def production_environment() -> bool:
    """APP_ENV/NODE_ENV says production (for gunicorn's arbiter, which has no Settings)."""
    environment = os.environ.get("APP_ENV") or os.environ.get("NODE_ENV") or "development"
    return environment.strip().lower() == "production"


def configure_logging(settings: Settings) -> None:
    """Sends every log line to stderr at LOG_LEVEL; flat JSON when APP_ENV=production."""
    _secrets[:] = _process_secrets(settings)
    logger.remove()
    logger.configure(patcher=_patch)
    if settings.production:
        logger.add(
            _json_sink(sys.stderr),
            level=settings.log_level,
            format="{message}",
            backtrace=False,
            diagnose=False,
        )
    else:
        logger.add(
            _text_sink(sys.stderr),
            level=settings.log_level,
            format=_text_format,
            colorize=sys.stderr.isatty(),
            backtrace=False,
            diagnose=False,
        )
    logging.basicConfig(handlers=[_Intercept()], level=0, force=True)
    for noisy in ("aiohttp.access", "engineio", "socketio", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
