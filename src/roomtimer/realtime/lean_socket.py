"""Engine.IO sockets without idle tasks: what lets a websocket viewer cost about 20 KB.

python-engineio 4.15.1 keeps, for every websocket: a writer task parked in `poll()`
(whose `asyncio.wait_for` wraps `queue.get()` in a task of its own on Python 3.11), the
reader's `wait_task` under another `wait_for`, and a ping task asleep for ping_interval.
A `LeanSocket` keeps one task, the websocket handler's own, which reads. Packets are
written as they are queued (`TrackedQueue.direct`), and pings and pong deadlines are
entries in two FIFOs per server, one timer each.

Timing is as stock: a ping goes out ping_interval after the last pong, and a socket
whose pong has not come ping_timeout after its ping is closed (PING_TIMEOUT), the moment
stock's reader gives up on a silent websocket (ping_interval + ping_timeout).
Polling sockets keep engineio's own long-poll path; only their pings come from the FIFOs.

`install_engineio_hooks` switches all of this on for one engineio server; `compat.py`
checks first that the internals listed in `transport.py` are there.
"""

import asyncio
import collections
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from roomtimer.infra.background import spawn
from roomtimer.realtime.transport import FastWebSocket, TrackedQueue

log = logging.getLogger(__name__)

SCHEDULE_ATTR = "_roomtimer_pings"  # the PingSchedule of an engineio server


class Fifo:
    """Items due a fixed delay after they were added: one deque, one loop timer."""

    def __init__(self, delay_s: float, due: Callable[[Any], None]) -> None:
        self.delay_s = delay_s
        self.due = due
        self.entries: collections.deque[tuple[float, Any]] = collections.deque()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, item: Any) -> None:
        """Makes `item` due delay_s from now (after every item added before it)."""
        loop = asyncio.get_running_loop()
        at = loop.time() + self.delay_s
        self.entries.append((at, item))
        if self._handle is None:
            self._handle = loop.call_at(at, self._run)

    def _run(self) -> None:
        self._handle = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        entries = self.entries
        while entries and entries[0][0] <= now:
            item = entries.popleft()[1]
            try:
                self.due(item)
            except Exception:  # one socket's failure must not stop the others' pings
                log.exception("ping schedule: %r failed", item)
        if entries:
            self._handle = loop.call_at(entries[0][0], self._run)


class PingSchedule:
    """Every lean socket's next ping, and the deadline of every pong awaited."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.pings = Fifo(server.ping_interval, self._ping)
        self.pongs = Fifo(server.ping_timeout, self._pong_due)

    def ping_later(self, socket: "LeanSocket") -> None:
        """Pings the socket ping_interval from now."""
        self.pings.add(socket)

    def _ping(self, socket: "LeanSocket") -> None:
        if socket.closing or socket.closed:
            return
        socket.last_ping = sent = time.time()
        socket.queue.put_nowait(eio_packet.Packet(eio_packet.PING))
        self.pongs.add((socket, sent))

    def _pong_due(self, entry: tuple["LeanSocket", float]) -> None:
        socket, sent = entry
        if socket.last_ping != sent or socket.closing or socket.closed:
            return  # answered (a pong resets last_ping), or gone already
        reason = self.server.reason.PING_TIMEOUT
        spawn(socket.close(wait=False, abort=False, reason=reason))


class LeanSocket(AsyncSocket):  # type: ignore[misc]
    """engineio's AsyncSocket with no writer, reader or ping task of its own."""

    lean_ws: FastWebSocket | None = None  # set while packets are written directly
    last_ping: float | None  # (engineio's) when the unanswered ping went out, if any
    connected: bool

    def schedule_ping(self) -> None:
        """As stock (a ping once the last one was answered), from the server's FIFO."""
        if self.last_ping:
            self.last_ping = None
            getattr(self.server, SCHEDULE_ATTR).ping_later(self)

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """As stock, then closes the websocket too, so that a dead peer cannot keep it."""
        await super().close(wait=wait, abort=abort, reason=reason)
        ws, self.lean_ws = self.lean_ws, None
        if ws is not None:
            if self.queue.direct is ws:
                self.queue.direct = None
            ws.close_soon()

    async def _websocket_handler(self, ws: FastWebSocket) -> None:
        """engineio's websocket handler (4.15.1), reading in this task, writing directly."""
        if self.connected:  # the socket was already connected, so this is an upgrade
            if not await self._upgrade(ws):
                return
        else:
            self.connected = True
            self.upgraded = True
        queue: TrackedQueue = self.queue
        # What a stock writer would find queued leaves first, in order; from then on
        # every packet is written as it is queued. A `None` already queued means close.
        closing = False
        while queue.qsize():
            item = queue.get_nowait()
            queue.task_done()
            if item is None:
                closing = True
                break
            ws.write_packet(item)
        if not queue.qsize():
            queue._items = None  # the deque was only needed before the switch
        if closing:
            ws.close_soon()
        else:
            queue.direct = self.lean_ws = ws
        try:
            # Stock reads under a wait_for (a task per message) and a task of its own; here
            # the handler reads, straight from aiohttp (every frame a viewer keeps counts).
            sock, limit = ws._sock, self.server.max_http_buffer_size
            while True:
                try:
                    data = (await sock.receive()).data
                except BaseException:  # noqa: BLE001 - as stock: any error or cancel ends it
                    break
                if not isinstance(data, str | bytes) or len(data) > limit:
                    break  # closed, or too large (stock: ValueError, then break)
                pkt = eio_packet.Packet(encoded_packet=data)
                del data  # hold nothing of the last message while waiting for the next
                try:
                    await self.receive(pkt)
                except eio_exceptions.UnknownPacketError:
                    pass
                except eio_exceptions.SocketIsClosedError:
                    break
                except Exception:
                    self.server.logger.exception("Unknown receive error")
                del pkt
        finally:
            self.lean_ws = None
            if queue.direct is ws:
                queue.direct = None
        try:
            await ws.close()
        except Exception:  # noqa: BLE001 - the peer may be gone: we are closing anyway
            pass
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    async def _upgrade(self, ws: FastWebSocket) -> bool:
        """The probe exchange of a polling socket moving to this websocket (as stock)."""
        self.upgrading = True  # hold packet sends during the upgrade
        probe = await self._receive_one(ws)
        if probe is None or probe.packet_type != eio_packet.PING or probe.data != "probe":
            self.upgrading = False
            return False
        await ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
        await self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # end poll
        upgrade = await self._receive_one(ws)
        self.upgrading = False
        if upgrade is None or upgrade.packet_type != eio_packet.UPGRADE:
            self.upgraded = False
            return False
        self.upgraded = True
        return True

    async def _receive_one(self, ws: FastWebSocket) -> eio_packet.Packet | None:
        try:
            data = await ws.wait()
        except OSError:
            return None
        if data is None or len(data) > self.server.max_http_buffer_size:
            return None
        return eio_packet.Packet(encoded_packet=data)


def install_engineio_hooks(eio: Any, *, compress: bool = False) -> bool:
    """Gives this engineio server the fast websocket driver, tracked queues and lean
    sockets (once `compat.check_fast_path()` has found every internal used here);
    False, with nothing changed, for a server that is not on aiohttp."""
    if getattr(eio, "_roomtimer_hooks", False):
        return True
    if getattr(eio, "async_mode", None) != "aiohttp":
        return False
    driver = (
        FastWebSocket
        if not compress
        else type("DeflateFastWebSocket", (FastWebSocket,), {"compress": True})
    )
    # A copy: the driver module's dict is shared by every engineio server in the process.
    eio._async = {**eio._async, "websocket": driver}
    eio.create_queue = TrackedQueue
    setattr(eio, SCHEDULE_ATTR, PingSchedule(eio))
    connect = eio.handlers.get("connect")

    # engineio builds each socket, queues its OPEN packet, then runs the connect handler
    # before it schedules the first ping or serves any transport: the moment to adopt it.
    async def adopt_then_connect(sid: str, environ: dict[str, Any], *args: Any) -> Any:
        socket = eio.sockets.get(sid)
        if type(socket) is AsyncSocket:
            socket.__class__ = LeanSocket
        if connect is None:
            return None
        result = connect(sid, environ, *args)
        return await result if inspect.isawaitable(result) else result

    eio.handlers["connect"] = adopt_then_connect
    eio._roomtimer_hooks = True
    return True
