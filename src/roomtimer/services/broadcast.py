"""The one place where room events leave the server.

Socket.IO delivery (the client manager decides how bytes reach each socket, fast path
and Redis included) and every other listener (event streams, webhooks) hang off here.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from roomtimer.services.metrics import Metrics

NAMESPACE = "/"
Listener = Callable[[str, str, dict[str, Any]], Awaitable[None]]


def channel(room_id: str) -> str:
    """The Socket.IO room of a roomtimer room."""
    return f"room:{room_id}"


class Broadcaster:
    """Sends events to rooms and sockets, and tells listeners about room events."""

    def __init__(self, sio: socketio.AsyncServer, metrics: Metrics) -> None:
        self.sio = sio
        self.metrics = metrics
        self.listeners: list[Listener] = []

    async def to_room(self, room_id: str, event: str, payload: dict[str, Any]) -> None:
        """Emits `event` to every socket of the room, on every worker."""
        await self.sio.emit(event, payload, room=channel(room_id))
        await self._tell(room_id, event, [payload])

    async def to_room_many(self, room_id: str, event: str, payloads: list[dict[str, Any]]) -> None:
        """Emits `event` once per payload to the room, in order: one write per websocket here."""
        emit_many = getattr(self.sio.manager, "emit_many", None)
        if emit_many is not None:
            await emit_many([(event, p) for p in payloads], NAMESPACE, channel(room_id))
        else:
            for payload in payloads:
                await self.sio.emit(event, payload, room=channel(room_id))
        await self._tell(room_id, event, payloads)

    async def _tell(self, room_id: str, event: str, payloads: list[dict[str, Any]]) -> None:
        """Counts the events and hands each to every listener."""
        self.metrics.broadcasts.labels(event).inc(len(payloads))
        for payload in payloads:
            for listener in self.listeners:
                await listener(room_id, event, payload)

    async def to_local_room(self, room_id: str, event: str, payload: dict[str, Any]) -> None:
        """Emits `event` to the room's sockets on this worker only."""
        await self.sio.emit(event, payload, room=channel(room_id), ignore_queue=True)

    async def to_socket(self, sid: str, event: str, payload: dict[str, Any]) -> None:
        """Emits `event` to one socket of this worker (not through Redis)."""
        await self.sio.emit(event, payload, to=sid, ignore_queue=True)

    async def clear_room(self, room_id: str) -> None:
        """Removes every member from the room, on every worker."""
        await self.sio.close_room(channel(room_id))

    def local_members(self, room_id: str) -> int:
        """Sockets of this worker in the room."""
        rooms = self.sio.manager.rooms.get(NAMESPACE, {})
        return len(rooms.get(channel(room_id), ()))

    def local_rooms(self) -> list[str]:
        """Room ids with at least one socket on this worker."""
        rooms = self.sio.manager.rooms.get(NAMESPACE, {})
        return [
            name[5:]
            for name, members in rooms.items()
            if isinstance(name, str) and name.startswith("room:") and members
        ]
