"""What webhooks hear of a timer write: listed inside the write's transaction; the
timer views are built only if a webhook of the room wants them (most rooms have none)."""

from functools import cache
from typing import Any

from roomtimer.models import timer_machine as machine
from roomtimer.models.tables import Timer
from roomtimer.services.outbox import Occurrence


def snapshot(timer: Timer, values: dict[str, Any]) -> Timer:
    """A detached copy of `timer` with `values` (the ORM object is left as it was read)."""
    copy = Timer(**{c.key: getattr(timer, c.key) for c in Timer.__table__.columns})
    for name, value in values.items():
        setattr(copy, name, value)
    return copy


def write_occurrences(
    timer: Timer,
    crossed: list[str],
    settled: machine.TimerState | None,
    after: machine.TimerState | None,
    values: dict[str, Any],
    event: str | None,
) -> list[Occurrence]:
    """In order: crossings reached, the deadline that had passed (`settled`, if one had),
    the change itself (`after`, unless the command was refused or changed nothing more)."""
    view = cache(lambda: snapshot(timer, values))
    found = [Occurrence(timer.room_id, name, view) for name in crossed]
    if settled is not None:
        columns = {"status": str(settled.status), "remaining_ms": 0, "ends_at": None}
        columns.update(finished_at=settled.finished_at, version=settled.version)
        finished = cache(lambda: snapshot(timer, columns))
        found.append(Occurrence(timer.room_id, "timer.finished", finished))
    if after is not None:
        name = "timer.finished" if after.status is machine.Status.FINISHED else event
        if name is not None:
            found.append(Occurrence(timer.room_id, name, view))
    return found
