"""Request schemas, named by role; unknown fields are refused."""

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from roomtimer.models.hook_events import EVENTS
from roomtimer.models.timer_machine import DURATION_MAX_MS, DURATION_MIN_MS

POSITION_MAX = 1_000_000_000


class Trimmed(fields.String):
    """A string stored without surrounding white space (nor NUL, which PostgreSQL refuses)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs).strip()
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        return text


class StrictBool(fields.Boolean):
    """A JSON boolean: no 0/1 or strings."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


class StrictInt(fields.Integer):
    """A JSON integer: no floats, strings or booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


def _no_nul(text: str) -> None:
    if "\x00" in text:
        raise ValidationError("Must not contain NUL characters.")


class Strict(Schema):
    class Meta:
        unknown = RAISE


def _name(required: bool) -> Trimmed:
    return Trimmed(required=required, validate=validate.Length(1, 100))


class RoomCreate(Strict):
    name = _name(required=True)
    description = Trimmed(load_default="", allow_none=True, validate=validate.Length(0, 500))


class RoomUpdate(Strict):
    name = _name(required=False)
    description = Trimmed(allow_none=True, validate=validate.Length(0, 500))


def _duration(required: bool) -> StrictInt:
    return StrictInt(
        required=required,
        data_key="durationMs",
        validate=validate.Range(DURATION_MIN_MS, DURATION_MAX_MS),
    )


def _position() -> StrictInt:
    return StrictInt(validate=validate.Range(0, POSITION_MAX))


def _threshold(name: str) -> StrictInt:
    """A phase threshold: remaining time in ms, or null for none (checked against the
    duration by the use case, which knows the stored one on a PUT)."""
    return StrictInt(data_key=name, allow_none=True, validate=validate.Range(1, DURATION_MAX_MS))


class TimerCreate(Strict):
    label = _name(required=True)
    duration_ms = _duration(required=True)
    position = _position()
    warn_at_ms = _threshold("warnAtMs")
    danger_at_ms = _threshold("dangerAtMs")


class TimerUpdate(Strict):
    label = _name(required=False)
    duration_ms = _duration(required=False)
    position = _position()
    warn_at_ms = _threshold("warnAtMs")
    danger_at_ms = _threshold("dangerAtMs")


class TimerAdjust(Strict):
    delta_ms = StrictInt(
        required=True,
        data_key="deltaMs",
        validate=validate.Range(-DURATION_MAX_MS, DURATION_MAX_MS),
    )


class MessageUpdate(Strict):
    """PUT /api/rooms/{id}/message: `blackout` left out means off."""

    text = fields.String(required=True, validate=[validate.Length(0, 200), _no_nul])
    visible = StrictBool(required=True)
    blackout = StrictBool(load_default=False)


class RoomPage(Strict):
    """GET /api/rooms's query: `limit` (1..500, default 100) and the `after` cursor."""

    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    after = fields.String(load_default=None, validate=validate.Length(1, 200))


class WebhookCreate(Strict):
    """POST /api/rooms/{id}/webhooks: `secret` generated when left out."""

    url = fields.String(required=True, validate=[validate.Length(1, 2048), _no_nul])
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENTS)),
        required=True,
        validate=validate.Length(1, len(EVENTS) * 2),
    )
    secret = fields.String(validate=[validate.Length(1, 256), _no_nul])


class Empty(Strict):
    """Bodyless commands: nothing, or `{}`."""
