"""The real app on a fake clock with its scheduler loop stopped (the `frozen` fixture).

Only the test moves time and runs the scheduler's passes (`finish_due`), so no test
sleeps until a deadline and results are exact.
"""

from dataclasses import dataclass
from typing import Any

from roomtimer import keys
from roomtimer.services.scheduler import Scheduler
from tests.support.app import Api, RunningApp, Viewer

MINUTE = 60_000


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: int = 1_800_000_000_000) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now


@dataclass
class Frozen:
    """The app on a fake clock, its own scheduler loop stopped, a viewer in one room."""

    app: RunningApp
    clock: FakeClock
    scheduler: Scheduler
    api: Api
    viewer: Viewer
    room: dict[str, Any]

    async def received(self, event: str) -> list[Any]:
        """Every `event` the viewer got, once everything sent so far has arrived."""
        await self.viewer.client.call(
            "request-sync", {"shareToken": self.room["shareToken"]}, timeout=10
        )
        await self.viewer.next("room-state")  # sockets deliver in order: nothing is in flight
        return self.viewer.events(event)

    def finished_broadcasts(self) -> float:
        """roomtimer_broadcasts_total{event="timer-finished"}."""
        registry = self.app.app[keys.metrics].registry
        sample = registry.get_sample_value(
            "roomtimer_broadcasts_total", {"event": "timer-finished"}
        )
        return sample or 0.0

    async def running_timer(self, duration_ms: int = 10 * MINUTE) -> tuple[str, int]:
        """Creates and starts a timer; returns its id and deadline."""
        timer = await self.api.timer(self.room["id"], durationMs=duration_ms)
        reply = await self.api.command(timer["id"], "start")
        assert reply.status == 200, reply.body
        assert reply.body["endsAt"] == self.clock.now + duration_ms
        return timer["id"], reply.body["endsAt"]

    async def stored(self, timer_id: str) -> dict[str, Any]:
        """The timer as GET /api/rooms shows it."""
        rooms = (await self.api.call("GET", "/api/rooms")).body["rooms"]
        found: dict[str, Any] = next(t for r in rooms for t in r["timers"] if t["id"] == timer_id)
        return found


def finished_broadcasts(app: RunningApp) -> float:
    """roomtimer_broadcasts_total{event="timer-finished"}."""
    registry = app.app[keys.metrics].registry
    sample = registry.get_sample_value("roomtimer_broadcasts_total", {"event": "timer-finished"})
    return sample or 0.0
