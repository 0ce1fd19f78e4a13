"""The contract's JSON shapes of rooms and timers."""

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Row

from roomtimer.models import timer_machine as machine
from roomtimer.models.tables import Room, Timer

# A stored timer: the ORM object, or a row of the timers table's columns.
TimerLike = Timer | Row[Any]


@lru_cache(maxsize=16384)  # a burst of events repeats the same few instants
def iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds, like JavaScript's toISOString."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def state_of(timer: Timer) -> machine.TimerState:
    """The state-machine view of a stored timer."""
    return machine.TimerState(
        status=machine.Status(timer.status),
        duration_ms=timer.duration_ms,
        remaining_ms=timer.remaining_ms,
        ends_at=timer.ends_at,
        finished_at=timer.finished_at,
        version=timer.version,
    )


def timer_public(timer: TimerLike, now: int) -> dict[str, Any]:
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
        "position": timer.position,
        "version": timer.version,
        "createdAt": iso(timer.created_at),
        "updatedAt": iso(timer.updated_at),
    }


def timer_event(timer: TimerLike, now: int) -> dict[str, Any]:
    """A timer event payload: the timer plus `serverTime`."""
    return {**timer_public(timer, now), "serverTime": now}


def room_owner(room: Room, now: int) -> dict[str, Any]:
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


def room_state(room: Room, now: int, user_count: int) -> dict[str, Any]:
    """RoomState: what a viewer sees."""
    return {
        "room": {"id": room.id, "name": room.name, "description": room.description},
        "timers": [timer_public(t, now) for t in room.timers],
        "userCount": user_count,
        "serverTime": now,
    }


def room_summary(room: Room, now: int) -> dict[str, Any]:
    """The `room-updated` payload."""
    return {"id": room.id, "name": room.name, "description": room.description, "serverTime": now}
