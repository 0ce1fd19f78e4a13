"""Request schemas, named by role; unknown fields are refused."""

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from roomtimer.models.timer_machine import DURATION_MAX_MS, DURATION_MIN_MS

POSITION_MAX = 1_000_000_000


class Trimmed(fields.String):
    """A string stored without surrounding white space (nor NUL, which PostgreSQL refuses)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs).strip()
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        return text


class StrictInt(fields.Integer):
    """A JSON integer: no floats, strings or booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


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


class TimerCreate(Strict):
    label = _name(required=True)
    duration_ms = _duration(required=True)
    position = _position()


class TimerUpdate(Strict):
    label = _name(required=False)
    duration_ms = _duration(required=False)
    position = _position()


class TimerAdjust(Strict):
    delta_ms = StrictInt(
        required=True,
        data_key="deltaMs",
        validate=validate.Range(-DURATION_MAX_MS, DURATION_MAX_MS),
    )


class Empty(Strict):
    """Bodyless commands: nothing, or `{}`."""
