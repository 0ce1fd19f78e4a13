"""Presence: `user-count` at most once an interval per room, driven by an injected clock.

The fake clock decides how long Presence waits, so every wait here is a few milliseconds of
real time: a clock set 990 ms after the last emit must give a 10 ms wait, not a second.
"""

import asyncio
from collections.abc import Callable
from typing import Any, cast

import pytest
import socketio

from roomtimer.events.bus import EventBus
from roomtimer.realtime.rooms import SocketRooms, channel
from roomtimer.services.presence import Presence

T0 = 1_700_000_000_000


class FakeClock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now


class Recorder:
    """Stands in for the event bus (published events) and for Counts (room sizes, and reads)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.sizes: dict[str, int] = {}
        self.reads = 0
        self._activity = asyncio.Event()

    async def publish(self, room_id: str, event: str, payload: dict[str, Any]) -> None:
        self.sent.append((room_id, event, payload))
        self._activity.set()

    def room(self, room_id: str) -> int:
        self.reads += 1
        self._activity.set()
        return self.sizes.get(room_id, 0)

    def clients(self) -> int:
        return sum(self.sizes.values())

    def rooms(self) -> list[str]:
        return [room_id for room_id, size in self.sizes.items() if size]

    def counts_of(self, room_id: str) -> list[int]:
        return [p["count"] for r, _, p in self.sent if r == room_id]

    async def until(self, done: Callable[[], bool], timeout: float = 1.0) -> None:
        """Waits until `done()` holds, re-checking whenever a count is read or sent."""
        async with asyncio.timeout(timeout):
            while not done():
                self._activity.clear()
                await self._activity.wait()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def presence(rec: Recorder, clock: FakeClock) -> Presence:
    return Presence(cast(EventBus, rec), clock, rec)


async def emitted(rec: Recorder, n: int, timeout: float = 1.0) -> None:
    """Waits until `n` user-counts were sent in all."""
    await rec.until(lambda: len(rec.sent) >= n, timeout)


async def first_emit(presence: Presence, rec: Recorder, room: str = "r1", size: int = 1) -> None:
    rec.sizes[room] = size
    presence.changed(room)
    await emitted(rec, len(rec.sent) + 1)


async def test_first_change_goes_out_on_the_next_tick_with_the_contract_payload(
    presence: Presence, rec: Recorder
) -> None:
    rec.sizes["r1"] = 3
    presence.changed("r1")
    assert rec.sent == []  # scheduled, not sent from inside the join handler
    await emitted(rec, 1)
    assert rec.sent == [("r1", "user-count", {"roomId": "r1", "count": 3, "serverTime": T0})]
    assert presence.interval_ms == 1000


async def test_changes_within_the_interval_coalesce_into_one_emit_at_its_end(
    presence: Presence, rec: Recorder, clock: FakeClock
) -> None:
    await first_emit(presence, rec)
    clock.now = T0 + 990  # 10 ms of the interval left
    loop = asyncio.get_running_loop()
    started = loop.time()
    for size in (2, 3, 5):  # a join burst
        rec.sizes["r1"] = size
        presence.changed("r1")
    await asyncio.sleep(0)
    assert len(rec.sent) == 1
    await emitted(rec, 2, timeout=0.5)  # the wait came from the clock: not a full second
    assert loop.time() - started >= 0.005
    assert rec.counts_of("r1") == [1, 5]
    assert rec.sent[-1][2]["serverTime"] == T0 + 990


async def test_a_change_after_a_quiet_interval_goes_out_at_once(
    presence: Presence, rec: Recorder, clock: FakeClock
) -> None:
    await first_emit(presence, rec)
    clock.now = T0 + 60_000
    rec.sizes["r1"] = 2
    presence.changed("r1")
    await emitted(rec, 2, timeout=0.2)
    assert rec.counts_of("r1") == [1, 2]


async def test_an_unchanged_count_is_not_sent_again(
    presence: Presence, rec: Recorder, clock: FakeClock
) -> None:
    await first_emit(presence, rec)
    clock.now = T0 + 5_000
    reads = rec.reads
    presence.changed("r1")  # someone joined and left: still one viewer
    await rec.until(lambda: rec.reads > reads)  # the announce ran, and ends at that read
    assert rec.counts_of("r1") == [1]
    clock.now = T0 + 10_000
    rec.sizes["r1"] = 0
    presence.changed("r1")
    await emitted(rec, 2)
    assert rec.counts_of("r1") == [1, 0]


async def test_each_room_has_its_own_pace(
    presence: Presence, rec: Recorder, clock: FakeClock
) -> None:
    await first_emit(presence, rec, "r1")
    await first_emit(presence, rec, "r2", size=4)  # not held back by r1's interval
    assert [(room, p["count"]) for room, _, p in rec.sent] == [("r1", 1), ("r2", 4)]


async def test_forget_drops_the_pending_emit_and_the_pace_of_a_deleted_room(
    presence: Presence, rec: Recorder, clock: FakeClock
) -> None:
    await first_emit(presence, rec, "gone")
    await first_emit(presence, rec, "later")
    clock.now = T0 + 990
    rec.sizes["gone"] = 2
    presence.changed("gone")  # due in 10 ms
    presence.forget("gone")
    clock.now = T0 + 980
    rec.sizes["later"] = 2
    presence.changed("later")  # due in 20 ms: after the forgotten one would have fired
    await emitted(rec, 3)
    assert rec.counts_of("gone") == [1]
    presence.changed("gone")  # a new room with that id starts afresh: at once, same count
    await emitted(rec, 4, timeout=0.2)
    assert rec.counts_of("gone") == [1, 2]


async def test_close_cancels_every_pending_emit(rec: Recorder, clock: FakeClock) -> None:
    closing = Presence(cast(EventBus, rec), clock, rec)
    other = Presence(cast(EventBus, rec), clock, rec)
    rec.sizes.update({"a": 1, "b": 1})
    await first_emit(closing, rec, "a")
    await first_emit(other, rec, "b")
    clock.now = T0 + 990
    rec.sizes.update({"a": 2, "b": 2})
    closing.changed("a")
    closing.close()
    clock.now = T0 + 980
    other.changed("b")
    await emitted(rec, 3)
    assert rec.counts_of("a") == [1]
    assert rec.counts_of("b") == [1, 2]


class SlowShared:
    """Shared counts whose pace slot is taken once, then free; they count what `rec` says."""

    def __init__(self, rec: Recorder, waits_ms: list[int]) -> None:
        self.rec = rec
        self.waits_ms = waits_ms
        self.asked: list[bool] = []  # `again` of each claim
        self.touched: list[str] = []

    def room(self, room_id: str) -> int:
        return self.rec.room(room_id)

    def touch(self, room_id: str) -> None:
        self.touched.append(room_id)

    async def claim(self, room_id: str, *, again: bool) -> tuple[int, int | None]:
        self.asked.append(again)
        if self.waits_ms:
            return self.waits_ms.pop(0), None
        return 0, self.rec.room(room_id)

    async def census(self) -> None:
        return None


async def test_a_slot_taken_elsewhere_defers_the_emit(presence: Presence, rec: Recorder) -> None:
    shared = SlowShared(rec, [15])
    presence.shared = shared
    rec.sizes["r1"] = 2
    presence.changed("r1", joined=True)
    await emitted(rec, 1)
    # A joiner's `room-state` count was a snapshot: the count is announced even if unchanged.
    assert shared.asked == [True, True]
    assert shared.touched == ["r1"]
    assert rec.counts_of("r1") == [2]


async def test_local_counts_are_the_sockets_of_this_worker() -> None:
    sio = socketio.AsyncServer(async_mode="aiohttp")
    counts = SocketRooms(sio)
    sids = [await sio.manager.connect(f"eio-{n}", "/") for n in range(3)]
    for sid in sids[:2]:
        await sio.manager.enter_room(sid, "/", channel("r1"))
    await sio.manager.enter_room(sids[2], "/", channel("r2"))
    assert (counts.room("r1"), counts.room("r2"), counts.room("r3")) == (2, 1, 0)
    assert counts.clients() == 3
    await sio.manager.disconnect(sids[0], "/")
    assert (counts.room("r1"), counts.clients()) == (1, 2)
