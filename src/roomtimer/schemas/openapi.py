"""The OpenAPI 3.1 document, built from the routes' table and the schemas the server uses.

Request bodies and queries come from the marshmallow schemas the controllers validate
with; replies and errors from the public TypedDicts every answer is built with. Nothing
is written twice: change a schema and the document follows.
"""

import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, Union, get_args, get_origin, get_type_hints

from marshmallow import Schema, fields, validate

from roomtimer.schemas import public

Auth = Literal["none", "token", "owner"]


@dataclass(frozen=True)
class Operation:
    """One route: how it is called and what it answers (routes.py lists them all)."""

    method: str
    path: str
    handler: Any
    summary: str
    auth: Auth = "none"
    body: Schema | None = None  # the schema instance the handler validates with
    body_required: bool = True
    query: Schema | None = None
    reply: type | None = None  # a public TypedDict; None: no JSON body
    status: int = 200
    content: str = "application/json"
    errors: tuple[int, ...] = ()  # further statuses this route answers
    document: bool = True  # pages and static files stay out of the API's document
    tags: tuple[str, ...] = field(default_factory=tuple)


ERROR_TEXT = {
    400: "Invalid JSON or a validation error (details per field)",
    401: "Missing, invalid or expired token",
    403: "The token does not own this room or timer",
    404: "No such room, timer or share token",
    409: "Not allowed in the timer's state",
    422: "The Idempotency-Key was used with another method, path or body",
    413: "Body over 16 KiB",
    415: "A body that is not JSON",
    429: "Rate limited (Retry-After says when to retry)",
    500: "Internal error (no internals in the body)",
    503: "A dependency (the database) is unavailable",
}


def _keyed(op: Operation) -> bool:
    """Whether the route takes an Idempotency-Key (POST, PUT and DELETE under /api/)."""
    return op.method in ("POST", "PUT", "DELETE") and op.path.startswith("/api/")


def _statuses(op: Operation) -> list[int]:
    found = {500, *op.errors}
    if _keyed(op):
        found |= {400, 422}
    if op.path.startswith("/api/"):
        found |= {429, 503}
    if op.auth != "none":
        found.add(401)
    if op.auth == "owner":
        found |= {403, 404}
    if op.body is not None:
        found |= {400, 413, 415}
    if op.query is not None:
        found.add(400)
    return sorted(found)


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat within 24 h: the first answer again, nothing changed",
    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _bounds(schema: dict[str, Any], low: Any, high: Any, low_key: str, high_key: str) -> None:
    """A validator's bounds, where it has them, under JSON Schema's names."""
    if low is not None:
        schema[low_key] = low
    if high is not None:
        schema[high_key] = high


def _field(item: fields.Field) -> dict[str, Any]:
    """JSON Schema of one marshmallow field, its validators included."""
    if isinstance(item, fields.List):
        schema: dict[str, Any] = {"type": "array", "items": _field(item.inner)}
        for check in item.validators:
            if isinstance(check, validate.Length):
                _bounds(schema, check.min, check.max, "minItems", "maxItems")
        return _nullable(schema) if item.allow_none else schema
    kinds = ((fields.Integer, "integer"), (fields.Boolean, "boolean"), (fields.String, "string"))
    kind = next((name for cls, name in kinds if isinstance(item, cls)), None)
    if kind is None:
        raise TypeError(f"no JSON Schema for {type(item).__name__}")
    schema = {"type": kind}
    for check in item.validators:
        if isinstance(check, validate.Range):
            _bounds(schema, check.min, check.max, "minimum", "maximum")
        elif isinstance(check, validate.Length):
            _bounds(schema, check.min, check.max, "minLength", "maxLength")
        elif isinstance(check, validate.OneOf):
            schema["enum"] = list(check.choices)
    return _nullable(schema) if item.allow_none else schema


def request_schema(schema: Schema) -> dict[str, Any]:
    """JSON Schema of a request schema: its fields, which are required, nothing else."""
    properties = {
        (item.data_key or name): _field(item) for name, item in schema.load_fields.items()
    }
    required = sorted(
        item.data_key or name for name, item in schema.load_fields.items() if item.required
    )
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


class Components:
    """The public TypedDicts as named JSON Schemas, each written once."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}

    def ref(self, shape: Any) -> dict[str, Any]:
        """A schema of `shape` (a TypedDict is named in components and referenced)."""
        if typing.is_typeddict(shape):
            name = shape.__name__
            if name not in self.schemas:
                self.schemas[name] = {}  # placeholder: a shape may refer to itself
                self.schemas[name] = self._object(shape)
            return {"$ref": f"#/components/schemas/{name}"}
        origin, args = get_origin(shape), get_args(shape)
        if origin in (Union, types.UnionType):
            present = [a for a in args if a is not type(None)]
            inner = (
                self.ref(present[0])
                if len(present) == 1
                else {"anyOf": [self.ref(a) for a in present]}
            )
            return _nullable(inner) if type(None) in args else inner
        if origin is list:
            return {"type": "array", "items": self.ref(args[0])}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.ref(args[1])}
        if shape is Any:
            return {}  # any JSON value
        simple = {str: "string", int: "integer", bool: "boolean", float: "number"}
        if shape in simple:
            return {"type": simple[shape]}
        raise TypeError(f"no JSON Schema for {shape!r}")

    def _object(self, shape: Any) -> dict[str, Any]:
        hints = get_type_hints(shape, include_extras=True)
        properties, required = {}, []
        for key, hint in hints.items():
            if get_origin(hint) is NotRequired:
                hint = get_args(hint)[0]
            elif key in shape.__required_keys__:
                required.append(key)
            properties[key] = self.ref(hint)
        out: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            out["required"] = required
        out["additionalProperties"] = False
        if shape.__doc__ and not shape.__doc__.startswith(shape.__name__ + "("):
            out["description"] = shape.__doc__.strip()
        return out


def _path(path: str) -> str:
    """aiohttp's `{name}` (and `{name:regex}`) as OpenAPI's `{name}`."""
    return "/".join(
        "{" + part[1:-1].split(":", 1)[0] + "}" if part.startswith("{") else part
        for part in path.split("/")
    )


def _tag(path: str) -> str:
    """The group of a route in the reference: rooms, timers, or operations."""
    for prefix, tag in (("/api/rooms", "rooms"), ("/api/timers", "timers")):
        if path.startswith(prefix):
            return tag
    return "operations"


def _operation(op: Operation, components: Components) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "operationId": op.handler.__name__}
    out["tags"] = list(op.tags) or [_tag(op.path)]
    names = [p[1:-1].split(":", 1)[0] for p in op.path.split("/") if p.startswith("{")]
    parameters = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for n in names
    ]
    if _keyed(op):
        parameters.append(IDEMPOTENCY_KEY)
    if op.query is not None:
        query = request_schema(op.query)
        for name, schema in query["properties"].items():
            required = name in query.get("required", [])
            parameters.append({"name": name, "in": "query", "required": required, "schema": schema})
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": request_schema(op.body)}},
        }
    if op.auth != "none":
        out["security"] = [{"bearerAuth": []}]
    success: dict[str, Any] = {"description": "Success"}
    if op.reply is not None:
        success["content"] = {op.content: {"schema": components.ref(op.reply)}}
    elif op.content != "application/json":
        success["content"] = {op.content: {"schema": {"type": "string"}}}
    responses = {str(op.status): success}
    error = {"application/json": {"schema": components.ref(public.ErrorBody)}}
    for status in _statuses(op):
        text = ERROR_TEXT.get(status, "Error")
        responses[str(status)] = {"description": text, "content": error}
    out["responses"] = responses
    return out


def document(operations: tuple[Operation, ...], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations`."""
    components = Components()
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        if op.document:
            paths.setdefault(_path(op.path), {})[op.method.lower()] = _operation(op, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "roomtimer",
            "version": version,
            "description": "Room-based live countdowns: the HTTP API. Every JSON answer "
            "carries `serverTime` (epoch ms); errors are `{error: {code, message, details?}}`.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
