"""Counts for operators: what is stored, and who is connected."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roomtimer.clock import Clock
from roomtimer.models.stats import SocketStats, StorageCounts
from roomtimer.models.tables import Room, Timer
from roomtimer.models.timer_machine import Status
from roomtimer.services.presence import Presence


async def storage_counts(db: async_sessionmaker[AsyncSession]) -> StorageCounts:
    """Rooms, timers and running timers in storage."""
    async with db() as session:
        rooms = await session.scalar(select(func.count(Room.id)))
        timers, running = (
            await session.execute(
                select(
                    func.count(Timer.id),
                    func.count(Timer.id).filter(Timer.status == Status.RUNNING.value),
                )
            )
        ).one()
    return StorageCounts(rooms or 0, timers or 0, running or 0)


async def socket_stats(
    *, db: async_sessionmaker[AsyncSession], presence: Presence, clock: Clock
) -> SocketStats:
    """Connected sockets and rooms with viewers (every live worker: the counts `user-count`
    is read from), and storage."""
    storage = await storage_counts(db)
    clients, active = await presence.census()
    return SocketStats(clients, active, storage, clock.now_ms())
