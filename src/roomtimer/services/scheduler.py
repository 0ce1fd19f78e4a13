"""Finishes running timers at their deadline and announces `timer-finished` once.

Deadlines live in the database; this worker keeps only wake-up hints in a heap. When
one is due it claims every due timer in a single guarded UPDATE … RETURNING, so with
several workers each timer is finished by exactly one of them. A periodic sweep picks
up deadlines set by other workers, and timers whose deadline passed while no worker
ran (at start-up), so a dead worker's timers still finish within a sweep interval.

Threshold crossings (`timer.warning`, `timer.danger`, for webhooks) are deadlines of the
same kind, kept in a second heap so they never delay a finish: each is claimed by a
guarded UPDATE that clears the timer's due instant, so it fires once in all.
"""

import asyncio
import heapq
from collections.abc import Sequence
from typing import Any

from loguru import logger
from sqlalchemy import BindParameter, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roomtimer.clock import Clock
from roomtimer.events.bus import EventBus
from roomtimer.infra.background import finish_task
from roomtimer.infra.db import is_unavailable
from roomtimer.infra.metrics import Metrics
from roomtimer.models.tables import Timer
from roomtimer.models.timer_machine import Status
from roomtimer.schemas import public
from roomtimer.services.outbox import Occurrence, Outbox


class Scheduler:
    """Wakes at the earliest known deadline and finishes what is due."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        bus: EventBus,
        metrics: Metrics,
        outbox: Outbox | None = None,
        *,
        sweep_ms: int = 500,
        lookahead_ms: int = 2_000,
    ) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus
        self.metrics = metrics
        self.outbox = outbox or Outbox()
        self.sweep_ms = sweep_ms
        self.lookahead_ms = lookahead_ms
        self._deadlines: list[int] = []
        self._known: set[int] = set()
        self._crossings: list[int] = []
        self._known_crossings: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        now: BindParameter[int] = bindparam("now")
        self._claim = (
            update(Timer)
            .where(Timer.status == Status.RUNNING.value, Timer.ends_at <= now)
            .values(
                status=Status.FINISHED.value,
                remaining_ms=0,
                finished_at=Timer.ends_at,
                ends_at=None,
                version=Timer.version + 1,
                updated_at=now,
            )
            .returning(*Timer.__table__.columns)
            .execution_options(synchronize_session=False)
        )
        self._claim_crossing = {
            event: update(Timer)
            .where(Timer.status == Status.RUNNING.value, column <= now)
            .values({column: None})
            .returning(*Timer.__table__.columns)
            .execution_options(synchronize_session=False)
            for event, column in (
                ("timer.warning", Timer.warn_due_at),
                ("timer.danger", Timer.danger_due_at),
            )
        }

    def track(self, ends_at: int) -> None:
        """Hints that some running timer ends at `ends_at` (epoch ms)."""
        if ends_at in self._known:
            return
        self._known.add(ends_at)
        heapq.heappush(self._deadlines, ends_at)
        if self._deadlines[0] == ends_at:
            self._wake.set()

    def track_crossing(self, at: int) -> None:
        """Hints that some running timer crosses a threshold at `at` (epoch ms)."""
        if at in self._known_crossings:
            return
        self._known_crossings.add(at)
        heapq.heappush(self._crossings, at)
        if self._crossings[0] == at:
            self._wake.set()

    async def fire_crossings(self) -> int:
        """Claims every threshold crossing that is due and records its webhooks."""
        now = self.clock.now_ms()
        async with self.db.begin() as session:
            found = []
            for event, claim in self._claim_crossing.items():
                for timer in (await session.execute(claim, {"now": now})).all():
                    found.append(Occurrence(timer.room_id, event, timer))
            recorded = await self.outbox.record(session, found, now)
        if recorded:
            self.outbox.wake()
        return len(found)

    async def finish_due(self) -> int:
        """Claims and announces every running timer whose deadline has passed.

        One UPDATE … RETURNING claims them all; each room's events then leave together,
        in one write per websocket, so viewers read the first room's while the next
        room's are being built.
        """
        now = self.clock.now_ms()
        async with self.db.begin() as session:
            finished = (await session.execute(self._claim, {"now": now})).all()
            recorded = await self.outbox.record(session, self._finish_hooks(finished), now)
        if recorded:
            self.outbox.wake()
        by_room: dict[str, list[Any]] = {}
        for timer in finished:
            by_room.setdefault(timer.room_id, []).append(timer)
        observe = self.metrics.finish_lateness.observe
        for room_id, timers in by_room.items():
            at = self.clock.now_ms()
            payloads = [public.timer_event(timer, at) for timer in timers]
            await self.bus.publish_many(room_id, "timer-finished", payloads)
            for timer in timers:
                observe(max(0, at - (timer.finished_at or at)) / 1000)
        return len(finished)

    @staticmethod
    def _finish_hooks(finished: Sequence[Any]) -> list[Occurrence]:
        """timer.finished, after any crossing the timer reached but no pass had claimed yet
        (a timer's due instants are cleared or replaced by its next write)."""
        found = []
        for timer in finished:
            for event, due in (
                ("timer.warning", timer.warn_due_at),
                ("timer.danger", timer.danger_due_at),
            ):
                if due is not None:
                    found.append(Occurrence(timer.room_id, event, timer))
            found.append(Occurrence(timer.room_id, "timer.finished", timer))
        return found

    async def sweep(self) -> None:
        """Learns deadlines from the database (other workers' timers, overdue ones)."""
        horizon = self.clock.now_ms() + self.lookahead_ms
        async with self.db() as session:
            deadlines = await session.scalars(
                select(Timer.ends_at).where(
                    Timer.status == Status.RUNNING.value, Timer.ends_at <= horizon
                )
            )
            for ends_at in deadlines:
                if ends_at is not None:
                    self.track(ends_at)
            crossings = await session.execute(
                select(Timer.warn_due_at, Timer.danger_due_at).where(
                    Timer.status == Status.RUNNING.value,
                    or_(Timer.warn_due_at <= horizon, Timer.danger_due_at <= horizon),
                )
            )
            for warn, danger in crossings:
                for at in (warn, danger):
                    if at is not None and at <= horizon:
                        self.track_crossing(at)

    def start(self) -> None:
        """Starts the background loop."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="roomtimer-scheduler")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stops the background loop once its current pass is done (cancels it after timeout_s)."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await finish_task(self._task, timeout_s)
        self._task = None

    async def _run(self) -> None:
        next_sweep = 0
        while not self._stopping:
            try:
                now = self.clock.now_ms()
                if self._deadlines and self._deadlines[0] <= now:  # before the sweep: on time
                    while self._deadlines and self._deadlines[0] <= now:
                        self._known.discard(heapq.heappop(self._deadlines))
                    await self.finish_due()
                    continue
                if self._crossings and self._crossings[0] <= now:
                    while self._crossings and self._crossings[0] <= now:
                        self._known_crossings.discard(heapq.heappop(self._crossings))
                    await self.fire_crossings()
                    continue
                if now >= next_sweep:
                    await self.sweep()
                    next_sweep = now + self.sweep_ms
                    continue
                wake_at = min([next_sweep, *self._deadlines[:1], *self._crossings[:1]])
                await self._sleep_until(wake_at - now)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_unavailable(exc):  # an outage, not a bug: no stack trace per second
                    logger.warning(
                        "scheduler pass failed ({}); retrying in 1 s", type(exc).__name__
                    )
                else:
                    logger.exception("scheduler pass failed; retrying in 1 s")
                await self._sleep_until(1_000)

    async def _sleep_until(self, delay_ms: int) -> None:
        self._wake.clear()
        if self._stopping:
            return
        try:
            async with asyncio.timeout(max(0, delay_ms) / 1000):
                await self._wake.wait()
        except TimeoutError:
            pass
