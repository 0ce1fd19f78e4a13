"""Request input: JSON bodies checked against a schema, path keys, share tokens."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from marshmallow import Schema, ValidationError

from roomtimer import keys
from roomtimer.errors import InvalidJson, NotFound, UnsupportedMediaType, ValidationFailed
from roomtimer.middleware.ratelimit import request_client
from roomtimer.models.tables import Room


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # orjson refuses integers past 64 bits: those are range errors, not bad JSON
        data = json.loads(raw, parse_constant=_not_json)
        # ...but nothing else orjson refuses: lone surrogates ("\ud800") cannot be stored
        json.dumps(data, ensure_ascii=False).encode()
        return data
    except (ValueError, RecursionError):
        raise InvalidJson() from None


def path_key(request: web.Request, name: str) -> str:
    """A URL id or share token; 404 for one no database could hold (NUL, surrogates)."""
    value = request.match_info[name]
    if not value.isprintable() or len(value) > 1024:
        raise NotFound()
    return value


async def shared_room(request: web.Request, share_token: str) -> Room:
    """The room of a URL's share token: 404 for a miss, 429 once its client missed too often."""
    room = await request.app[keys.share_tokens].find(
        share_token=share_token, client=request_client(request)
    )
    if room is None:
        raise NotFound("Room not found")
    return room


def json_body(request: web.Request) -> Any:
    """The parsed body: `{}` when empty, whatever the Content-Type; else JSON only."""
    raw = request.get(keys.raw_body, b"")
    if not raw.strip():
        return {}
    if request.content_type != "application/json":
        raise UnsupportedMediaType()
    return _decode(raw)


def load(request: web.Request, schema: Schema) -> dict[str, Any]:
    """The body validated by `schema` (400 validation_error with per-field messages)."""
    data = json_body(request)
    if not isinstance(data, dict):
        raise ValidationFailed(details={"_schema": ["Request body must be a JSON object."]})
    loaded: dict[str, Any] = schema.load(data)
    return loaded


def load_query(request: web.Request, schema: Schema) -> dict[str, Any]:
    """The query string validated by `schema` (400 validation_error naming the parameter)."""
    query = request.rel_url.query
    repeated = sorted({key for key in query if len(query.getall(key)) > 1})
    if repeated:
        raise ValidationFailed(
            "Invalid query", details={key: ["Give this parameter once."] for key in repeated}
        )
    try:
        loaded: dict[str, Any] = schema.load(dict(query))
    except ValidationError as exc:
        raise ValidationFailed("Invalid query", details=exc.normalized_messages()) from None
    return loaded


async def load_owned(
    request: web.Request, schema: Schema, check_owner: Callable[[], Awaitable[None]]
) -> dict[str, Any]:
    """The body, as `load` gives it, for a change to something the caller must own.

    The use case then checks ownership in its own transaction, so a good body costs no
    extra query; a bad one is answered 404 or 403 first when `check_owner` says so.
    """
    try:
        return load(request, schema)
    except Exception:
        await check_owner()
        raise
