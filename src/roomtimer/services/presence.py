"""Who is watching: `user-count` per room, at most about one a second."""

import asyncio
from typing import Protocol

from roomtimer.clock import Clock
from roomtimer.events.bus import EventBus
from roomtimer.infra.background import spawn
from roomtimer.schemas import public


class Counts(Protocol):
    """This worker's sockets."""

    def room(self, room_id: str) -> int:
        """Sockets in the room."""
        ...

    def clients(self) -> int:
        """Connected sockets."""
        ...

    def rooms(self) -> list[str]:
        """Rooms with sockets."""
        ...


class Shared(Protocol):
    """Counts every worker reads alike (Redis): the one source of `user-count` and stats."""

    def room(self, room_id: str) -> int:
        """Sockets in the room on every worker, best known without waiting."""
        ...

    def touch(self, room_id: str) -> None:
        """This worker's sockets in the room changed: share them soon."""
        ...

    async def claim(self, room_id: str, *, again: bool) -> tuple[int, int | None] | None:
        """(0, the count to announce now), (0, None) when some worker announced it already
        (unless `again`), (ms, None) while another worker's announce holds the interval;
        None: no answer."""
        ...

    async def census(self) -> tuple[int, int] | None:
        """(connected sockets, rooms with sockets) on every worker; None when they do not answer."""
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
        self.shared: Shared | None = None
        self._last_at: dict[str, int] = {}
        self._last_count: dict[str, int] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._joined: set[str] = set()  # rooms joined here since their last announce

    def count(self, room_id: str) -> int:
        """Sockets in the room, best known now."""
        return self.shared.room(room_id) if self.shared else self.counts.room(room_id)

    async def census(self) -> tuple[int, int]:
        """Connected sockets and rooms with sockets: every worker's, else this worker's."""
        if self.shared is not None:
            found = await self.shared.census()
            if found is not None:
                return found
        return self.counts.clients(), len(self.counts.rooms())

    def changed(self, room_id: str, *, joined: bool = False) -> None:
        """This worker's sockets in the room changed: shares them and schedules a `user-count`."""
        if self.shared is not None:
            self.shared.touch(room_id)
            if joined:  # its `room-state` count came from a snapshot: it gets the truth too
                self._joined.add(room_id)
        self.recount(room_id)

    def recount(self, room_id: str) -> None:
        """Schedules a `user-count` for the room: now if quiet, else a second after the last."""
        if room_id in self._pending:
            return
        delay_ms = max(0, self._last_at.get(room_id, 0) + self.interval_ms - self.clock.now_ms())
        self._later(delay_ms, room_id)

    def forget(self, room_id: str) -> None:
        """Drops the state of a deleted room."""
        handle = self._pending.pop(room_id, None)
        if handle:
            handle.cancel()
        self._last_at.pop(room_id, None)
        self._last_count.pop(room_id, None)
        self._joined.discard(room_id)

    def _later(self, delay_ms: int, room_id: str) -> None:
        loop = asyncio.get_running_loop()
        self._pending[room_id] = loop.call_later(delay_ms / 1000, self._fire, room_id)

    def _fire(self, room_id: str) -> None:
        self._pending.pop(room_id, None)
        spawn(self._announce(room_id))

    async def _announce(self, room_id: str) -> None:
        turn = None
        if self.shared is not None:
            turn = await self.shared.claim(room_id, again=room_id in self._joined)
        if turn is not None:  # the shared counts paced, counted and deduplicated it
            wait_ms, count = turn
            if wait_ms and room_id not in self._pending:
                self._later(wait_ms, room_id)
            if wait_ms:
                return
            self._joined.discard(room_id)
            if count is None:
                return
        else:  # one worker alone, or Redis down: this worker's own numbers
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
