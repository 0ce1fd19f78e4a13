"""The one fast place where broadcasts leave: Socket.IO client managers with a shared frame.

python-socketio 5.18's AsyncManager creates a task per recipient, and engineio then
queues, wakes a writer task and re-frames the same bytes for each socket. Here a room
event is encoded once, into one websocket frame, and written straight to the transport
of every websocket viewer whose engineio writer holds nothing; any other socket
(polling, mid-upgrade, or with packets queued) gets the packet on engineio's own queue,
in the same synchronous pass, so each socket's order is kept. Sockets that buffer more
than `max_buffer_bytes` are dropped. Engine.IO internals: see `fanout_transport`.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import socketio
from socketio import packet as sio_packet

from roomtimer.services.background import close_quietly, spawn, stop_task
from roomtimer.services.fanout_socket import install_engineio_hooks
from roomtimer.services.fanout_transport import (
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
    "FastRedisManager",
    "FastWebSocket",
    "install_engineio_hooks",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BUFFER_BYTES = 1024 * 1024
DropHook = Callable[[str], None]


@dataclass
class FanoutStats:
    """Delivery counters of one manager (one per socket per event)."""

    fast: int = 0  # frames written straight to a websocket transport
    queued: int = 0  # packets put on engineio's per-socket queue
    dropped: int = 0  # sockets closed for buffering more than the cap


class FastManagerMixin(socketio.AsyncManager):  # type: ignore[misc]
    """Local delivery of emits through the shared-frame fast path.

    It subclasses AsyncManager so that it can sit *below* AsyncPubSubManager in a Redis
    manager's MRO: AsyncPubSubManager._handle_emit delivers locally with `super().emit`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.max_buffer_bytes = DEFAULT_MAX_BUFFER_BYTES
        self.on_drop: DropHook | None = None
        self.stats = FanoutStats()
        self.fast_path = False
        self._held: list[tuple[str, Any, FastWebSocket]] = []  # sockets with held frames
        self._batch_task: asyncio.Task[Any] | None = None  # the task inside batch(), if any
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
        room = to or room
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            args = list(data)
        else:
            args = [] if data is None else [data]
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        sockets = self.server.eio.sockets
        make = self.server.packet_class
        batching = self._batch_task is not None and self._batch_task is asyncio.current_task()
        shared = None
        if callback is None:
            shared = self._encode_event(namespace, [event, *args])
        # No await in this loop: an emit is atomic with respect to every other emit, so
        # the order in which emits are called is the order every socket receives them.
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            out = shared
            if out is None:  # each recipient needs its own ack id
                ack = self._generate_ack_id(sid, callback)
                pkt = make(sio_packet.EVENT, namespace=namespace, data=[event, *args], id=ack)
                out = Outgoing(pkt.encode())
            self._deliver(sid, socket, out, batching)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Gathers this task's events per websocket, written once per socket on exit.

        For bursts (a thousand timers finishing at one instant): one write per socket
        instead of one per event. Each socket's order is kept: another task's event to a
        socket, or anything engineio queues for it, first writes what is held for it.
        """
        task = asyncio.current_task()
        if self._batch_task is not None or task is None:  # one batch at a time; inner: as is
            yield
            return
        self._batch_task = task
        try:
            yield
        finally:
            self._batch_task = None
            held, self._held = self._held, []
            for sid, socket, ws in held:
                self._write(sid, socket, ws)

    def _encode_event(self, namespace: str, data: list[Any]) -> Outgoing:
        """The EVENT packet of `data`, for every recipient.

        With the stock packet class, JSON-only data (every roomtimer event) is encoded here
        in one orjson call, without python-socketio's recursive search for binary; what
        orjson refuses (bytes, huge ints) and custom packet classes take the stock path.
        """
        make = self.server.packet_class
        try:
            if make is not sio_packet.Packet:
                raise TypeError("a custom packet class encodes its own packets")
            body = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            return Outgoing(make(sio_packet.EVENT, namespace=namespace, data=data).encode())
        head = "2" if namespace == "/" else f"2{namespace},"
        return Outgoing(head + body.decode())

    def writer_idle(self, eio_sid: str) -> bool:
        """True if the next event to this engineio socket would take the fast path."""
        socket = self.server.eio.sockets.get(eio_sid)
        return socket is not None and _fast_path_open(socket, getattr(socket, WS_ATTR, None))

    def _deliver(self, sid: str, socket: Any, out: Outgoing, batching: bool = False) -> None:
        queue = socket.queue
        ws: FastWebSocket | None = getattr(socket, WS_ATTR, None)
        if ws is not None and _fast_path_open(socket, ws):
            self.stats.fast += 1
            if batching:
                if not ws.pending:
                    self._held.append((sid, socket, ws))
                ws.pending.append(out.frame)
            else:
                self._write(sid, socket, ws, out.frame)
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

    def _write(self, sid: str, socket: Any, ws: FastWebSocket, frame: bytes = b"") -> None:
        """Writes what `ws` holds, then `frame`; drops the socket if that fails or overfills it."""
        try:
            transport = ws.write_pending(frame)
        except (OSError, RuntimeError):  # a transport dying under us: drop, go on
            self._drop(sid, socket, ws)
            return
        if transport is not None and transport.get_write_buffer_size() > self.max_buffer_bytes:
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


def _fast_path_open(socket: Any, ws: FastWebSocket | None) -> bool:
    """True if a frame may go straight to this socket's websocket: nothing of it in flight."""
    queue = socket.queue
    return (
        ws is not None
        and socket.upgraded
        and not socket.closing
        and queue.__class__ is TrackedQueue
        and queue.idle
        and ws.writable_transport() is not None
    )


class FastAsyncManager(FastManagerMixin, socketio.AsyncManager):  # type: ignore[misc]
    """The in-process manager with the fast fan-out path."""

    def __init__(
        self, *, max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES, on_drop: DropHook | None = None
    ) -> None:
        super().__init__()
        self.configure_fanout(max_buffer_bytes=max_buffer_bytes, on_drop=on_drop)


# Bases in this order on purpose: the MRO is FastRedisManager, AsyncRedisManager,
# AsyncPubSubManager, FastManagerMixin, AsyncManager, so emit() publishes to Redis and
# both local deliveries (own emits and those received from Redis) reach the fast path.
class FastRedisManager(socketio.AsyncRedisManager, FastManagerMixin):  # type: ignore[misc]
    """python-socketio's Redis manager whose local deliveries take the fast path."""

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        channel: str = "socketio",
        write_only: bool = False,
        logger: Any = None,
        json: Any = None,
        redis_options: dict[str, Any] | None = None,
        *,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        on_drop: DropHook | None = None,
    ) -> None:
        # AsyncRedisManager's __init__: mypy sees socketio as Any and picks the mixin's.
        super().__init__(  # type: ignore[call-arg]
            url,
            channel=channel,
            write_only=write_only,
            logger=logger,
            json=json,
            redis_options=redis_options,
        )
        self.configure_fanout(max_buffer_bytes=max_buffer_bytes, on_drop=on_drop)

    async def aclose(self) -> None:
        """Stops the Redis listener and closes its connections (python-socketio has no close)."""
        listener = getattr(self, "thread", None)
        if isinstance(listener, asyncio.Task):
            await stop_task(listener)
        await self._close_listener()
        self.connected = False

    async def _close_listener(self) -> None:
        for client in (self.pubsub, self.redis):
            await close_quietly(client)
