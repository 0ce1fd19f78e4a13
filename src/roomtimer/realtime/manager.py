"""The fast place where room events reach this worker's sockets: a shared frame per event.

python-socketio 5.18's AsyncManager creates a task per recipient, and engineio then
queues, wakes a writer task and re-frames the same bytes for each socket. Here a room
event is encoded once, into one websocket frame, and written straight to the transport
of every websocket viewer whose engineio writer holds nothing; any other socket
(polling, mid-upgrade, or with packets queued) gets the packet on engineio's own queue,
in the same synchronous pass, so each socket's order is kept. Sockets that buffer more
than `max_buffer_bytes` are dropped. Engine.IO internals: see `transport`.
"""

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import socketio
from socketio import packet as sio_packet

from roomtimer.infra.background import spawn
from roomtimer.realtime.lean_socket import install_engineio_hooks
from roomtimer.realtime.packets import LenientPacket
from roomtimer.realtime.transport import (
    DROPPED_ATTR,
    WS_ATTR,
    FastWebSocket,
    Outgoing,
    TrackedQueue,
)

__all__ = [
    "DEFAULT_MAX_BUFFER_BYTES",
    "FanoutStats",
    "FastAsyncManager",
    "FastManagerMixin",
    "FastWebSocket",
    "install_engineio_hooks",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BUFFER_BYTES = 1024 * 1024
# Packet classes whose encoding is the stock JSON one (LenientPacket changes decoding only).
JSON_PACKETS = (sio_packet.Packet, LenientPacket)
DropHook = Callable[[str], None]


@dataclass
class FanoutStats:
    """Delivery counters of one manager (one per socket per emit)."""

    fast: int = 0  # frames written straight to a websocket transport
    queued: int = 0  # packets put on engineio's per-socket queue
    dropped: int = 0  # sockets closed for buffering more than the cap


class FastManagerMixin(socketio.AsyncManager):  # type: ignore[misc]
    """Local delivery of emits through the shared-frame fast path."""

    def __init__(self) -> None:
        super().__init__()
        self.max_buffer_bytes = DEFAULT_MAX_BUFFER_BYTES
        self.on_drop: DropHook | None = None
        self.stats = FanoutStats()
        self.fast_path = False
        self._rooms_of: dict[str, dict[str, tuple[Any, ...]]] = {}  # namespace -> sid -> rooms

    # Rooms of each socket. python-socketio 5.18 finds them by testing every room of the
    # namespace, and every socket has a room of its own, so each disconnect cost O(all
    # sockets): 5000 viewers leaving at once froze the loop for seconds. Every change of
    # `self.rooms` goes through basic_enter_room and basic_leave_room (base_manager.py).
    # A socket is in three rooms (None, its own, a timer room): a tuple is the smallest.

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        """Adds `sid` to `room`, and `room` to the socket's rooms."""
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        of = self._rooms_of.setdefault(namespace, {})
        rooms = of.get(sid, ())
        if room not in rooms:
            of[sid] = (*rooms, room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        """Removes `sid` from `room`, and `room` from the socket's rooms."""
        super().basic_leave_room(sid, namespace, room)
        of = self._rooms_of.get(namespace, {})
        rooms = of.get(sid, ())
        if room in rooms:
            remaining = tuple(r for r in rooms if r != room)
            if remaining:
                of[sid] = remaining
            else:
                del of[sid]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        """The rooms `sid` is in (its own included), from the index: O(its rooms)."""
        return [room for room in self._rooms_of.get(namespace, {}).get(sid, ()) if room is not None]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """Takes `sid` out of its rooms, then forgets its callbacks and pending states."""
        for room in self._rooms_of.get(namespace, {}).get(sid, ()):
            self.basic_leave_room(sid, namespace, room)
        # What python-socketio's own basic_disconnect does after leaving the rooms.
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def configure_fanout(
        self, *, max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES, on_drop: DropHook | None = None
    ) -> None:
        """Sets the per-socket buffer cap and the hook called with each dropped sid."""
        if max_buffer_bytes <= 0:
            raise ValueError("max_buffer_bytes must be positive")
        self.max_buffer_bytes = max_buffer_bytes
        self.on_drop = on_drop

    @property
    def dropped(self) -> int:
        """Sockets dropped so far for buffering more than the cap."""
        return self.stats.dropped

    def set_server(self, server: Any) -> None:
        """Attaches the Socket.IO server and hooks its engineio server (if it is safe to)."""
        super().set_server(server)
        self.fast_path = install_engineio_hooks(server.eio)

    async def emit(  # type: ignore[no-untyped-def]
        self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs
    ) -> None:
        """Delivers an event to this process's sockets in the room (or sid, or namespace)."""
        if not self.fast_path:
            await super().emit(
                event,
                data,
                namespace,
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                to=to,
                **kwargs,
            )
            return
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            args = list(data)
        else:
            args = [] if data is None else [data]
        make = self.server.packet_class
        shared = None
        if callback is None:
            shared = Outgoing(self._encode_event(namespace, [event, *args]))
        # No await in this loop: an emit is atomic with respect to every other emit, so
        # the order in which emits are called is the order every socket receives them.
        for sid, socket in self._recipients(namespace, to or room, skip_sid):
            out = shared
            if out is None:  # each recipient needs its own ack id
                ack = self._generate_ack_id(sid, callback)
                pkt = make(sio_packet.EVENT, namespace=namespace, data=[event, *args], id=ack)
                out = Outgoing(pkt.encode())
            self._deliver(sid, socket, out)

    async def emit_many(self, events: list[tuple[str, Any]], namespace: str, room: Any) -> None:
        """Delivers several events to the room, in order, as one write per websocket.

        For bursts (a hundred timers of a room finishing at one instant): the events'
        frames are joined once, and each websocket viewer gets them in one write.
        """
        if not self.fast_path:
            for event, data in events:
                await self.emit(event, data, namespace, room=room)
            return
        if namespace not in self.rooms or not events:
            return
        parts: list[str | bytes] = []
        for event, data in events:
            parts += self._encode_event(namespace, [event, data])
        out = Outgoing(parts)
        for sid, socket in self._recipients(namespace, room, None):
            self._deliver(sid, socket, out)

    def _recipients(self, namespace: str, room: Any, skip_sid: Any) -> Iterator[tuple[str, Any]]:
        """(sid, engineio socket) of each open socket in the room, but those skipped."""
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is not None and not socket.closed:
                yield sid, socket

    def _encode_event(self, namespace: str, data: list[Any]) -> list[str | bytes]:
        """The EVENT packet of `data`, for every recipient: its text (and attachments).

        With the stock packet class, JSON-only data (every roomtimer event) is encoded here
        in one orjson call, without python-socketio's recursive search for binary; what
        orjson refuses (bytes, huge ints) and custom packet classes take the stock path.
        """
        make = self.server.packet_class
        try:
            if make not in JSON_PACKETS:
                raise TypeError("a custom packet class encodes its own packets")
            body = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            encoded = make(sio_packet.EVENT, namespace=namespace, data=data).encode()
            return encoded if isinstance(encoded, list) else [encoded]
        head = "2" if namespace == "/" else f"2{namespace},"
        return [head + body.decode()]

    def writer_idle(self, eio_sid: str) -> bool:
        """True if the next event to this engineio socket would take the fast path."""
        socket = self.server.eio.sockets.get(eio_sid)
        if socket is None:
            return False
        return _fast_transport(socket, getattr(socket, WS_ATTR, None)) is not None

    def _deliver(self, sid: str, socket: Any, out: Outgoing) -> None:
        queue = socket.queue
        ws: FastWebSocket | None = getattr(socket, WS_ATTR, None)
        transport = _fast_transport(socket, ws)
        if transport is not None:
            self.stats.fast += 1
            try:
                transport.write(out.frame)
            except (OSError, RuntimeError):  # a transport dying under us: drop, go on
                self._drop(sid, socket, ws)
                return
            if transport.get_write_buffer_size() > self.max_buffer_bytes:
                self._drop(sid, socket, ws)
            return
        if getattr(socket, DROPPED_ATTR, False):
            return
        # engineio's own path, enqueued now rather than from a task: once a socket has
        # something queued, its later events queue behind it (the fast path sees qsize).
        for pkt in out.eio_packets:
            queue.put_nowait(pkt)
        self.stats.queued += 1
        buffered = getattr(queue, "nbytes", 0)
        if ws is not None and ws.transport is not None:
            buffered += ws.transport.get_write_buffer_size()
        if buffered > self.max_buffer_bytes:
            self._drop(sid, socket, ws)

    def _drop(self, sid: str, socket: Any, ws: FastWebSocket | None) -> None:
        setattr(socket, DROPPED_ATTR, True)
        self.stats.dropped += 1
        log.warning("dropping slow socket %s: over %d bytes buffered", sid, self.max_buffer_bytes)
        queue = socket.queue
        # Free what is buffered now; task_done keeps queue.join() (close(wait=True)) working.
        while not queue.empty():
            queue.get_nowait()
            queue.task_done()
        if ws is not None and ws.transport is not None:
            ws.transport.abort()  # discards the write buffer; the websocket handler then ends
        queue.put_nowait(None)  # ends a parked long-poll (or the websocket writer)
        reason = self.server.eio.reason.SERVER_DISCONNECT
        spawn(socket.close(wait=False, abort=True, reason=reason))
        if self.on_drop is not None:
            try:
                self.on_drop(sid)
            except Exception:  # a failing hook must not cut the emit short for the others
                log.exception("on_drop hook failed")


def _fast_transport(socket: Any, ws: FastWebSocket | None) -> asyncio.Transport | None:
    """The transport a frame may go straight to, if nothing of this socket is in flight."""
    if ws is None or not socket.upgraded or socket.closing:
        return None
    queue = socket.queue
    if queue.__class__ is not TrackedQueue or not queue.idle:
        return None
    return ws.writable_transport()


class FastAsyncManager(FastManagerMixin):
    """The in-process manager with the fast fan-out path (room events reach every worker
    through the event bus's relay, so no manager needs Redis)."""

    def __init__(
        self, *, max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES, on_drop: DropHook | None = None
    ) -> None:
        super().__init__()
        self.configure_fanout(max_buffer_bytes=max_buffer_bytes, on_drop=on_drop)
