"""The server half of bench/floor.js: it only writes, as fast as this machine can.

    python bench/floor_server.py   # prints its port; bench/floor.js starts and stops it

Speaks just enough Engine.IO / Socket.IO for the load generator's own client
(shared/bench/lib/eio-client.js). When a viewer sends `42["go",{"endsAt": T, "events": E}]`
it builds E timer-finished frames (roomtimer's payload shape and size) ahead of time,
and at T writes them to every connected viewer: one `transport.write` of pre-built
bytes per viewer, on uvloop. No Socket.IO server, no database, no per-viewer Python
beyond that call: what is left is the kernel's cost of each write and the generator's
cost of reading, the floor under any server's figure on the same machine.
"""

import asyncio
import json
import sys
import time
import uuid

import uvloop
from aiohttp import web

from roomtimer.realtime.transport import OPCODE_TEXT, ws_frame

OPEN = {"sid": "floor", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000}


def burst(ends_at: int, events: int) -> bytes:
    """`events` timer-finished frames due at `ends_at`, joined."""
    made = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ends_at / 1000 - 600))
    room = str(uuid.uuid4())
    frames = []
    for i in range(events):
        timer = {
            "id": str(uuid.uuid4()),
            "roomId": room,
            "label": f"t{i}",
            "durationMs": 600000,
            "status": "finished",
            "remainingMs": 0,
            "endsAt": None,
            "finishedAt": ends_at,
            "position": i % 100,
            "version": 3,
            "createdAt": made,
            "updatedAt": made,
            "serverTime": ends_at,
        }
        text = "42" + json.dumps(["timer-finished", timer], separators=(",", ":"))
        frames.append(ws_frame(text.encode(), OPCODE_TEXT))
    return b"".join(frames)


def write_at(ends_at: int, data: bytes, transports: list[asyncio.Transport]) -> None:
    while time.time() * 1000 < ends_at:  # the last millisecond, exactly
        pass
    started = time.perf_counter()
    for transport in transports:
        transport.write(data)
    took = round((time.perf_counter() - started) * 1000, 1)
    print(json.dumps({"serverWriteMs": took}), file=sys.stderr, flush=True)


async def viewer(request: web.Request) -> web.WebSocketResponse:
    transports: list[asyncio.Transport] = request.app["transports"]
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    await ws.send_str("0" + json.dumps(OPEN))
    async for message in ws:
        text = message.data
        if text == "40":
            assert request.transport is not None
            transports.append(request.transport)
            await ws.send_str("40" + json.dumps({"sid": f"floor{len(transports)}"}))
        elif isinstance(text, str) and text.startswith('42["go"'):
            go = json.loads(text[2:])[1]
            data = burst(go["endsAt"], go["events"])
            delay = max(0.0, go["endsAt"] / 1000 - time.time() - 0.002)
            loop = asyncio.get_running_loop()
            loop.call_later(delay, write_at, go["endsAt"], data, transports)
    return ws


def main() -> None:
    app = web.Application()
    app["transports"] = []
    app.router.add_get("/socket.io/", viewer)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    uvloop.run(serve())


if __name__ == "__main__":
    main()
