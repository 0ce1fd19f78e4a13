"""The events a webhook may subscribe to."""

EVENTS = (
    "timer.created",
    "timer.started",
    "timer.paused",
    "timer.reset",
    "timer.adjusted",
    "timer.deleted",
    "timer.warning",
    "timer.danger",
    "timer.finished",
    "room.updated",
    "room.deleted",
)
