"""Rooms: create, list, view, change, delete, rotate the share token."""

import secrets
import uuid
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from roomtimer.clock import Clock
from roomtimer.errors import Forbidden, NotFound
from roomtimer.models.tables import Room
from roomtimer.services import views
from roomtimer.services.broadcast import Broadcaster
from roomtimer.services.coalesce import Coalescer
from roomtimer.services.presence import Presence

# Built once: every viewer's join runs it, and building a statement costs more than SQLite.
_BY_TOKEN = (
    select(Room).where(Room.share_token == bindparam("token")).options(selectinload(Room.timers))
)


def new_share_token() -> str:
    """A random URL-safe capability of 192 bits."""
    return secrets.token_urlsafe(24)


async def owned_room(
    session: AsyncSession, room_id: str, owner_id: str, *, lock: bool = False
) -> Room:
    """The room with its timers, if it exists (404) and belongs to `owner_id` (403)."""
    query = select(Room).where(Room.id == room_id).options(selectinload(Room.timers))
    if lock:
        query = query.with_for_update()
    room = await session.scalar(query)
    if room is None:
        raise NotFound("Room not found")
    if room.owner_id != owner_id:
        raise Forbidden("You do not own this room")
    return room


class RoomService:
    """Use cases of rooms."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        broadcaster: Broadcaster,
        presence: Presence,
    ) -> None:
        self.db = db
        self.clock = clock
        self.broadcaster = broadcaster
        self.presence = presence
        self._by_token: Coalescer[str, Room | None] = Coalescer(self._load_by_token)

    async def create(self, *, owner_id: str, name: str, description: str) -> dict[str, Any]:
        """Creates a room owned by `owner_id`."""
        now = self.clock.now_ms()
        room = Room(
            id=str(uuid.uuid4()),
            name=name,
            description=description,
            share_token=new_share_token(),
            owner_id=owner_id,
            created_at=now,
            updated_at=now,
            timers=[],
        )
        async with self.db.begin() as session:
            session.add(room)
        return {**views.room_owner(room, now), "serverTime": now}

    async def list_owned(self, *, owner_id: str) -> dict[str, Any]:
        """Every room of `owner_id`, oldest first."""
        async with self.db() as session:
            rooms = await session.scalars(
                select(Room)
                .where(Room.owner_id == owner_id)
                .options(selectinload(Room.timers))
                .order_by(Room.created_at, Room.id)
            )
            now = self.clock.now_ms()
            return {"rooms": [views.room_owner(r, now) for r in rooms], "serverTime": now}

    async def find_by_token(self, share_token: str) -> Room | None:
        """The room behind a share token, with its timers (read-only: it may be shared)."""
        return await self._by_token.get(share_token)

    async def _load_by_token(self, share_token: str) -> Room | None:
        async with self.db() as session:
            return await session.scalar(_BY_TOKEN, {"token": share_token})

    async def state(self, *, share_token: str) -> dict[str, Any]:
        """RoomState for viewers (404 for an unknown token)."""
        room = await self.find_by_token(share_token)
        if room is None:
            raise NotFound("Room not found")
        return views.room_state(room, self.clock.now_ms(), self.presence.count(room.id))

    async def check_owner(self, *, owner_id: str, room_id: str) -> None:
        """404 unless the room exists, 403 unless `owner_id` owns it."""
        async with self.db() as session:
            found = await session.scalar(select(Room.owner_id).where(Room.id == room_id))
        if found is None:
            raise NotFound("Room not found")
        if found != owner_id:
            raise Forbidden("You do not own this room")

    async def update(
        self, *, owner_id: str, room_id: str, changes: dict[str, str]
    ) -> dict[str, Any]:
        """Renames or re-describes a room and tells its viewers."""
        async with self.db.begin() as session:
            room = await owned_room(session, room_id, owner_id)
            now = self.clock.now_ms()
            for name, value in changes.items():
                setattr(room, name, value)
            room.updated_at = now
        await self.broadcaster.to_room(room.id, "room-updated", views.room_summary(room, now))
        return {**views.room_owner(room, now), "serverTime": now}

    async def delete(self, *, owner_id: str, room_id: str) -> None:
        """Deletes a room and its timers; its viewers are told and removed."""
        async with self.db.begin() as session:
            room = await owned_room(session, room_id, owner_id)
            await session.delete(room)
        now = self.clock.now_ms()
        await self.broadcaster.to_room(room_id, "room-deleted", {"id": room_id, "serverTime": now})
        await self.broadcaster.clear_room(room_id)
        self.presence.forget(room_id)

    async def rotate_share_token(self, *, owner_id: str, room_id: str) -> dict[str, Any]:
        """Replaces the share token; sockets that joined with the old one are removed."""
        async with self.db.begin() as session:
            room = await owned_room(session, room_id, owner_id)
            now = self.clock.now_ms()
            room.share_token = new_share_token()
            room.updated_at = now
        revoked = {
            "code": "share_token_revoked",
            "message": "The share token was replaced",
            "roomId": room_id,
            "serverTime": now,
        }
        await self.broadcaster.to_room(room_id, "error", revoked)
        await self.broadcaster.clear_room(room_id)
        self.presence.changed(room_id)
        return {**views.room_owner(room, now), "serverTime": now}

    async def resync_local_rooms(self) -> None:
        """Resends `room-state` to every room with sockets on this worker (after an outage)."""
        for room_id in self.broadcaster.local_rooms():
            async with self.db() as session:
                room = await session.scalar(
                    select(Room).where(Room.id == room_id).options(selectinload(Room.timers))
                )
            if room is not None:
                state = views.room_state(room, self.clock.now_ms(), self.presence.count(room_id))
                await self.broadcaster.to_local_room(room_id, "room-state", state)
