"""Rooms as owners and viewers see them, the room message, and the room events."""

from typing import TypedDict

from roomtimer.models.stamped import Page
from roomtimer.models.tables import Room
from roomtimer.schemas.public.common import iso
from roomtimer.schemas.public.timers import TimerPublic, timer_public


class RoomPublic(TypedDict):
    """A room as its owner sees it."""

    id: str
    name: str
    description: str
    shareToken: str
    ownerId: str
    createdAt: str
    updatedAt: str
    timers: list[TimerPublic]


class RoomReply(RoomPublic):
    serverTime: int


class RoomList(TypedDict):
    rooms: list[RoomPublic]
    next: str | None
    serverTime: int


class RoomInfo(TypedDict):
    id: str
    name: str
    description: str


class RoomMessage(TypedDict):
    """What viewer screens show over the timers; `blackout` hides the timers."""

    text: str
    visible: bool
    blackout: bool
    updatedAt: str | None


class RoomMessageEvent(RoomMessage):
    """`room-message`, and the reply of PUT /api/rooms/{id}/message."""

    serverTime: int


class RoomStatePublic(TypedDict):
    """`room-state`, and GET /api/rooms/{shareToken}: what a viewer sees."""

    room: RoomInfo
    timers: list[TimerPublic]
    message: RoomMessage
    userCount: int
    serverTime: int


class RoomUpdated(RoomInfo):
    serverTime: int


class RoomDeleted(TypedDict):
    id: str
    serverTime: int


class UserCount(TypedDict):
    roomId: str
    count: int
    serverTime: int


def room_public(room: Room, now: int) -> RoomPublic:
    """Room as its owner sees it, with its timers."""
    return {
        "id": room.id,
        "name": room.name,
        "description": room.description,
        "shareToken": room.share_token,
        "ownerId": room.owner_id,
        "createdAt": iso(room.created_at),
        "updatedAt": iso(room.updated_at),
        "timers": [timer_public(t, now) for t in room.timers],
    }


def room_reply(room: Room, now: int) -> RoomReply:
    """A room reply: the owner's view plus `serverTime`."""
    return {**room_public(room, now), "serverTime": now}  # type: ignore[typeddict-item]


def room_list(page: Page[Room], now: int) -> RoomList:
    """GET /api/rooms: one page, and the cursor of the next (`null` at the end)."""
    return {
        "rooms": [room_public(r, now) for r in page.items],
        "next": page.next,
        "serverTime": now,
    }


def room_info(room: Room) -> RoomInfo:
    """The room as viewers (and webhooks) see it: id, name, description."""
    return {"id": room.id, "name": room.name, "description": room.description}


def room_state(room: Room, now: int, user_count: int) -> RoomStatePublic:
    """RoomState: what a viewer sees."""
    return {
        "room": room_info(room),
        "timers": [timer_public(t, now) for t in room.timers],
        "message": room_message(room),
        "userCount": user_count,
        "serverTime": now,
    }


def room_message(room: Room) -> RoomMessage:
    """The room's message as RoomState carries it."""
    updated = room.message_updated_at
    return {
        "text": room.message_text,
        "visible": room.message_visible,
        "blackout": room.message_blackout,
        "updatedAt": None if updated is None else iso(updated),
    }


def room_message_event(room: Room, now: int) -> RoomMessageEvent:
    """`room-message`, and the reply of PUT /api/rooms/{id}/message."""
    return {**room_message(room), "serverTime": now}  # type: ignore[typeddict-item]


def room_updated(room: Room, now: int) -> RoomUpdated:
    """The `room-updated` payload."""
    return {"id": room.id, "name": room.name, "description": room.description, "serverTime": now}


def room_deleted(room_id: str, now: int) -> RoomDeleted:
    """The `room-deleted` payload."""
    return {"id": room_id, "serverTime": now}


def user_count(room_id: str, count: int, now: int) -> UserCount:
    """The `user-count` payload."""
    return {"roomId": room_id, "count": count, "serverTime": now}
