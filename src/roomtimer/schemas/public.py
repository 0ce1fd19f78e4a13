"""Public schemas: every JSON shape a client sees, typed and named by role, each with its builder.

HTTP replies, Socket.IO events, and next the event stream, webhooks and the OpenAPI
document are built from these and only these. They are TypedDicts, plain dicts at run
time, so a burst of a thousand events costs no more than hand-built dicts did.
"""

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NotRequired, TypedDict

from sqlalchemy import Row

from roomtimer.models import timer_machine as machine
from roomtimer.models.stamped import Page
from roomtimer.models.stats import SocketStats
from roomtimer.models.tables import Delivery, Room, Timer, Webhook

# A stored timer: the ORM object, or a row of the timers table's columns.
TimerLike = Timer | Row[Any]


class TimerPublic(TypedDict):
    id: str
    roomId: str
    label: str
    durationMs: int
    status: str
    remainingMs: int
    endsAt: int | None
    finishedAt: int | None
    warnAtMs: int | None
    dangerAtMs: int | None
    position: int
    version: int
    createdAt: str
    updatedAt: str


class TimerEvent(TimerPublic):
    """`timer-created`, `timer-update`, `timer-finished`, and the timer replies."""

    serverTime: int


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


class TimerDeleted(TypedDict):
    id: str
    roomId: str
    serverTime: int


class UserCount(TypedDict):
    roomId: str
    count: int
    serverTime: int


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


class ServerTime(TypedDict):
    """The `ping` ack and the `pong` event."""

    serverTime: int


class SocketStatsPublic(TypedDict):
    """GET /api/stats/socket."""

    connectedClients: int
    rooms: int
    activeRooms: int
    timers: int
    runningTimers: int
    serverTime: int


class HealthPublic(TypedDict):
    """GET /health."""

    status: str
    checks: dict[str, str]
    serverTime: int


class WebhookPublic(TypedDict):
    """A webhook as GET /api/rooms/{id}/webhooks lists it (never its secret)."""

    id: str
    roomId: str
    url: str
    events: list[str]
    createdAt: str


class WebhookCreated(WebhookPublic):
    """POST /api/rooms/{id}/webhooks: the only answer that shows the secret."""

    secret: str
    serverTime: int


class WebhookList(TypedDict):
    webhooks: list[WebhookPublic]
    serverTime: int


class DeliveryPublic(TypedDict):
    """One delivery in GET /api/webhooks/{id}/deliveries."""

    id: str
    event: str
    status: str
    attempts: int
    responseStatus: int | None
    lastError: str | None
    createdAt: str
    deliveredAt: str | None
    nextAttemptAt: str | None


class DeliveryList(TypedDict):
    deliveries: list[DeliveryPublic]
    serverTime: int


class WebhookBody(TypedDict):
    """What a webhook delivery POSTs (signed as sent)."""

    id: str
    event: str
    roomId: str
    timer: NotRequired[TimerPublic]
    room: NotRequired[RoomInfo]
    occurredAt: int
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


@lru_cache(maxsize=16384)  # a burst of events repeats the same few instants
def iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds, like JavaScript's toISOString."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def timer_public(timer: TimerLike, now: int) -> TimerPublic:
    """Timer as clients see it; `remainingMs` exact at `now`."""
    running = timer.status == machine.Status.RUNNING
    return {
        "id": timer.id,
        "roomId": timer.room_id,
        "label": timer.label,
        "durationMs": timer.duration_ms,
        "status": timer.status,
        "remainingMs": max(0, timer.ends_at - now)
        if running and timer.ends_at
        else timer.remaining_ms,
        "endsAt": timer.ends_at if running else None,
        "finishedAt": timer.finished_at,
        "warnAtMs": timer.warn_at_ms,
        "dangerAtMs": timer.danger_at_ms,
        "position": timer.position,
        "version": timer.version,
        "createdAt": iso(timer.created_at),
        "updatedAt": iso(timer.updated_at),
    }


def timer_event(timer: TimerLike, now: int) -> TimerEvent:
    """A timer event payload (and a timer reply): the timer plus `serverTime`."""
    return {**timer_public(timer, now), "serverTime": now}  # type: ignore[typeddict-item]


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


def timer_deleted(timer: TimerLike, now: int) -> TimerDeleted:
    """The `timer-deleted` payload."""
    return {"id": timer.id, "roomId": timer.room_id, "serverTime": now}


def user_count(room_id: str, count: int, now: int) -> UserCount:
    """The `user-count` payload."""
    return {"roomId": room_id, "count": count, "serverTime": now}


def error_event(code: str, message: str, now: int, room_id: str | None = None) -> ErrorEvent:
    """An `error` event to a socket, or to a room (`share_token_revoked`)."""
    event: ErrorEvent = {"code": code, "message": message, "serverTime": now}
    if room_id is not None:
        event["roomId"] = room_id
    return event


def socket_stats(stats: SocketStats) -> SocketStatsPublic:
    """GET /api/stats/socket."""
    return {
        "connectedClients": stats.connected_clients,
        "rooms": stats.storage.rooms,
        "activeRooms": stats.active_rooms,
        "timers": stats.storage.timers,
        "runningTimers": stats.storage.running_timers,
        "serverTime": stats.at,
    }


def health(found: dict[str, str], now: int) -> HealthPublic:
    """GET /health: `ok` when every dependency is."""
    healthy = all(value == "ok" for value in found.values())
    return {"status": "ok" if healthy else "unavailable", "checks": found, "serverTime": now}


def ack(room_id: str | None = None) -> Ack:
    """A request that succeeded (`join-room` also names the room)."""
    return {"ok": True} if room_id is None else {"ok": True, "roomId": room_id}


def ack_refused(code: str, message: str) -> Ack:
    """A request that failed, as the ack carries it."""
    return {"ok": False, "error": {"code": code, "message": message}}


def server_time(now: int) -> ServerTime:
    """The `ping` ack and `pong`."""
    return {"serverTime": now}


def webhook_public(hook: Webhook) -> WebhookPublic:
    """A webhook without its secret."""
    return {
        "id": hook.id,
        "roomId": hook.room_id,
        "url": hook.url,
        "events": hook.events.split(","),
        "createdAt": iso(hook.created_at),
    }


def webhook_created(hook: Webhook, now: int) -> WebhookCreated:
    """The reply of POST /api/rooms/{id}/webhooks, with the secret."""
    return {**webhook_public(hook), "secret": hook.secret, "serverTime": now}  # type: ignore[typeddict-item]


def webhook_list(hooks: list[Webhook], now: int) -> WebhookList:
    """GET /api/rooms/{id}/webhooks."""
    return {"webhooks": [webhook_public(h) for h in hooks], "serverTime": now}


def _iso_or_none(ms: int | None) -> str | None:
    return None if ms is None else iso(ms)


def delivery_public(row: Delivery) -> DeliveryPublic:
    """One delivery of the log (target and secret stay inside)."""
    return {
        "id": row.id,
        "event": row.event,
        "status": row.status,
        "attempts": row.attempts,
        "responseStatus": row.response_status,
        "lastError": row.last_error,
        "createdAt": iso(row.created_at),
        "deliveredAt": _iso_or_none(row.delivered_at),
        "nextAttemptAt": _iso_or_none(row.next_attempt_at),
    }


def delivery_list(rows: list[Delivery], now: int) -> DeliveryList:
    """GET /api/webhooks/{id}/deliveries: newest first."""
    return {"deliveries": [delivery_public(r) for r in rows], "serverTime": now}


def webhook_body(
    delivery_id: str,
    event: str,
    room_id: str,
    now: int,
    timer: TimerLike | None = None,
    room: RoomInfo | None = None,
) -> WebhookBody:
    """A delivery's JSON: the timer (exact at `now`) for timer events, the room for room.updated."""
    body: WebhookBody = {
        "id": delivery_id,
        "event": event,
        "roomId": room_id,
        "occurredAt": now,
        "serverTime": now,
    }
    if timer is not None:
        body["timer"] = timer_public(timer, now)
    if room is not None:
        body["room"] = room
    return body
