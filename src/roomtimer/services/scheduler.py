"""Finishes running timers at their deadline and announces `timer-finished` once.

Deadlines live in the database; this worker keeps only wake-up hints in a heap. When
one is due it claims every due timer in a single guarded UPDATE … RETURNING, so with
several workers each timer is finished by exactly one of them. A periodic sweep picks
up deadlines set by other workers, and timers whose deadline passed while no worker
ran (at start-up), so a dead worker's timers still finish within a sweep interval.
"""

import asyncio
import heapq
from typing import Any

from loguru import logger
from sqlalchemy import BindParameter, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roomtimer.clock import Clock
from roomtimer.events.bus import EventBus
from roomtimer.infra.metrics import Metrics
from roomtimer.models.tables import Timer
from roomtimer.models.timer_machine import Status
from roomtimer.schemas import public


class Scheduler:
    """Wakes at the earliest known deadline and finishes what is due."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        bus: EventBus,
        metrics: Metrics,
        *,
        sweep_ms: int = 500,
        lookahead_ms: int = 2_000,
    ) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus
        self.metrics = metrics
        self.sweep_ms = sweep_ms
        self.lookahead_ms = lookahead_ms
        self._deadlines: list[int] = []
        self._known: set[int] = set()
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

    def track(self, ends_at: int) -> None:
        """Hints that some running timer ends at `ends_at` (epoch ms)."""
        if ends_at in self._known:
            return
        self._known.add(ends_at)
        heapq.heappush(self._deadlines, ends_at)
        if self._deadlines[0] == ends_at:
            self._wake.set()

    async def finish_due(self) -> int:
        """Claims and announces every running timer whose deadline has passed.

        One UPDATE … RETURNING claims them all; each room's events then leave together,
        in one write per websocket, so viewers read the first room's while the next
        room's are being built.
        """
        now = self.clock.now_ms()
        async with self.db.begin() as session:
            finished = (await session.execute(self._claim, {"now": now})).all()
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

    def start(self) -> None:
        """Starts the background loop."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="roomtimer-scheduler")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stops the background loop once its current pass is done (cancels it after timeout_s)."""
        if self._task is None:
            return
        # Cancelling mid-query would leave the database driver's thread answering a closed loop.
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
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
                if now >= next_sweep:
                    await self.sweep()
                    next_sweep = now + self.sweep_ms
                    continue
                await self._sleep_until(min([next_sweep, *self._deadlines[:1]]) - now)
            except asyncio.CancelledError:
                raise
            except Exception:
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
