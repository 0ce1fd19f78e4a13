"""The timer state machine of the contract: pure, no I/O, the clock passed in.

Every function takes a state and `now` (epoch ms) and returns the next state. A
command that changes nothing returns the very same object, so callers can tell a
no-op (`new is old`) from a change; a change always carries `version + 1`.
"""

from dataclasses import dataclass, replace
from enum import StrEnum

from roomtimer.errors import InvalidTransition

DURATION_MIN_MS = 1_000
DURATION_MAX_MS = 604_800_000


class Status(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class TimerState:
    """The clock-related fields of one timer."""

    status: Status
    duration_ms: int
    remaining_ms: int
    ends_at: int | None = None
    finished_at: int | None = None
    version: int = 1

    def remaining_at(self, now: int) -> int:
        """Time left at `now`: exact while running, stored otherwise."""
        if self.status is Status.RUNNING and self.ends_at is not None:
            return max(0, self.ends_at - now)
        return self.remaining_ms


def new(duration_ms: int) -> TimerState:
    """A fresh idle timer."""
    return TimerState(Status.IDLE, duration_ms, duration_ms)


def _change(state: TimerState, **fields: object) -> TimerState:
    return replace(state, version=state.version + 1, **fields)  # type: ignore[arg-type]


def _refuse(state: TimerState, command: str) -> InvalidTransition:
    return InvalidTransition(f"Cannot {command} a {state.status} timer")


def finish(state: TimerState, finished_at: int) -> TimerState:
    """Finishes a timer: no time left, `finishedAt` recorded."""
    return _change(
        state, status=Status.FINISHED, remaining_ms=0, ends_at=None, finished_at=finished_at
    )


def settle(state: TimerState, now: int) -> TimerState:
    """Finishes a running timer whose deadline has passed (at its deadline)."""
    if state.status is Status.RUNNING and state.ends_at is not None and state.ends_at <= now:
        return finish(state, state.ends_at)
    return state


def start(state: TimerState, now: int) -> TimerState:
    """idle/paused → running; running is a no-op; finished is refused."""
    if state.status is Status.RUNNING:
        return state
    if state.status is Status.FINISHED:
        raise _refuse(state, "start")
    return _change(state, status=Status.RUNNING, ends_at=now + state.remaining_ms)


def pause(state: TimerState, now: int) -> TimerState:
    """running → paused with the time left; paused is a no-op; others are refused."""
    if state.status is Status.PAUSED:
        return state
    if state.status is not Status.RUNNING:
        raise _refuse(state, "pause")
    return _change(state, status=Status.PAUSED, remaining_ms=state.remaining_at(now), ends_at=None)


def reset(state: TimerState, now: int) -> TimerState:
    """Any state → idle with the full duration (always a change)."""
    return _change(
        state, status=Status.IDLE, remaining_ms=state.duration_ms, ends_at=None, finished_at=None
    )


def adjust(state: TimerState, delta_ms: int, now: int) -> TimerState:
    """Adds `delta_ms` (0 is a no-op); a timer left with no time finishes at once (at `now`)."""
    if state.status is Status.FINISHED:
        raise _refuse(state, "adjust")
    if delta_ms == 0:
        return state
    if state.status is Status.RUNNING and state.ends_at is not None:
        ends_at = state.ends_at + delta_ms
        if ends_at <= now:
            return finish(state, now)
        return _change(state, ends_at=ends_at)
    remaining = state.remaining_ms + delta_ms
    if remaining <= 0:
        return finish(state, now)
    return _change(state, remaining_ms=remaining)


def set_duration(state: TimerState, duration_ms: int) -> TimerState:
    """New duration; on an idle timer it also sets the time left."""
    if state.status is Status.IDLE:
        return replace(state, duration_ms=duration_ms, remaining_ms=duration_ms)
    return replace(state, duration_ms=duration_ms)


def threshold_problems(
    duration_ms: int, warn_at_ms: int | None, danger_at_ms: int | None
) -> dict[str, list[str]]:
    """What is wrong with phase thresholds (field -> messages); empty when they hold.

    Each is a remaining time within 1..durationMs, and danger comes after warning.
    """
    problems: dict[str, list[str]] = {}
    for field, value in (("warnAtMs", warn_at_ms), ("dangerAtMs", danger_at_ms)):
        if value is not None and not 1 <= value <= duration_ms:
            problems[field] = [f"Must be between 1 and durationMs ({duration_ms})."]
    if warn_at_ms is not None and danger_at_ms is not None and danger_at_ms >= warn_at_ms:
        problems.setdefault("dangerAtMs", []).append("Must be less than warnAtMs.")
    return problems


COMMANDS = {"start": start, "pause": pause, "reset": reset}
