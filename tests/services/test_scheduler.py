"""The scheduler finishes running timers at their deadline and says so exactly once.

Time is a fake clock the test moves; the test runs the scheduler's pass itself
(`finish_due`), so no test sleeps until a deadline. One test runs in real time to
measure how late a real deadline is announced.
"""

import asyncio
import time

import pytest

from roomtimer import keys
from roomtimer.infra.metrics import Metrics
from roomtimer.services.scheduler import Scheduler
from tests.support.app import Api, RunningApp, Viewer
from tests.support.frozen import MINUTE, FakeClock, Frozen, finished_broadcasts


async def test_finishes_a_running_timer_at_its_deadline_once(frozen: Frozen) -> None:
    timer_id, ends_at = await frozen.running_timer()
    frozen.clock.now = ends_at - 1
    assert await frozen.scheduler.finish_due() == 0
    frozen.clock.now = ends_at
    assert await frozen.scheduler.finish_due() == 1
    event = await frozen.viewer.next("timer-finished")
    assert event["id"] == timer_id
    assert (event["status"], event["remainingMs"], event["endsAt"]) == ("finished", 0, None)
    assert (event["finishedAt"], event["serverTime"], event["version"]) == (ends_at, ends_at, 3)
    frozen.clock.now += MINUTE
    assert await frozen.scheduler.finish_due() == 0
    assert len(await frozen.received("timer-finished")) == 1
    assert frozen.finished_broadcasts() == 1
    rooms = (await frozen.api.call("GET", "/api/rooms")).body["rooms"]
    stored = rooms[0]["timers"][0]
    assert (stored["status"], stored["finishedAt"], stored["version"]) == ("finished", ends_at, 3)


async def test_a_late_pass_finishes_at_the_deadline_and_records_lateness(frozen: Frozen) -> None:
    _, ends_at = await frozen.running_timer()
    frozen.clock.now = ends_at + 2_500
    assert await frozen.scheduler.finish_due() == 1
    event = await frozen.viewer.next("timer-finished")
    assert (event["finishedAt"], event["serverTime"]) == (ends_at, ends_at + 2_500)
    registry = frozen.app.app[keys.metrics].registry
    assert registry.get_sample_value("roomtimer_timer_finish_lateness_seconds_sum") == 2.5


async def test_finishes_every_due_timer_in_one_pass(frozen: Frozen) -> None:
    deadlines = [(await frozen.running_timer(d * MINUTE))[1] for d in (3, 1, 2, 4)]
    frozen.clock.now = sorted(deadlines)[2]
    assert await frozen.scheduler.finish_due() == 3
    frozen.clock.now = max(deadlines)
    assert await frozen.scheduler.finish_due() == 1
    events = await frozen.received("timer-finished")
    assert sorted(e["finishedAt"] for e in events) == sorted(deadlines)


async def test_a_burst_over_two_rooms_reaches_each_rooms_viewers_whole_and_once(
    frozen: Frozen,
) -> None:
    other_room = await frozen.api.room(name="second stage")
    other_viewer = await Viewer(frozen.app.url).connect()
    try:
        assert (await other_viewer.join(other_room["shareToken"]))["ok"] is True
        await other_viewer.next("room-state")
        mine = [await frozen.running_timer() for _ in range(5)]
        theirs = []
        for _ in range(3):
            timer = await frozen.api.timer(other_room["id"], durationMs=10 * MINUTE)
            assert (await frozen.api.command(timer["id"], "start")).status == 200
            theirs.append(timer["id"])
        frozen.clock.now = mine[0][1]
        assert await frozen.scheduler.finish_due() == 8
        assert await frozen.scheduler.finish_due() == 0
        events = await frozen.received("timer-finished")
        assert sorted(e["id"] for e in events) == sorted(timer_id for timer_id, _ in mine)
        await other_viewer.client.call(
            "request-sync", {"shareToken": other_room["shareToken"]}, timeout=10
        )
        await other_viewer.next("room-state")
        assert sorted(e["id"] for e in other_viewer.events("timer-finished")) == sorted(theirs)
        assert frozen.finished_broadcasts() == 8
    finally:
        await other_viewer.close()


@pytest.mark.parametrize("action", ["pause", "reset", "delete"])
async def test_does_not_finish_a_timer_stopped_before_its_deadline(
    frozen: Frozen, action: str
) -> None:
    timer_id, ends_at = await frozen.running_timer()
    frozen.clock.now += MINUTE
    if action == "delete":
        reply = await frozen.api.call("DELETE", f"/api/timers/{timer_id}")
        assert reply.status == 204
    else:
        reply = await frozen.api.command(timer_id, action)
        assert reply.status == 200
    frozen.clock.now = ends_at + MINUTE
    assert await frozen.scheduler.finish_due() == 0
    assert await frozen.received("timer-finished") == []
    assert frozen.finished_broadcasts() == 0


async def test_adjusted_later_finishes_at_the_new_deadline_only(frozen: Frozen) -> None:
    timer_id, ends_at = await frozen.running_timer()
    reply = await frozen.api.command(timer_id, "adjust", {"deltaMs": 2 * MINUTE})
    assert reply.body["endsAt"] == ends_at + 2 * MINUTE
    frozen.clock.now = ends_at
    assert await frozen.scheduler.finish_due() == 0
    frozen.clock.now = ends_at + 2 * MINUTE
    assert await frozen.scheduler.finish_due() == 1
    events = await frozen.received("timer-finished")
    assert [e["finishedAt"] for e in events] == [ends_at + 2 * MINUTE]


async def test_adjusted_earlier_finishes_at_the_new_deadline(frozen: Frozen) -> None:
    timer_id, ends_at = await frozen.running_timer()
    reply = await frozen.api.command(timer_id, "adjust", {"deltaMs": -4 * MINUTE})
    assert reply.body["endsAt"] == ends_at - 4 * MINUTE
    frozen.clock.now = ends_at - 4 * MINUTE - 1
    assert await frozen.scheduler.finish_due() == 0
    frozen.clock.now = ends_at - 4 * MINUTE
    assert await frozen.scheduler.finish_due() == 1
    frozen.clock.now = ends_at
    assert await frozen.scheduler.finish_due() == 0
    events = await frozen.received("timer-finished")
    assert [e["finishedAt"] for e in events] == [ends_at - 4 * MINUTE]
    assert frozen.finished_broadcasts() == 1


async def test_paused_and_restarted_finishes_at_the_moved_deadline(frozen: Frozen) -> None:
    timer_id, ends_at = await frozen.running_timer()
    frozen.clock.now += MINUTE
    await frozen.api.command(timer_id, "pause")
    frozen.clock.now += 3 * MINUTE
    restarted = (await frozen.api.command(timer_id, "start")).body
    assert restarted["endsAt"] == ends_at + 3 * MINUTE
    frozen.clock.now = ends_at
    assert await frozen.scheduler.finish_due() == 0
    frozen.clock.now = restarted["endsAt"]
    assert await frozen.scheduler.finish_due() == 1
    events = await frozen.received("timer-finished")
    assert [(e["finishedAt"], e["version"]) for e in events] == [(restarted["endsAt"], 5)]


async def test_adjust_leaving_no_time_finishes_at_once(frozen: Frozen) -> None:
    timer_id, ends_at = await frozen.running_timer()
    frozen.clock.now += MINUTE
    reply = await frozen.api.command(timer_id, "adjust", {"deltaMs": -20 * MINUTE})
    assert reply.status == 200
    assert (reply.body["status"], reply.body["finishedAt"]) == ("finished", frozen.clock.now)
    frozen.clock.now = ends_at
    assert await frozen.scheduler.finish_due() == 0
    events = await frozen.received("timer-finished")
    assert [e["version"] for e in events] == [3]


async def test_real_deadline_is_announced_promptly(app: RunningApp, api: Api) -> None:
    room = await api.room()
    timer = await api.timer(room["id"], durationMs=1_000)
    viewer = await Viewer(app.url).connect()
    try:
        await viewer.join(room["shareToken"])
        reply = await api.command(timer["id"], "start")
        ends_at = reply.body["endsAt"]
        event = await viewer.next("timer-finished", timeout=5)
        lateness_ms = time.time_ns() // 1_000_000 - ends_at
    finally:
        await viewer.close()
    assert event["finishedAt"] == ends_at <= event["serverTime"]
    assert 0 <= lateness_ms < 100, f"announced {lateness_ms} ms after the deadline"
    assert finished_broadcasts(app) == 1


class StuckQuery:
    """A session factory whose every query waits until released, recording how it ended."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.outcome = ""

    def __call__(self) -> "StuckQuery":
        return self

    async def __aenter__(self) -> "StuckQuery":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def scalars(self, *_: object, **__: object) -> list[int]:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.outcome = "cancelled"
            raise
        self.outcome = "completed"
        return []


def stuck_scheduler(db: StuckQuery) -> Scheduler:
    return Scheduler(db, FakeClock(), None, Metrics())  # type: ignore[arg-type]


async def test_stop_lets_the_pass_in_progress_finish() -> None:
    # Cancelling a query leaves the SQLite driver's thread answering a loop that may be closed.
    db = StuckQuery()
    scheduler = stuck_scheduler(db)
    scheduler.start()
    await db.started.wait()
    stopping = asyncio.create_task(scheduler.stop())
    # While the pass's query runs, stop() waits for it (up to its 5 s bound): not cancelled.
    done, _ = await asyncio.wait([stopping], timeout=0.5)
    assert not done, "stop() returned while a pass was still running"
    assert db.outcome == ""  # neither cancelled nor completed yet
    db.release.set()
    await stopping
    assert db.outcome == "completed"


async def test_stop_cancels_a_pass_that_hangs() -> None:
    db = StuckQuery()
    scheduler = stuck_scheduler(db)
    scheduler.start()
    await db.started.wait()
    await scheduler.stop(timeout_s=0.05)
    assert db.outcome == "cancelled"
