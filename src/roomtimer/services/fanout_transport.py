"""Engine.IO plumbing for the fast fan-out path: a websocket driver, a tracked queue, frames.

Read from python-engineio 4.15.1 (engineio/async_socket.py, base_socket.py,
async_server.py, async_drivers/aiohttp.py) and aiohttp 3.14.5; what it relies on:

- `AsyncServer._async["websocket"]` is the driver class; engineio builds one per
  websocket as `cls(socket._websocket_handler, server)` and awaits `instance(environ)`.
  Each server gets its own copy of that dict here, so other servers keep the stock one.
- Each `AsyncSocket` owns `queue = server.create_queue()`. Its websocket writer task is
  the queue's only consumer once `upgraded` is set: it parks in `queue.get()` (inside
  `poll()`), drains the rest with `get_nowait()`, then awaits `ws.send()` per packet.
  So "nothing queued and the consumer parked in `get()`" means nothing is in flight.
- `AsyncSocket.upgraded`, `upgrading`, `closing`, `closed` and `AsyncServer.sockets`.

`install_engineio_hooks` checks these before switching anything on; when they are not
there it returns False and the managers use python-socketio's stock path.
"""

import asyncio
import inspect
import logging
import struct
from collections.abc import Callable
from typing import Any, ClassVar

from aiohttp import web
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket
from multidict import CIMultiDict

log = logging.getLogger(__name__)

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


class TrackedQueue(asyncio.Queue[Any]):
    """engineio's per-socket queue, also counting its bytes and whether its consumer waits."""

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self.nbytes = 0
        # Consumers inside get(). With the queue empty that means the writer is parked
        # and holds nothing: get() only returns in the step that takes an item.
        self.parked = 0
        # Set while a FastWebSocket serves the socket: writes the frames it holds back for
        # a batch, so that nothing the writer task sends can overtake them.
        self.before_put: Callable[[], None] | None = None

    def put_nowait(self, item: Any) -> None:
        """Enqueues `item` (after any frames held back for it) and counts its bytes."""
        if self.before_put is not None:
            self.before_put()
        super().put_nowait(item)
        self.nbytes += packet_size(item)

    def get_nowait(self) -> Any:
        """Dequeues an item and uncounts its bytes."""
        item = super().get_nowait()
        self.nbytes -= packet_size(item)
        return item

    async def get(self) -> Any:
        """Waits for an item, marked as parked meanwhile."""
        self.parked += 1
        try:
            return await super().get()
        finally:
            self.parked -= 1

    @property
    def idle(self) -> bool:
        """True when nothing is queued and the consumer is parked, so nothing is in flight."""
        return self.parked > 0 and self.qsize() == 0


class FastWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """engineio's aiohttp websocket driver, registering itself on its socket for fast writes."""

    # Per-message deflate off (as Node's engine.io does): one frame serves every viewer.
    # Measured with clients that offer it: +100 KB RSS per viewer (zlib state) and about
    # 6 us of CPU per recipient per event, to save ~120 of a 335-byte timer-update.
    compress: ClassVar[bool] = False

    transport: asyncio.Transport | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[bytes] = []  # frames held back by a batch, oldest first

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request: web.Request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=self.compress
        )
        await self._sock.prepare(request)
        # The 101's headers are on the wire now, and aiohttp 3.14 reads them only until
        # prepare() has sent them: let them go rather than keep ~1.9 KB per viewer.
        self._sock._headers = CIMultiDict()
        self.environ = environ
        self.transport = request.transport  # type: ignore[assignment]
        socket = getattr(self.handler, "__self__", None)
        if isinstance(socket, AsyncSocket):
            setattr(socket, WS_ATTR, self)
            if isinstance(socket.queue, TrackedQueue):
                socket.queue.before_put = self._write_pending_quietly
        try:
            await self.handler(self)
        finally:
            if socket is not None and getattr(socket, WS_ATTR, None) is self:
                delattr(socket, WS_ATTR)
                if isinstance(socket.queue, TrackedQueue):
                    socket.queue.before_put = None
            self.pending.clear()
        return self._sock

    async def send(self, message: str | bytes) -> None:
        """Sends one engineio packet (the writer task's path)."""
        if isinstance(message, bytes):
            await self._sock.send_bytes(message)
        else:
            await self._sock.send_str(message)

    def write_pending(self, then: bytes = b"") -> asyncio.Transport | None:
        """Writes the held-back frames, then `then`, in one write; returns the transport.

        None when the transport can no longer be written to (what was held is discarded).
        """
        transport = self.writable_transport()
        data = then
        if self.pending:
            if then:
                self.pending.append(then)
            data = b"".join(self.pending)
            self.pending.clear()
        if transport is not None and data:
            transport.write(data)
        return transport

    def _write_pending_quietly(self) -> None:
        try:
            self.write_pending()
        except (OSError, RuntimeError):  # a dying transport: the writer task finds out too
            pass

    def writable_transport(self) -> asyncio.Transport | None:
        """The transport, if a frame may be written to it right now."""
        transport = self.transport
        if transport is None or transport.is_closing() or self._sock.closed:
            return None
        return transport


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
    """One Socket.IO packet, encoded once: the websocket frame bytes, and engineio packets."""

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


def _internals_present(eio: Any) -> bool:
    drivers = getattr(eio, "_async", None)
    return (
        getattr(eio, "async_mode", None) == "aiohttp"
        and isinstance(drivers, dict)
        and isinstance(drivers.get("websocket"), type)
        and issubclass(drivers["websocket"], eio_aiohttp.WebSocket)
        and isinstance(getattr(eio, "sockets", None), dict)
        and callable(getattr(eio, "create_queue", None))
        and inspect.iscoroutinefunction(getattr(AsyncSocket, "_websocket_handler", None))
        and "handler" in inspect.signature(eio_aiohttp.WebSocket.__init__).parameters
    )


def install_engineio_hooks(eio: Any, *, compress: bool = False) -> bool:
    """Gives this engineio server the fast websocket driver and tracked queues; False if unsafe."""
    if getattr(eio, "_roomtimer_hooks", False):
        return True
    if not _internals_present(eio):
        log.warning("engineio internals differ from 4.15.1: fast fan-out disabled")
        return False
    driver = (
        FastWebSocket
        if not compress
        else type("DeflateFastWebSocket", (FastWebSocket,), {"compress": True})
    )
    # A copy: the driver module's dict is shared by every engineio server in the process.
    eio._async = {**eio._async, "websocket": driver}
    eio.create_queue = TrackedQueue
    eio._roomtimer_hooks = True
    return True
