"""GET /api/rooms/{shareToken}/events: a room's events as server-sent events."""

import asyncio

from aiohttp import web

from roomtimer import keys
from roomtimer.controllers.parsing import path_key, shared_room
from roomtimer.events.streams import Stream, frame
from roomtimer.schemas import public

GONE_CHECK_S = 1.0  # aiohttp tells a GET handler nothing when its client leaves: look
RETRY_MS = 3000  # what EventSource waits before reconnecting


async def room_events(request: web.Request) -> web.StreamResponse:
    """A `room-state` event first, then the room's events as they happen, until it ends."""
    token = path_key(request, "key")
    rooms, streams = request.app[keys.rooms], request.app[keys.room_streams]
    room = await shared_room(request, token)  # 404 for an unknown token, 429 for a guesser
    stream = streams.open(room.id)
    try:
        # A fresh state read after the stream opened: no event falls between the two.
        # (An event already in the state may come again; clients drop stale versions.)
        seen = await rooms.state(share_token=token)
        state = public.room_state(seen.value, seen.at, seen.watchers)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # Nginx: pass each event on at once
            }
        )
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n\n".encode() + frame("room-state", state))
        await _follow(request, response, stream, streams.heartbeat_s)
        return response
    finally:
        streams.close(stream)


async def _follow(
    request: web.Request, response: web.StreamResponse, stream: Stream, heartbeat_s: float
) -> None:
    """Writes the stream's events until it ends or the client leaves; comments in between."""
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while not stream.ended or stream.buffered:
        await stream.wait(min(GONE_CHECK_S, heartbeat_s))
        transport = request.transport
        if transport is None or transport.is_closing():
            return  # the client left
        data = stream.take()
        if not data and loop.time() - quiet_since < heartbeat_s:
            continue
        try:
            await response.write(data or b": keep-alive\n\n")
        except ConnectionResetError:
            return
        quiet_since = loop.time()
