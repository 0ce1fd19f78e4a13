"""Event streams: a bus output that hands each room's events to its open streams.

A stream is what one `GET /api/rooms/{shareToken}/events` client reads: the room's
events, each encoded once as a server-sent-events frame and shared by every stream of
the room. A stream that falls too far behind (its client stopped reading) is ended, so a
stuck client costs a bounded amount of memory; it reconnects and starts from a fresh
`room-state`.
"""

import asyncio
import collections
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from roomtimer.events.bus import RoomEvents

MAX_BUFFERED_BYTES = 512 * 1024
HEARTBEAT_S = 15.0  # a comment at least this often keeps proxies from closing a stream


def frame(name: str, payload: Mapping[str, Any]) -> bytes:
    """One server-sent event: `event: <name>` and `data: <JSON>` (orjson writes one line)."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class Stream:
    """One client's place in a room's events: frames waiting to be written, and its end."""

    __slots__ = ("_changed", "_frames", "buffered", "ended", "room_id")

    def __init__(self, room_id: str) -> None:
        self.room_id = room_id
        self._frames: collections.deque[bytes] = collections.deque()
        self._changed = asyncio.Event()
        self.buffered = 0
        self.ended = False  # no frame comes after what is queued

    def push(self, data: bytes, *, last: bool = False) -> None:
        """Queues frames; `last` ends the stream after them. Over the cap, the stream ends."""
        if self.ended:
            return
        self._frames.append(data)
        self.buffered += len(data)
        if last or self.buffered > MAX_BUFFERED_BYTES:
            self.ended = True
        self._changed.set()

    def end(self) -> None:
        """Ends the stream after what is queued (shutdown)."""
        self.ended = True
        self._changed.set()

    def take(self) -> bytes:
        """Everything queued, as one write."""
        data = b"".join(self._frames)
        self._frames.clear()
        self.buffered = 0
        self._changed.clear()
        return data

    async def wait(self, timeout_s: float) -> None:
        """Returns when something is queued or the stream ended, or after `timeout_s`."""
        if self._frames or self.ended:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await self._changed.wait()
        except TimeoutError:
            pass


class RoomStreams:
    """The bus output of event streams: the open streams of every room on this worker."""

    def __init__(self, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.heartbeat_s = heartbeat_s
        self._by_room: dict[str, set[Stream]] = {}

    async def __call__(self, events: RoomEvents) -> None:
        """Each event to every stream of its room, encoded once; the last one may end them."""
        streams = self._by_room.get(events.room_id)
        if not streams:
            return
        data = b"".join(frame(events.name, p) for p in events.payloads)
        last = events.ends_membership
        for stream in streams:
            stream.push(data, last=last)

    def open(self, room_id: str) -> Stream:
        """A new stream of the room's events from now on."""
        stream = Stream(room_id)
        self._by_room.setdefault(room_id, set()).add(stream)
        return stream

    def close(self, stream: Stream) -> None:
        """Forgets a stream whose client is gone or whose end was written."""
        streams = self._by_room.get(stream.room_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._by_room[stream.room_id]

    def streams(self) -> Iterable[Stream]:
        """Every open stream."""
        return [s for streams in self._by_room.values() for s in streams]

    def end_all(self) -> None:
        """Ends every stream (shutdown: clients reconnect to another worker)."""
        for stream in self.streams():
            stream.end()
