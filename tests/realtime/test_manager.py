"""The fast fan-out path, on real servers and real ports, with real Socket.IO clients."""

import asyncio
import json
import random
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import engineio.payload
import pytest
import socketio
import uvloop
from aiohttp import web
from socketio import packet as sio_packet

from roomtimer.realtime import codec as orjson_json
from roomtimer.realtime import transport as fanout_transport
from roomtimer.realtime.manager import FastAsyncManager

ROOM = "room:test"
TIMEOUT = 15.0


LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def on_both_loops(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[str], None]:
    """Runs an async test once on asyncio's loop and once on uvloop (the app's loop)."""

    def run(loop: str) -> None:
        with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
            runner.run(test())

    run.__name__ = run.__qualname__ = test.__name__
    run.__doc__ = test.__doc__
    return pytest.mark.parametrize("loop", list(LOOPS))(run)  # type: ignore[no-any-return]


@dataclass
class Server:
    sio: socketio.AsyncServer
    url: str
    environs: dict[str, dict[str, Any]] = field(default_factory=dict)
    disconnected: dict[str, asyncio.Event] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def manager(self) -> Any:
        return self.sio.manager

    def eio_sid(self, sid: str) -> str:
        return str(self.manager.eio_sid_from_sid(sid, "/"))


@pytest.fixture(autouse=True)
def long_poll_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets python-engineio's client take a long-poll answer of more than 16 packets.

    The server batches whatever is queued into one answer (the JavaScript client takes
    any number); the Python client shares the server's 16-packet guard for POST bodies.
    """
    monkeypatch.setattr(engineio.payload.Payload, "max_decode_packets", 10_000)


@asynccontextmanager
async def serve(manager: Any, **sio_options: Any) -> AsyncIterator[Server]:
    """A bare aiohttp app with python-socketio on `manager`, on 127.0.0.1 and a free port."""
    sio = socketio.AsyncServer(
        async_mode="aiohttp", client_manager=manager, json=orjson_json, **sio_options
    )
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server = Server(sio, f"http://{host}:{port}")

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        server.environs[sid] = environ
        server.disconnected[sid] = asyncio.Event()

    @sio.event
    async def disconnect(sid: str, reason: str) -> None:
        server.reasons[sid] = reason
        server.disconnected[sid].set()

    @sio.event
    async def join(sid: str, room: str) -> str:
        await sio.enter_room(sid, room)
        return sid

    try:
        yield server
    finally:
        await sio.shutdown()
        await runner.cleanup()


class Viewer:
    """A python-socketio client recording the `seq` of every `tick` and `direct` event."""

    def __init__(self, transports: list[str] | None, **options: Any) -> None:
        self.client = socketio.AsyncClient(reconnection=False, handle_sigint=False, **options)
        self.transports = transports
        self.seqs: list[int] = []
        self.changed = asyncio.Event()
        self.sid = ""
        # Plain functions: the client runs each handler in its own task, in arrival order.
        self.client.on("tick", self._record)
        self.client.on("direct", self._record)

    def _record(self, payload: dict[str, Any]) -> None:
        self.seqs.append(payload["seq"])
        self.changed.set()

    async def connect(self, url: str, room: str = ROOM) -> "Viewer":
        await self.client.connect(url, transports=self.transports, wait_timeout=TIMEOUT)
        self.sid = await self.client.call("join", room, timeout=TIMEOUT)
        return self

    async def until(self, count: int) -> None:
        """Waits until `count` events have arrived."""
        try:
            async with asyncio.timeout(TIMEOUT):
                while len(self.seqs) < count:
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"{self.transports} viewer still waiting for {count} events: got {len(self.seqs)} "
                f"events, last {self.seqs[-5:]}"
            ) from None

    async def close(self) -> None:
        # python-engineio's client waits ~30 s for a long-poll writer to time out on a
        # clean disconnect; abort skips that wait (the runner's shutdown ends the rest).
        if self.client.transport() == "polling":
            await self.client.eio.disconnect(abort=True)
        await self.client.shutdown()


@asynccontextmanager
async def viewers(url: str, *transports: list[str] | None) -> AsyncIterator[list[Viewer]]:
    opened = [Viewer(t) for t in transports]
    try:
        await asyncio.gather(*(v.connect(url) for v in opened))
        yield opened
    finally:
        await asyncio.gather(*(v.close() for v in opened))


async def condition(check: Callable[[], bool]) -> None:
    """Waits for a server-side state that has no event of its own (bounded)."""
    async with asyncio.timeout(TIMEOUT):
        while not check():
            await asyncio.sleep(0.005)


def tick(seq: int, size: int = 0) -> dict[str, Any]:
    return {"seq": seq, "pad": "x" * size}


WS, POLLING, DEFAULT = ["websocket"], ["polling"], None


@on_both_loops
async def test_mixed_transports_get_every_event_once_in_order() -> None:
    manager = FastAsyncManager()
    async with (
        serve(manager) as server,
        viewers(server.url, WS, WS, WS, POLLING, POLLING, DEFAULT, DEFAULT) as room,
    ):
        expected: dict[str, list[int]] = {v.sid: [] for v in room}
        seq = 0
        sends = []

        def to_room(size: int = 0) -> None:
            nonlocal seq
            seq += 1
            sends.append(server.sio.emit("tick", tick(seq, size), to=ROOM))
            for order in expected.values():
                order.append(seq)

        def to_one(viewer: Viewer, stock_path: bool) -> None:
            nonlocal seq
            seq += 1
            if stock_path:
                # engineio's own send: the packet waits in the socket's queue, so room
                # events right behind it must queue too.
                encoded = server.sio.packet_class(
                    sio_packet.EVENT, data=["direct", tick(seq)]
                ).encode()
                sends.append(server.sio.eio.send(server.eio_sid(viewer.sid), encoded))
            else:
                sends.append(server.sio.emit("direct", tick(seq), to=viewer.sid))
            expected[viewer.sid].append(seq)

        # Round 1: coroutines created back to back and run in order without a yield in
        # between, while the default-transport viewers may still be upgrading.
        for i in range(150):
            to_room(size=3000 if i % 10 == 0 else 0)
            to_one(room[i % len(room)], stock_path=i % 3 == 0)
            to_one(room[(i + 1) % len(room)], stock_path=False)
        await asyncio.gather(*sends)
        sends.clear()
        # Round 2: each emit awaited, with the writers given turns now and then, so the
        # fast path and the queued path alternate on the same sockets.
        for i in range(150):
            to_room()
            if i % 4 == 0:
                to_one(room[i % len(room)], stock_path=True)
            await asyncio.gather(*sends)
            sends.clear()
            if i % 7 == 0:
                await asyncio.sleep(0)

        for viewer in room:
            await viewer.until(len(expected[viewer.sid]))
        for viewer in room:
            assert viewer.seqs == expected[viewer.sid], viewer.transports
        upgraded = [v.client.transport() for v in room if v.transports is DEFAULT]
        assert upgraded == ["websocket", "websocket"]
        assert manager.stats.fast > 0
        assert manager.stats.queued > 300 * 2  # the two polling viewers, at least
        assert manager.stats.dropped == 0


@on_both_loops
async def test_packets_engineio_sends_and_room_events_keep_their_order() -> None:
    manager = FastAsyncManager()
    async with serve(manager) as server, viewers(server.url, WS, WS) as room:
        seq = 0
        expected: dict[str, list[int]] = {v.sid: [] for v in room}
        eio_sids = [server.eio_sid(v.sid) for v in room]
        for _ in range(3):
            for turns in range(8):
                await condition(lambda: all(manager.writer_idle(s) for s in eio_sids))
                # A packet through engineio's own send(), a few loop turns, then a room
                # event: whatever engineio does with its packet, the event must not go first.
                for viewer in room:
                    seq += 1
                    encoded = server.sio.packet_class(
                        sio_packet.EVENT, data=["direct", tick(seq)]
                    ).encode()
                    await server.sio.eio.send(server.eio_sid(viewer.sid), encoded)
                    expected[viewer.sid].append(seq)
                for _ in range(turns):
                    await asyncio.sleep(0)
                seq += 1
                await server.sio.emit("tick", tick(seq), to=ROOM)
                for order in expected.values():
                    order.append(seq)
        for viewer in room:
            await viewer.until(len(expected[viewer.sid]))
            assert viewer.seqs == expected[viewer.sid]
        # Lean websockets have no writer task: engineio's packets are written at once too.
        assert manager.stats.fast > 0 and manager.stats.queued == 0


@on_both_loops
async def test_many_events_leave_in_one_write_per_websocket_and_keep_their_order() -> None:
    manager = FastAsyncManager()
    async with serve(manager) as server, viewers(server.url, WS, WS, POLLING) as room:
        ws_viewer, other_ws, polling = room
        eio_sids = [server.eio_sid(v.sid) for v in (ws_viewer, other_ws)]
        await condition(lambda: all(manager.writer_idle(s) for s in eio_sids))
        await server.sio.emit("tick", tick(1), to=ROOM)
        fast_before = manager.stats.fast
        await manager.emit_many([("tick", tick(seq)) for seq in range(2, 102)], "/", ROOM)
        assert manager.stats.fast - fast_before == 2  # one write for each websocket viewer
        # Another task's event and a packet engineio sends come after all of them.
        await asyncio.create_task(server.sio.emit("tick", tick(102), to=ROOM))
        packet = server.sio.packet_class(sio_packet.EVENT, data=["direct", tick(103)])
        await server.sio.eio.send(eio_sids[1], packet.encode())
        expected = {v.sid: list(range(1, 103)) for v in room}
        expected[other_ws.sid].append(103)
        for viewer in room:
            await viewer.until(len(expected[viewer.sid]))
            assert viewer.seqs == expected[viewer.sid], viewer.transports


async def raw_viewer(session: aiohttp.ClientSession, url: str) -> tuple[Any, str]:
    """A bare websocket Socket.IO client that joins the room; the caller then stops reading."""
    ws = await session.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket")
    assert (await ws.receive_str()).startswith("0{")
    await ws.send_str("40")
    connected = await ws.receive_str()
    assert connected.startswith("40")
    sid = json.loads(connected[2:])["sid"]
    await ws.send_str(f'421["join","{ROOM}"]')
    assert await ws.receive_str() == f'431["{sid}"]'
    return ws, sid


def small_receive_buffer(addr_info: tuple[Any, ...]) -> socket.socket:
    # A small kernel buffer so that the stalled reader backs up into the server soon.
    family, type_, proto = addr_info[:3]
    sock = socket.socket(family, type_, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    return sock


@on_both_loops
async def test_slow_consumer_is_dropped_and_others_keep_every_event() -> None:
    cap = 256 * 1024
    dropped: list[str] = []
    manager = FastAsyncManager(max_buffer_bytes=cap, on_drop=dropped.append)
    connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer)  # type: ignore[arg-type]
    async with serve(manager) as server, aiohttp.ClientSession(connector=connector) as session:
        slow_ws, slow_sid = await raw_viewer(session, server.url)
        async with viewers(server.url, WS, POLLING) as room:
            sent = 0
            while not dropped and sent < 2000:
                sent += 1
                await server.sio.emit("tick", tick(sent, size=32 * 1024), to=ROOM)
                for viewer in room:  # readers keep up, so only the stalled one backs up
                    await viewer.until(sent)
            assert dropped == [slow_sid]
            assert manager.dropped == 1
            for _ in range(20):  # the room carries on without it
                sent += 1
                await server.sio.emit("tick", tick(sent, size=32 * 1024), to=ROOM)
                for viewer in room:
                    await viewer.until(sent)
            for viewer in room:
                assert viewer.seqs == list(range(1, sent + 1))
            assert manager.dropped == 1
        async with asyncio.timeout(TIMEOUT):
            await server.disconnected[slow_sid].wait()
            # The server closed it: reading again finds the end of the stream.
            while (await slow_ws.receive()).type not in (
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.ERROR,
            ):
                pass
        assert slow_sid not in server.manager.rooms.get("/", {}).get(ROOM, {})
        # Bounded: what the slow socket held when it was dropped is released.
        assert all(s.queue.nbytes <= cap for s in server.sio.eio.sockets.values() if not s.closed)
        await slow_ws.close()


@on_both_loops
async def test_room_frame_is_built_once_and_shared() -> None:
    encodes = 0

    class CountingPacket(socketio.packet.Packet):  # type: ignore[misc]
        def encode(self) -> Any:
            nonlocal encodes
            encodes += 1
            return super().encode()

    frames = 0
    build = fanout_transport.ws_frame

    def counting_frame(payload: bytes, opcode: int) -> bytes:
        nonlocal frames
        frames += 1
        return build(payload, opcode)

    manager = FastAsyncManager()
    async with (
        serve(manager, serializer=CountingPacket) as server,
        viewers(server.url, *[WS] * 12) as room,
    ):
        eio_sids = [server.eio_sid(v.sid) for v in room]
        await condition(lambda: all(manager.writer_idle(s) for s in eio_sids))
        encodes = 0
        fast_before = manager.stats.fast
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fanout_transport, "ws_frame", counting_frame)
            for seq in range(1, 11):
                await server.sio.emit("tick", tick(seq), to=ROOM)
        for viewer in room:
            await viewer.until(10)
            assert viewer.seqs == list(range(1, 11))
        assert encodes == 10  # once per event, not once per recipient
        assert frames == 10
        assert manager.stats.fast - fast_before == 10 * len(room)


@on_both_loops
async def test_binary_and_json_events_arrive_as_sent_on_both_transports() -> None:
    async with serve(FastAsyncManager()) as server:
        got: dict[str, asyncio.Queue[Any]] = {}
        clients = []
        for transport in (WS, POLLING):
            client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
            queue: asyncio.Queue[Any] = asyncio.Queue()
            client.on("blob", queue.put_nowait)
            await client.connect(server.url, transports=transport, wait_timeout=TIMEOUT)
            await client.call("join", ROOM, timeout=TIMEOUT)
            clients.append(client)
            got[transport[0]] = queue
        try:
            sent = [
                {"seq": 1, "bin": b"\x00\xffraw", "nested": [b"a", {"b": b"c"}]},
                {"seq": 2, "text": "é\u2028", "n": [1, 2.5, None, True], 3: "int key"},
            ]
            for payload in sent:
                await server.sio.emit("blob", payload, to=ROOM)
            expected = [sent[0], {**sent[1], "3": "int key"}]
            expected[1].pop(3)
            for queue in got.values():
                async with asyncio.timeout(TIMEOUT):
                    assert [await queue.get(), await queue.get()] == expected
        finally:
            for client in clients:
                if client.transport() == "polling":
                    await client.eio.disconnect(abort=True)
                await client.shutdown()


@on_both_loops
async def test_websocket_responses_do_not_negotiate_deflate() -> None:
    async with serve(FastAsyncManager()) as server, aiohttp.ClientSession() as session:
        ws, _ = await raw_viewer(session, server.url)  # aiohttp offers permessage-deflate
        assert ws.compress == 0
        await ws.close()


def test_orjson_module_round_trips_like_json() -> None:
    data = {"a": [1, 2.5, None, True], "b": "é", 3: "int key"}
    text = orjson_json.dumps(data, separators=(",", ":"))
    assert isinstance(text, str)
    assert orjson_json.loads(text) == json.loads(json.dumps(data))
    assert orjson_json.loads(text.encode()) == orjson_json.loads(text)
    with pytest.raises(ValueError):
        orjson_json.loads("{nope")


def test_rooms_of_a_socket_match_python_socketios_own_bookkeeping() -> None:
    """The per-socket room index answers as python-socketio's full scan does, and its
    disconnect leaves the same rooms, callbacks and pending lists behind."""
    ours, stock = FastAsyncManager(), socketio.AsyncManager()
    rng = random.Random(7)
    sids = [f"s{i}" for i in range(40)]
    rooms = ["room:a", "room:b", "room:c"]
    connected: set[str] = set()
    for step in range(3000):
        sid, room = rng.choice(sids), rng.choice(rooms)
        op = rng.choice(["connect", "enter", "enter", "leave", "close", "disconnect"])
        for manager in (ours, stock):
            if op == "connect" and sid not in connected:
                manager.basic_enter_room(sid, "/", None, eio_sid=f"e{sid}")
                manager.basic_enter_room(sid, "/", sid, eio_sid=f"e{sid}")
                manager.callbacks[sid] = {1: print}
                manager.pending_disconnect.setdefault("/", []).append(sid)
            elif op == "enter" and sid in connected:
                manager.basic_enter_room(sid, "/", room)
            elif op == "leave":
                manager.basic_leave_room(sid, "/", room)
            elif op == "close":
                manager.basic_close_room(room, "/")
            elif op == "disconnect":
                manager.basic_disconnect(sid, "/")
        if op == "connect":
            connected.add(sid)
        elif op == "disconnect":
            connected.discard(sid)
        assert ours.rooms == stock.rooms, f"step {step}: {op} {sid} {room}"
        assert ours.callbacks == stock.callbacks
        assert ours.pending_disconnect == stock.pending_disconnect
        for each in sids:
            assert sorted(ours.get_rooms(each, "/")) == sorted(stock.get_rooms(each, "/"))
    index = ours._rooms_of.get("/", {})
    assert {sid: set(rooms) for sid, rooms in index.items()} == {
        sid: set(stock.get_rooms(sid, "/")) | {None} for sid in connected
    }
    assert all(len(set(rooms)) == len(rooms) for rooms in index.values())  # each room once


async def texts_until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[str]:
    """Every text message until the server closes the websocket (bounded)."""
    texts = []
    async with asyncio.timeout(TIMEOUT):
        while (message := await ws.receive()).type is aiohttp.WSMsgType.TEXT:
            texts.append(message.data)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    return texts


@on_both_loops
async def test_pings_keep_an_answering_websocket_and_close_a_silent_one_on_time() -> None:
    interval, timeout = 0.2, 0.4
    async with (
        serve(FastAsyncManager(), ping_interval=interval, ping_timeout=timeout) as server,
        aiohttp.ClientSession() as session,
    ):
        alive, alive_sid = await raw_viewer(session, server.url)
        silent, silent_sid = await raw_viewer(session, server.url)
        loop = asyncio.get_running_loop()
        connected_at = loop.time()
        silent_closed = asyncio.ensure_future(texts_until_closed(silent))
        pings = []
        for _ in range(5):
            assert await alive.receive_str(timeout=TIMEOUT) == "2"
            pings.append(loop.time())
            await alive.send_str("3")
        gaps = [b - a for a, b in zip([connected_at, *pings], pings, strict=False)]
        assert min(gaps) >= interval - 0.02, gaps  # a ping ping_interval after each pong
        # The silent one got its ping, then the websocket's close, ping_timeout after the
        # ping that went unanswered (as stock: an Engine.IO close first only when the
        # clock has moved past the deadline by the time the close is sent).
        assert await silent_closed in (["2"], ["2", "1"])
        assert loop.time() - connected_at >= interval + timeout - 0.02
        assert server.reasons[silent_sid] == server.sio.reason.PING_TIMEOUT
        assert not server.disconnected[alive_sid].is_set()
        await alive.send_str('422["join","r"]')  # still served: the join is acknowledged
        while (message := await alive.receive_str(timeout=TIMEOUT)) == "2":
            await alive.send_str("3")
        assert message.startswith("432["), message


@on_both_loops
async def test_a_connection_the_server_closes_has_its_websocket_closed_by_the_server() -> None:
    # As at shutdown or on a ping timeout: a peer that vanished without a word cannot close
    # the websocket, so the server must, or the connection stays.
    async with serve(FastAsyncManager()) as server, aiohttp.ClientSession() as session:
        ws, sid = await raw_viewer(session, server.url)
        await server.sio.eio.disconnect(server.eio_sid(sid))
        assert await texts_until_closed(ws) == ["1"]
        assert ws.closed


@on_both_loops
async def test_an_idle_websocket_viewer_costs_no_task_beyond_aiohttps_own() -> None:
    # aiohttp keeps two per connection (the connection's and the request's). Stock
    # python-engineio adds four more per websocket (writer, reader, ping, a wait_for's):
    # most of what a viewer used to cost in memory.
    async with serve(FastAsyncManager()) as server, aiohttp.ClientSession() as session:
        before = len(asyncio.all_tasks())
        room = [await raw_viewer(session, server.url) for _ in range(20)]
        assert len(server.sio.eio.sockets) == len(room)
        # + engineio's service task and the event it waits on, once per server
        assert len(asyncio.all_tasks()) - before <= 2 * 20 + 2
