"""Control sockets: an owner's sockets that watch every room the owner has.

A bus output. Each event goes to the Socket.IO room `owner:<id>` of the room's owner on
this worker, if any socket watches there; rooms created after the watch began are
included, since the owner of a room is looked up (once, then remembered) the first time
one of its events passes while somebody watches.
"""

from collections.abc import Awaitable, Callable

import socketio

from roomtimer.events.bus import ROOM_DELETED, RoomEvents
from roomtimer.infra.coalesce import Coalescer
from roomtimer.realtime.rooms import NAMESPACE, emit_events

OwnerOf = Callable[[str], Awaitable[str | None]]


def watchers(owner_id: str) -> str:
    """The Socket.IO room of an owner's control sockets."""
    return "owner:" + owner_id


class ControlSockets:
    """Delivers every room event to the control sockets of the room's owner on this worker."""

    def __init__(self, sio: socketio.AsyncServer, owner_of: OwnerOf) -> None:
        self.sio = sio
        self._owners: dict[str, str] = {}  # room id -> owner id (an owner never changes)
        self._lookup: Coalescer[str, str | None] = Coalescer(owner_of)
        self._watching: set[str] = set()  # sids: every event asks "anyone?", in O(1)

    async def __call__(self, events: RoomEvents) -> None:
        """The bus output: the events to the owner's watching sockets here, in order."""
        if not self._watching:
            return  # nobody watches on this worker: no lookup, nothing to do
        owner = events.owner_id or await self.owner_of(events.room_id)
        if events.name == ROOM_DELETED:
            self._owners.pop(events.room_id, None)  # its id will not come back
        if owner is None or not self.sio.manager.rooms.get(NAMESPACE, {}).get(watchers(owner)):
            return
        await emit_events(self.sio, watchers(owner), events)

    async def owner_of(self, room_id: str) -> str | None:
        """The owner of a room (None if it is gone), from memory after the first time."""
        owner = self._owners.get(room_id)
        if owner is None:
            owner = await self._lookup.get(room_id)
            if owner is not None:
                self._owners[room_id] = owner
        return owner

    def remember(self, room_id: str, owner_id: str) -> None:
        """Notes a room's owner known without a lookup (its owner just listed or made it)."""
        self._owners[room_id] = owner_id

    async def watch(self, sid: str, owner_id: str) -> None:
        """Makes `sid` receive every event of `owner_id`'s rooms from now on."""
        self._watching.add(sid)
        await self.sio.enter_room(sid, watchers(owner_id))

    def forget(self, sid: str) -> None:
        """A socket that went (python-socketio takes it out of its rooms itself)."""
        self._watching.discard(sid)
