"""Who is watching: `user-count` per room, at most about one a second."""

import asyncio
from typing import Protocol

from roomtimer.clock import Clock
from roomtimer.events.bus import EventBus
from roomtimer.infra.background import spawn
from roomtimer.schemas import public


class Counts(Protocol):
    """Where membership numbers come from (this worker, or every live worker)."""

    def room(self, room_id: str) -> int:
        """Sockets in the room."""
        ...

    def clients(self) -> int:
        """Connected sockets."""
        ...


class Gate(Protocol):
    """Paces `user-count` across workers: one announcer per room per interval."""

    async def wait_ms(self, room_id: str) -> int:
        """0 when this worker may announce now, else how long to wait."""
        ...


class Presence:
    """Coalesces membership changes into at most one `user-count` a second per room."""

    def __init__(
        self, bus: EventBus, clock: Clock, counts: Counts, *, interval_ms: int = 1000
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.interval_ms = interval_ms
        self.counts = counts
        self.gate: Gate | None = None
        self._last_at: dict[str, int] = {}
        self._last_count: dict[str, int] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}

    def count(self, room_id: str) -> int:
        """Sockets in the room."""
        return self.counts.room(room_id)

    def total_clients(self) -> int:
        """Connected sockets."""
        return self.counts.clients()

    def changed(self, room_id: str) -> None:
        """Schedules a `user-count` for the room: now if quiet, else a second after the last."""
        if room_id in self._pending:
            return
        delay_ms = max(0, self._last_at.get(room_id, 0) + self.interval_ms - self.clock.now_ms())
        loop = asyncio.get_running_loop()
        self._pending[room_id] = loop.call_later(delay_ms / 1000, self._fire, room_id)

    def forget(self, room_id: str) -> None:
        """Drops the state of a deleted room."""
        handle = self._pending.pop(room_id, None)
        if handle:
            handle.cancel()
        self._last_at.pop(room_id, None)
        self._last_count.pop(room_id, None)

    def _fire(self, room_id: str) -> None:
        self._pending.pop(room_id, None)
        spawn(self._announce(room_id))

    async def _announce(self, room_id: str) -> None:
        if self.gate is not None:
            wait_ms = await self.gate.wait_ms(room_id)
            if wait_ms and room_id not in self._pending:
                loop = asyncio.get_running_loop()
                self._pending[room_id] = loop.call_later(wait_ms / 1000, self._fire, room_id)
            if wait_ms:
                return
        count = self.count(room_id)
        if count == self._last_count.get(room_id):
            return
        now = self.clock.now_ms()
        self._last_at[room_id] = now
        self._last_count[room_id] = count
        await self.bus.publish(room_id, "user-count", public.user_count(room_id, count, now))

    def close(self) -> None:
        """Cancels every pending emit."""
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
