"""Engine.IO plumbing for the fast fan-out path: a websocket driver, a tracked queue, frames.

Read from python-engineio 4.15.1 (engineio/async_socket.py, base_socket.py,
async_server.py, async_drivers/aiohttp.py) and aiohttp 3.14.5; what it relies on:

- `AsyncServer._async["websocket"]` is the driver class; engineio builds one per
  websocket as `cls(socket._websocket_handler, server)` and awaits `instance(environ)`.
  Each server gets its own copy of that dict here, so other servers keep the stock one.
- Each `AsyncSocket` owns `queue = server.create_queue()`. A polling socket's long-poll
  is its consumer: it parks in `queue.get()` (inside `poll()`) and drains the rest with
  `get_nowait()`. So "nothing queued and the consumer parked in `get()`" means nothing
  is in flight. A websocket's packets are written as they are queued (`direct`, set by
  lean_socket.LeanSocket), so nothing is ever in flight there.
- `AsyncSocket.upgraded`, `upgrading`, `closing`, `closed`, `last_ping`,
  `schedule_ping()`, `receive()`, and `AsyncServer.sockets`, `handlers`.

`compat.py` checks each of these at start-up; when one is missing the server serves on
python-socketio's and engineio's stock path instead.
"""

import asyncio
import collections
import contextlib
import struct
from typing import Any, ClassVar

from aiohttp import web
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket
from multidict import CIMultiDict

from roomtimer.infra.background import spawn

WS_ATTR = "_roomtimer_ws"  # the FastWebSocket serving an engineio socket, while it lives
DROPPED_ATTR = "_roomtimer_dropped"  # set on a socket this module has dropped

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2


def packet_size(item: Any) -> int:
    """About how many bytes a queued engineio packet will take on the wire."""
    if item is None:
        return 0
    data = getattr(item, "data", None)
    if isinstance(data, str | bytes | bytearray):
        return len(data) + 1
    return 16  # control packets (ping, noop, close) and small dicts


class TrackedQueue:
    """engineio's per-socket queue, also counting its bytes and whether its consumer waits.

    asyncio.Queue's interface as engineio 4.15.1 uses it (put, put_nowait, get, get_nowait,
    task_done, join, qsize, empty), unbounded, without asyncio.Queue's four deques made up
    front (items, getters, putters, the join event's waiters: ~3 KB a socket): each part is
    made when first needed, and a websocket's queue is normally never used at all.

    While `direct` holds the socket's FastWebSocket (see lean_socket.LeanSocket) there is
    no writer task: put_nowait writes the packet at once, and `None` closes the websocket.
    """

    __slots__ = (
        "_finished",
        "_getters",
        "_items",
        "_unfinished",
        "direct",
        "nbytes",
        "parked",
    )

    def __init__(self) -> None:
        self._items: collections.deque[Any] | None = None
        self._getters: collections.deque[asyncio.Future[None]] | None = None
        self._unfinished = 0
        self._finished: asyncio.Event | None = None
        self.nbytes = 0
        # Consumers inside get() (a long-poll). With the queue empty that means the
        # consumer is parked and holds nothing: get() returns in the step that takes one.
        self.parked = 0
        self.direct: FastWebSocket | None = None

    def qsize(self) -> int:
        """Packets waiting."""
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        """True when no packet waits."""
        return not self._items

    def put_nowait(self, item: Any) -> None:
        """Enqueues `item`, or writes it when direct."""
        ws = self.direct
        if ws is not None and not self._items:
            if item is None:
                self.direct = None
                ws.close_soon()
            else:
                ws.write_packet(item)
            return
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)
        self.nbytes += packet_size(item)
        self._unfinished += 1
        if self._finished is not None:
            self._finished.clear()
        self._wake_one()

    async def put(self, item: Any) -> None:
        """As put_nowait (the queue is unbounded)."""
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        """Dequeues an item and uncounts its bytes."""
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        self.nbytes -= packet_size(item)
        return item

    async def get(self) -> Any:
        """Waits for an item, marked as parked meanwhile (asyncio.Queue.get of 3.11)."""
        self.parked += 1
        try:
            while not self._items:
                waiter = asyncio.get_running_loop().create_future()
                if self._getters is None:
                    self._getters = collections.deque()
                self._getters.append(waiter)
                try:
                    await waiter
                except BaseException:
                    waiter.cancel()
                    with contextlib.suppress(ValueError):
                        self._getters.remove(waiter)
                    if self._items and not waiter.cancelled():
                        self._wake_one()  # it was woken for an item it will not take
                    raise
            return self.get_nowait()
        finally:
            self.parked -= 1

    def task_done(self) -> None:
        """One dequeued item is dealt with."""
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._finished is not None:
            self._finished.set()

    async def join(self) -> None:
        """Waits until every queued item is dealt with."""
        if self._unfinished > 0:
            if self._finished is None:
                self._finished = asyncio.Event()
            await self._finished.wait()

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    @property
    def idle(self) -> bool:
        """True when nothing is queued and nothing is in flight: the consumer is parked,
        or there is none because packets are written as they come (`direct`)."""
        return (self.parked > 0 or self.direct is not None) and not self._items


class FastWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """engineio's aiohttp websocket driver, registering itself on its socket for fast writes."""

    # Per-message deflate off (as Node's engine.io does): one frame serves every viewer.
    # Measured with clients that offer it: +100 KB RSS per viewer (zlib state) and about
    # 6 us of CPU per recipient per event, to save ~120 of a 335-byte timer-update.
    compress: ClassVar[bool] = False

    transport: asyncio.Transport | None = None

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request: web.Request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=self.compress
        )
        await self._sock.prepare(request)
        # The 101's headers are on the wire now, and aiohttp 3.14 reads them only until
        # prepare() has sent them: let them go rather than keep ~1.9 KB per viewer.
        self._sock._headers = CIMultiDict()
        _keep_only_the_request(environ)
        self.environ = environ
        self.transport = request.transport  # type: ignore[assignment]
        socket = getattr(self.handler, "__self__", None)
        if isinstance(socket, AsyncSocket):
            setattr(socket, WS_ATTR, self)
        try:
            await self.handler(self)
        finally:
            if socket is not None and getattr(socket, WS_ATTR, None) is self:
                delattr(socket, WS_ATTR)
        return self._sock

    async def send(self, message: str | bytes) -> None:
        """Sends one engineio packet (the writer task's path)."""
        if isinstance(message, bytes):
            await self._sock.send_bytes(message)
        else:
            await self._sock.send_str(message)

    def write_packet(self, pkt: eio_packet.Packet) -> None:
        """Writes one engineio packet now, framed as the writer task's send() would."""
        encoded = pkt.encode()
        if isinstance(encoded, str):
            frame = ws_frame(encoded.encode(), OPCODE_TEXT)
        else:
            frame = ws_frame(bytes(encoded), OPCODE_BINARY)
        transport = self.writable_transport()
        if transport is not None:
            try:
                transport.write(frame)
            except (OSError, RuntimeError):  # a dying transport: its reader finds out too
                pass

    def close_soon(self) -> None:
        """Closes the websocket from a task of its own (what the writer task does on None)."""
        spawn(self._sock.close(drain=False))  # not drained: a stuck peer cannot hold it

    def writable_transport(self) -> asyncio.Transport | None:
        """The transport, if a frame may be written to it right now."""
        transport = self.transport
        if transport is None or transport.is_closing() or self._sock.closed:
            return None
        return transport


# What stays of a websocket handshake's environ (engineio's WSGI picture of the request,
# which python-socketio also keeps for get_environ) once the handshake is done: ~1.5 KB of
# keys and strings a viewer otherwise. Every header is still on environ["aiohttp.request"].
ENVIRON_KEPT = ("aiohttp.request", "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR")


def _keep_only_the_request(environ: dict[str, Any]) -> None:
    kept = {key: environ[key] for key in ENVIRON_KEPT if key in environ}
    environ.clear()  # clear(), not del: a dict never shrinks its table on deletes
    environ.update(kept)


def ws_frame(payload: bytes, opcode: int) -> bytes:
    """One unmasked, unfragmented RFC 6455 frame (server to client)."""
    first = 0x80 | opcode
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


class Outgoing:
    """Socket.IO packets (an event, or a burst of them), encoded once: the websocket
    frames' bytes, and engineio packets."""

    __slots__ = ("_encoded", "_eio_packets", "frame")

    def __init__(self, encoded: str | bytes | list[Any]) -> None:
        parts = encoded if isinstance(encoded, list) else [encoded]
        self._encoded = parts
        self._eio_packets: list[eio_packet.Packet] | None = None
        frames = []
        for p in parts:
            if isinstance(p, str):
                frames.append(ws_frame(b"4" + p.encode(), OPCODE_TEXT))
            else:
                frames.append(ws_frame(bytes(p), OPCODE_BINARY))
        # A binary event's attachments travel in the same write, so nothing splits them.
        self.frame = b"".join(frames)

    @property
    def eio_packets(self) -> list[eio_packet.Packet]:
        """The packets for engineio's own queue (built for the first socket that needs them)."""
        if self._eio_packets is None:
            self._eio_packets = [eio_packet.Packet(eio_packet.MESSAGE, p) for p in self._encoded]
        return self._eio_packets
