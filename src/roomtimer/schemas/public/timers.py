"""Timers as clients see them, and the timer events."""

from typing import TypedDict

from roomtimer.models import timer_machine as machine
from roomtimer.schemas.public.common import TimerLike, iso


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


class TimerDeleted(TypedDict):
    id: str
    roomId: str
    serverTime: int


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


def timer_deleted(timer: TimerLike, now: int) -> TimerDeleted:
    """The `timer-deleted` payload."""
    return {"id": timer.id, "roomId": timer.room_id, "serverTime": now}
