"""Rooms: create, list, view, change, delete, rotate the share token."""

import base64
import binascii
import hmac
import secrets
import uuid

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from roomtimer.clock import Clock
from roomtimer.errors import Forbidden, NotFound, ValidationFailed
from roomtimer.events.bus import EventBus, RoomEvents
from roomtimer.infra.coalesce import Coalescer
from roomtimer.models.stamped import Audience, Page, Stamped
from roomtimer.models.tables import Room
from roomtimer.schemas import public
from roomtimer.services.outbox import Occurrence, Outbox
from roomtimer.services.presence import Presence

# Built once: every viewer's join runs it, and building a statement costs more than SQLite.
_BY_TOKEN = (
    select(Room).where(Room.share_token == bindparam("token")).options(selectinload(Room.timers))
)


def encode_cursor(created_at: int, room_id: str) -> str:
    """An opaque cursor: the last room's sort key."""
    return base64.urlsafe_b64encode(f"{created_at}:{room_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The sort key of a cursor (400 `validation_error` on `after` when it is not one)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, room_id = raw.split(":", 1)
        return int(created_at), room_id
    except (ValueError, binascii.Error):  # bad base64 or UTF-8, no colon, no number
        raise ValidationFailed(
            "Invalid query", details={"after": ["Not a cursor from a previous page."]}
        ) from None


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
        bus: EventBus,
        presence: Presence,
        outbox: Outbox,
    ) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus
        self.presence = presence
        self.outbox = outbox
        self._by_token: Coalescer[str, Room | None] = Coalescer(self._load_by_token)

    async def create(self, *, owner_id: str, name: str, description: str) -> Stamped[Room]:
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
        return Stamped(room, now)

    async def list_owned(
        self, *, owner_id: str, limit: int, after: str | None = None
    ) -> Stamped[Page[Room]]:
        """At most `limit` rooms of `owner_id`, oldest first, from after the `after` cursor."""
        query = select(Room).where(Room.owner_id == owner_id)
        if after is not None:
            created_at, room_id = decode_cursor(after)
            query = query.where(tuple_(Room.created_at, Room.id) > tuple_(created_at, room_id))
        query = query.options(selectinload(Room.timers)).order_by(Room.created_at, Room.id)
        async with self.db() as session:
            rooms = list(await session.scalars(query.limit(limit + 1)))
        more = len(rooms) > limit
        rooms = rooms[:limit]
        cursor = encode_cursor(rooms[-1].created_at, rooms[-1].id) if more else None
        return Stamped(Page(rooms, cursor), self.clock.now_ms())

    async def list_all_owned(self, *, owner_id: str) -> Stamped[list[Room]]:
        """Every room of `owner_id`, oldest first (a control socket's watch)."""
        rooms: list[Room] = []
        after: str | None = None
        while True:
            page = (await self.list_owned(owner_id=owner_id, limit=500, after=after)).value
            rooms += page.items
            if page.next is None:
                return Stamped(rooms, self.clock.now_ms())
            after = page.next

    async def owner_of(self, room_id: str) -> str | None:
        """The owner of a room, or None when there is no such room."""
        async with self.db() as session:
            owner: str | None = await session.scalar(
                select(Room.owner_id).where(Room.id == room_id)
            )
            return owner

    async def find_by_token(self, share_token: str) -> Room | None:
        """The room behind a share token, with its timers (read-only: it may be shared)."""
        # The indexed lookup finds a candidate; the constant-time comparison decides, so
        # the answer never rests on a comparison that stops at the first differing
        # character, nor on the database's collation (README, "Security").
        room = await self._by_token.get(share_token)
        if room is None or not hmac.compare_digest(
            room.share_token.encode(), share_token.encode("utf-8", "surrogatepass")
        ):
            return None
        return room

    async def _load_by_token(self, share_token: str) -> Room | None:
        async with self.db() as session:
            return await session.scalar(_BY_TOKEN, {"token": share_token})

    async def state(self, *, share_token: str) -> Audience[Room]:
        """The room as its viewers see it, with how many watch (404 for an unknown token)."""
        room = await self.find_by_token(share_token)
        if room is None:
            raise NotFound("Room not found")
        return self.audience(room)

    def audience(self, room: Room) -> Audience[Room]:
        """`room` with its viewer count, now."""
        return Audience(room, self.presence.count(room.id), self.clock.now_ms())

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
    ) -> Stamped[Room]:
        """Renames or re-describes a room and tells its viewers."""
        async with self.db.begin() as session:
            room = await owned_room(session, room_id, owner_id)
            now = self.clock.now_ms()
            for name, value in changes.items():
                setattr(room, name, value)
            room.updated_at = now
            info = public.room_info(room)
            recorded = await self.outbox.record(
                session, [Occurrence(room.id, "room.updated", room=info)], now
            )
        if recorded:
            self.outbox.wake()
        await self.bus.publish(
            room.id, "room-updated", public.room_updated(room, now), owner_id=owner_id
        )
        return Stamped(room, now)

    async def delete(self, *, owner_id: str, room_id: str) -> None:
        """Deletes a room and its timers; its viewers are told and removed."""
        async with self.db.begin() as session:
            room = await owned_room(session, room_id, owner_id)
            # Recorded before the room's webhooks go with it: deliveries keep their target.
            gone = Occurrence(room.id, "room.deleted", room=public.room_info(room))
            recorded = await self.outbox.record(session, [gone], self.clock.now_ms())
            await session.delete(room)
        if recorded:
            self.outbox.wake()
        # Every output removes the room's members as it delivers this (bus.ends_membership).
        payload = public.room_deleted(room_id, self.clock.now_ms())
        await self.bus.publish(room_id, "room-deleted", payload, owner_id=owner_id)
        self.presence.forget(room_id)

    async def set_message(
        self, *, owner_id: str, room_id: str, text: str, visible: bool, blackout: bool
    ) -> Stamped[Room]:
        """Sets the message (and blackout) of the room's viewer screens and tells them."""
        async with self.db.begin() as session:
            room = await owned_room(session, room_id, owner_id)
            now = self.clock.now_ms()
            room.message_text, room.message_visible = text, visible
            room.message_blackout, room.message_updated_at = blackout, now
        payload = public.room_message_event(room, now)
        await self.bus.publish(room.id, "room-message", payload, owner_id=owner_id)
        return Stamped(room, now)

    async def rotate_share_token(self, *, owner_id: str, room_id: str) -> Stamped[Room]:
        """Replaces the share token; sockets that joined with the old one are removed."""
        async with self.db.begin() as session:
            room = await owned_room(session, room_id, owner_id)
            now = self.clock.now_ms()
            room.share_token = new_share_token()
            room.updated_at = now
        revoked = public.error_event(
            "share_token_revoked", "The share token was replaced", now, room_id=room_id
        )
        # Members who joined with the old token are removed as each output delivers this.
        await self.bus.publish(room_id, "error", revoked, owner_id=owner_id)
        self.presence.changed(room_id)
        return Stamped(room, now)

    async def resync_here(self, room_ids: list[str]) -> None:
        """Resends each room's `room-state` to this worker's outputs only (after an outage)."""
        for room_id in room_ids:
            async with self.db() as session:
                room = await session.scalar(
                    select(Room).where(Room.id == room_id).options(selectinload(Room.timers))
                )
            if room is not None:
                seen = self.audience(room)
                state = public.room_state(room, seen.at, seen.watchers)
                await self.bus.deliver(RoomEvents(room_id, "room-state", [state]))
