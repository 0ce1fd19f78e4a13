"""This worker's Socket.IO rooms: the bus's first output, and who is in them."""

from collections.abc import Mapping
from typing import Any

import socketio

from roomtimer.events.bus import RoomEvents

NAMESPACE = "/"
PREFIX = "room:"


def channel(room_id: str) -> str:
    """The Socket.IO room of a roomtimer room."""
    return PREFIX + room_id


async def emit_events(sio: socketio.AsyncServer, room: str, events: RoomEvents) -> None:
    """`events` to this worker's sockets in a Socket.IO room, in order."""
    emit_many = getattr(sio.manager, "emit_many", None)
    if emit_many is not None:  # the fast manager: one write per websocket for a burst
        await emit_many([(events.name, p) for p in events.payloads], NAMESPACE, room)
    else:
        for payload in events.payloads:
            await sio.emit(events.name, payload, room=room)


class SocketRooms:
    """Writes room events to this worker's sockets, and counts them (this worker only)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def __call__(self, events: RoomEvents) -> None:
        """The bus output: the events to the room's sockets here, in order, then membership."""
        room = channel(events.room_id)
        await emit_events(self.sio, room, events)
        if events.ends_membership:
            await self.sio.close_room(room)

    async def to_socket(self, sid: str, event: str, payload: Mapping[str, Any]) -> None:
        """Emits `event` to one socket of this worker."""
        await self.sio.emit(event, payload, to=sid)

    def room(self, room_id: str) -> int:
        """Sockets of this worker in the room."""
        rooms = self.sio.manager.rooms.get(NAMESPACE, {})
        return len(rooms.get(channel(room_id), ()))

    def clients(self) -> int:
        """Sockets connected to this worker (every socket is in the room None): O(1), as it is
        read with each batch of membership changes."""
        return len(self.sio.manager.rooms.get(NAMESPACE, {}).get(None, ()))

    def rooms(self) -> list[str]:
        """Room ids with at least one socket on this worker."""
        rooms = self.sio.manager.rooms.get(NAMESPACE, {})
        return [
            name[len(PREFIX) :]
            for name, members in rooms.items()
            if isinstance(name, str) and name.startswith(PREFIX) and members
        ]
