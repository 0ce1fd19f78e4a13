"""Timers: create, change, delete and the start/pause/reset/adjust commands.

Writes are optimistic: each is an UPDATE guarded by the version read, retried when
another request or worker changed the timer in between, so the database stays the
one truth across workers.
"""

import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roomtimer.clock import Clock
from roomtimer.errors import AppError, Forbidden, NotFound, Unavailable, ValidationFailed
from roomtimer.events.bus import EventBus
from roomtimer.models import crossings
from roomtimer.models import timer_machine as machine
from roomtimer.models.stamped import Stamped
from roomtimer.models.tables import Room, Timer
from roomtimer.schemas import public
from roomtimer.services import timer_hooks
from roomtimer.services.outbox import COMMAND_EVENTS, Occurrence, Outbox
from roomtimer.services.rooms import owned_room
from roomtimer.services.scheduler import Scheduler

MAX_TIMERS_PER_ROOM = 100
MAX_ATTEMPTS = 8

Change = Callable[[machine.TimerState, int], machine.TimerState]


async def owned_timer(session: AsyncSession, timer_id: str, owner_id: str) -> Timer:
    """The timer, if it exists (404) and its room belongs to `owner_id` (403)."""
    row = (
        await session.execute(select(Timer, Room.owner_id).join(Room).where(Timer.id == timer_id))
    ).first()
    if row is None:
        raise NotFound("Timer not found")
    timer, room_owner = row
    if room_owner != owner_id:
        raise Forbidden("You do not own this timer")
    return timer


def state_of(timer: Timer) -> machine.TimerState:
    """The state-machine view of a stored timer."""
    return machine.TimerState(
        status=machine.Status(timer.status),
        duration_ms=timer.duration_ms,
        remaining_ms=timer.remaining_ms,
        ends_at=timer.ends_at,
        finished_at=timer.finished_at,
        version=timer.version,
    )


def _check_thresholds(duration_ms: int, warn_at_ms: int | None, danger_at_ms: int | None) -> None:
    problems = machine.threshold_problems(duration_ms, warn_at_ms, danger_at_ms)
    if problems:
        raise ValidationFailed(details=problems)


def _columns(state: machine.TimerState) -> dict[str, Any]:
    fields = asdict(state)
    fields["status"] = str(state.status)
    return fields


def _unchanged(column: Any, value: int | None) -> Any:
    return column.is_(None) if value is None else column == value


class TimerService:
    """Use cases of timers."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        bus: EventBus,
        scheduler: Scheduler,
        outbox: Outbox,
    ) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus
        self.scheduler = scheduler
        self.outbox = outbox

    async def check_owner(self, *, owner_id: str, timer_id: str) -> None:
        """404 unless the timer exists, 403 unless `owner_id` owns its room."""
        async with self.db() as session:
            await owned_timer(session, timer_id, owner_id)

    async def create(
        self,
        *,
        owner_id: str,
        room_id: str,
        label: str,
        duration_ms: int,
        position: int | None,
        warn_at_ms: int | None = None,
        danger_at_ms: int | None = None,
    ) -> Stamped[Timer]:
        """Adds an idle timer to a room (at most 100 a room)."""
        async with self.db.begin() as session:
            room = await owned_room(session, room_id, owner_id, lock=True)
            _check_thresholds(duration_ms, warn_at_ms, danger_at_ms)
            count, highest = (
                await session.execute(
                    select(func.count(Timer.id), func.max(Timer.position)).where(
                        Timer.room_id == room.id
                    )
                )
            ).one()
            if count >= MAX_TIMERS_PER_ROOM:
                raise ValidationFailed(
                    details={"timers": [f"A room has at most {MAX_TIMERS_PER_ROOM} timers."]}
                )
            now = self.clock.now_ms()
            timer = Timer(
                id=str(uuid.uuid4()),
                room_id=room.id,
                label=label,
                position=position if position is not None else (highest + 1 if count else 0),
                warn_at_ms=warn_at_ms,
                danger_at_ms=danger_at_ms,
                created_at=now,
                updated_at=now,
                **_columns(machine.new(duration_ms)),
            )
            session.add(timer)
            created = Occurrence(room.id, "timer.created", timer)
            recorded = await self.outbox.record(session, [created], now)
        if recorded:
            self.outbox.wake()
        payload = public.timer_event(timer, now)
        await self.bus.publish(room.id, "timer-created", payload, owner_id=owner_id)
        return Stamped(timer, now)

    async def update(
        self, *, owner_id: str, timer_id: str, changes: dict[str, Any]
    ) -> Stamped[Timer]:
        """Changes label, duration, position or thresholds (duration applies to an idle
        timer now; thresholds are checked against the duration the timer ends up with)."""

        def check(timer: Timer) -> None:
            _check_thresholds(
                changes.get("duration_ms", timer.duration_ms),
                changes.get("warn_at_ms", timer.warn_at_ms),
                changes.get("danger_at_ms", timer.danger_at_ms),
            )

        def change(state: machine.TimerState, now: int) -> machine.TimerState:
            if not changes:
                return state
            if "duration_ms" in changes:
                state = machine.set_duration(state, changes["duration_ms"])
            return replace(state, version=state.version + 1)

        fields = {k: v for k, v in changes.items() if k != "duration_ms"}
        return await self._write(owner_id, timer_id, change, fields, check)

    async def command(
        self, *, owner_id: str, timer_id: str, name: str, delta_ms: int | None = None
    ) -> Stamped[Timer]:
        """Applies start, pause, reset or adjust; a no-op changes and broadcasts nothing."""

        def change(state: machine.TimerState, now: int) -> machine.TimerState:
            if name == "adjust":
                assert delta_ms is not None
                return machine.adjust(state, delta_ms, now)
            return machine.COMMANDS[name](state, now)

        return await self._write(owner_id, timer_id, change, event=COMMAND_EVENTS[name])

    async def delete(self, *, owner_id: str, timer_id: str) -> None:
        """Deletes a timer and tells its room."""
        async with self.db.begin() as session:
            timer = await owned_timer(session, timer_id, owner_id)
            now = self.clock.now_ms()
            deleted = Occurrence(timer.room_id, "timer.deleted", timer)
            recorded = await self.outbox.record(session, [deleted], now)
            await session.delete(timer)
        if recorded:
            self.outbox.wake()
        payload = public.timer_deleted(timer, self.clock.now_ms())
        await self.bus.publish(timer.room_id, "timer-deleted", payload, owner_id=owner_id)

    async def _write(
        self,
        owner_id: str,
        timer_id: str,
        change: Change,
        fields: dict[str, Any] | None = None,
        check: Callable[[Timer], None] | None = None,
        event: str | None = None,
    ) -> Stamped[Timer]:
        """Settles a passed deadline, applies `change`, saves it guarded by version (and by
        the armed crossings, which the scheduler claims), records webhooks, broadcasts."""
        fields = fields or {}
        for _ in range(MAX_ATTEMPTS):
            recorded = 0
            armed = crossings.Due()
            async with self.db.begin() as session:
                timer = await owned_timer(session, timer_id, owner_id)
                if check is not None:
                    check(timer)
                now = self.clock.now_ms()
                before = state_of(timer)
                settled = machine.settle(before, now)
                refused: AppError | None = None
                try:
                    after = change(settled, now)
                except AppError as exc:
                    after, refused = settled, exc
                if after is not before:
                    thresholds = crossings.Thresholds(
                        fields.get("warn_at_ms", timer.warn_at_ms),
                        fields.get("danger_at_ms", timer.danger_at_ms),
                    )
                    due = crossings.Due(timer.warn_due_at, timer.danger_due_at)
                    armed = crossings.armed(after, thresholds, now)
                    values = {
                        **_columns(after),
                        **fields,
                        "updated_at": now,
                        "warn_due_at": armed.warn,
                        "danger_due_at": armed.danger,
                    }
                    saved = await session.execute(
                        update(Timer)
                        .where(
                            Timer.id == timer.id,
                            Timer.version == before.version,
                            _unchanged(Timer.warn_due_at, due.warn),
                            _unchanged(Timer.danger_due_at, due.danger),
                        )
                        .values(**values)
                        .execution_options(synchronize_session=False)
                    )
                    if saved.rowcount != 1:  # type: ignore[attr-defined]
                        continue  # changed (or a crossing claimed) under us: read again
                    crossed = crossings.fired(before, due, after, thresholds, now)
                    found = timer_hooks.write_occurrences(
                        timer,
                        crossed,
                        settled if settled is not before else None,
                        after if after is not settled else None,
                        values,
                        event,
                    )
                    recorded = await self.outbox.record(session, found, now)
            if recorded:
                self.outbox.wake()
            for name, value in fields.items():
                setattr(timer, name, value)  # the session is closed: only the view changes
            for at in (armed.warn, armed.danger):
                if at is not None:
                    self.scheduler.track_crossing(at)
            return await self._announce(timer, owner_id, (before, settled, after), now, refused)
        raise Unavailable("The timer is changing too fast; try again")

    async def _announce(
        self,
        timer: Timer,
        owner_id: str,
        states: tuple[machine.TimerState, machine.TimerState, machine.TimerState],
        now: int,
        refused: AppError | None,
    ) -> Stamped[Timer]:
        """Tells the room what changed: a deadline passed (`settled`), then the command."""
        before, settled, after = states
        publish = self.bus.publish
        if settled is not before:  # its deadline passed before this request
            self._apply(timer, settled, now)
            payload = public.timer_event(timer, now)
            await publish(timer.room_id, "timer-finished", payload, owner_id=owner_id)
        if after is not settled:
            self._apply(timer, after, now)
            finished = after.status is machine.Status.FINISHED
            event = "timer-finished" if finished else "timer-update"
            await publish(timer.room_id, event, public.timer_event(timer, now), owner_id=owner_id)
            if after.status is machine.Status.RUNNING and after.ends_at is not None:
                self.scheduler.track(after.ends_at)
        if refused is not None:
            raise refused
        return Stamped(timer, now)

    @staticmethod
    def _apply(timer: Timer, state: machine.TimerState, now: int) -> None:
        for name, value in _columns(state).items():
            setattr(timer, name, value)
        timer.updated_at = now
