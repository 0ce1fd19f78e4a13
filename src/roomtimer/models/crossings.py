"""Phase thresholds as crossings (pure, the clock passed in): when `timer.warning` and
`timer.danger` fire.

A crossing is armed while a timer runs with more time left than the threshold; its due
instant is `endsAt - threshold`. It fires once when that instant arrives while the
timer still runs (the scheduler claims it), or when a change to a running timer that
keeps it running moves it to or below the threshold (an adjust, a threshold edit).
Time does not pass while a timer is paused or idle: pausing disarms, and a start or
resume inside a phase fires nothing, so a crossing skipped by a pause (including an
adjust made while paused) never fires. A start, adjust or threshold edit that leaves
more time than the threshold arms it again, so it fires again at the new crossing.
"""

from dataclasses import dataclass

from roomtimer.models.timer_machine import Status, TimerState


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A timer's phase thresholds: remaining time in ms, or None."""

    warn_at_ms: int | None
    danger_at_ms: int | None


@dataclass(frozen=True, slots=True)
class Due:
    """When each armed crossing falls due (None: not armed)."""

    warn: int | None = None
    danger: int | None = None


def due_at(state: TimerState, threshold: int | None, now: int) -> int | None:
    """The instant a running timer reaches `threshold`, if it is still ahead."""
    if threshold is None or state.status is not Status.RUNNING or state.ends_at is None:
        return None
    at = state.ends_at - threshold
    return at if at > now else None


def armed(state: TimerState, thresholds: Thresholds, now: int) -> Due:
    """The crossings armed for `state` at `now`."""
    return Due(
        due_at(state, thresholds.warn_at_ms, now), due_at(state, thresholds.danger_at_ms, now)
    )


def _fires(
    before: TimerState, due: int | None, after: TimerState, threshold: int | None, now: int
) -> bool:
    if due is None or before.status is not Status.RUNNING:
        return False  # not armed: a stale value of a timer that stopped running is ignored
    if due <= now:
        return True  # time reached it while running; the scheduler had not claimed it yet
    running = after.status is Status.RUNNING
    return running and threshold is not None and after.remaining_at(now) <= threshold


def fired(
    before: TimerState,
    due: Due,
    after: TimerState,
    thresholds: Thresholds,
    now: int,
) -> list[str]:
    """The events a change from `before` (with crossings `due`) to `after` fires, in order."""
    events = []
    if _fires(before, due.warn, after, thresholds.warn_at_ms, now):
        events.append("timer.warning")
    if _fires(before, due.danger, after, thresholds.danger_at_ms, now):
        events.append("timer.danger")
    return events
