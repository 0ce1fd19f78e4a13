"""The Socket.IO server: python-socketio's AsyncServer, told whether an ack was asked for."""

import contextvars
from typing import Any

import socketio
from engineio import packet

from roomtimer.config import Settings
from roomtimer.services import fanout_json as orjson_json

# Set for the duration of each event handler: did the client pass an ack callback?
ack_wanted: contextvars.ContextVar[bool] = contextvars.ContextVar("ack_wanted", default=False)

MAX_CLIENT_MESSAGE_BYTES = 64 * 1024


class RoomtimerServer(socketio.AsyncServer):
    """AsyncServer whose handlers can tell an event with an ack from one without."""

    # python-socketio 5.18 runs each event through this method with the ack id (None when
    # the client wants no ack); checked by tests/controllers/test_sockets.py.
    async def _handle_event_internal(  # type: ignore[no-untyped-def]
        self, server, sid, eio_sid, data, namespace, id
    ):
        ack_wanted.set(id is not None)
        return await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        await super()._handle_eio_disconnect(eio_sid, reason)
        # python-engineio leaves a polling client's pending long-poll open for up to 45 s after
        # the client closes (the Node server answers it with `close`): answer it now, so the
        # request ends, the client is not kept waiting, and shutdown does not wait for it.
        socket = self.eio.sockets.get(eio_sid)
        if socket is not None and not socket.upgraded:
            socket.queue.put_nowait(packet.Packet(packet.CLOSE))


def create_socket_server(settings: Settings, client_manager: Any) -> RoomtimerServer:
    """The Socket.IO server for these settings."""
    origins: list[str] | str | None = None  # same origin (and non-browser clients) only
    if "*" in settings.cors_origins:
        origins = "*"
    elif settings.cors_origins:
        origins = list(settings.cors_origins)
    return RoomtimerServer(
        async_mode="aiohttp",
        client_manager=client_manager,
        cors_allowed_origins=origins,
        max_http_buffer_size=MAX_CLIENT_MESSAGE_BYTES,
        json=orjson_json,
        logger=False,
        engineio_logger=False,
        transports=["polling", "websocket"],
    )
