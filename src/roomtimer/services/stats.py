"""Health checks and counts for operators."""

import asyncio
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from roomtimer.clock import Clock
from roomtimer.models.tables import Room, Timer
from roomtimer.models.timer_machine import Status
from roomtimer.services import db as database
from roomtimer.services.broadcast import Broadcaster
from roomtimer.services.presence import Presence


@dataclass(frozen=True)
class StorageCounts:
    rooms: int
    timers: int
    running_timers: int


async def _check(probe: Any, timeout_s: float) -> str:
    try:
        async with asyncio.timeout(timeout_s):
            await probe
        return "ok"
    except Exception:
        return "down"


async def health_checks(
    engine: AsyncEngine, redis: Redis | None, *, timeout_s: float
) -> dict[str, str]:
    """`ok` or `down` for each dependency, each within `timeout_s`."""
    checks = {"database": await _check(database.ping(engine), timeout_s)}
    if redis is not None:
        checks["redis"] = await _check(redis.ping(), timeout_s)
    return checks


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
    db: async_sessionmaker[AsyncSession], broadcaster: Broadcaster, presence: Presence, clock: Clock
) -> dict[str, Any]:
    """The body of GET /api/stats/socket."""
    counts = await storage_counts(db)
    active = [room_id for room_id in broadcaster.local_rooms() if presence.count(room_id) > 0]
    return {
        "connectedClients": presence.total_clients(),
        "rooms": counts.rooms,
        "activeRooms": len(active),
        "timers": counts.timers,
        "runningTimers": counts.running_timers,
        "serverTime": clock.now_ms(),
    }
