"""Shared pieces of the public shapes: instants as text, stored timers."""

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Row

from roomtimer.models.tables import Timer

# A stored timer: the ORM object, or a row of the timers table's columns.
TimerLike = Timer | Row[Any]


@lru_cache(maxsize=16384)  # a burst of events repeats the same few instants
def iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds, like JavaScript's toISOString."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _iso_or_none(ms: int | None) -> str | None:
    return None if ms is None else iso(ms)
