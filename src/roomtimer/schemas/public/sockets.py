"""Socket answers besides room events (acks, errors, the clock), and every room event by name."""

from typing import NotRequired, TypedDict

from roomtimer.models.tables import Room
from roomtimer.schemas.public.rooms import (
    RoomDeleted,
    RoomMessageEvent,
    RoomPublic,
    RoomStatePublic,
    RoomUpdated,
    UserCount,
    room_public,
)
from roomtimer.schemas.public.timers import TimerDeleted, TimerEvent


class ErrorEvent(TypedDict):
    code: str
    message: str
    serverTime: int
    roomId: NotRequired[str]


class AckError(TypedDict):
    code: str
    message: str


class Ack(TypedDict):
    """The ack of `join-room` (with `roomId`), `leave-room` and `request-sync`."""

    ok: bool
    roomId: NotRequired[str]
    error: NotRequired[AckError]


class WatchAck(TypedDict):
    """The ack of a control socket's `watch-rooms`: the owner's rooms as they are now."""

    ok: bool
    rooms: list[RoomPublic]
    serverTime: int


class ServerTime(TypedDict):
    """The `ping` ack and the `pong` event."""

    serverTime: int


# Every event a room's clients receive, by name (the event stream sends the same).
ROOM_EVENTS: dict[str, type] = {
    "room-state": RoomStatePublic,
    "timer-created": TimerEvent,
    "timer-update": TimerEvent,
    "timer-deleted": TimerDeleted,
    "timer-finished": TimerEvent,
    "room-updated": RoomUpdated,
    "room-message": RoomMessageEvent,
    "room-deleted": RoomDeleted,
    "user-count": UserCount,
    "error": ErrorEvent,
}


def error_event(code: str, message: str, now: int, room_id: str | None = None) -> ErrorEvent:
    """An `error` event to a socket, or to a room (`share_token_revoked`)."""
    event: ErrorEvent = {"code": code, "message": message, "serverTime": now}
    if room_id is not None:
        event["roomId"] = room_id
    return event


def ack(room_id: str | None = None) -> Ack:
    """A request that succeeded (`join-room` also names the room)."""
    return {"ok": True} if room_id is None else {"ok": True, "roomId": room_id}


def ack_refused(code: str, message: str) -> Ack:
    """A request that failed, as the ack carries it."""
    return {"ok": False, "error": {"code": code, "message": message}}


def watch_ack(rooms: list[Room], now: int) -> WatchAck:
    """`watch-rooms` accepted: every room of the owner, oldest first."""
    return {"ok": True, "rooms": [room_public(r, now) for r in rooms], "serverTime": now}


def server_time(now: int) -> ServerTime:
    """The `ping` ack and `pong`."""
    return {"serverTime": now}
