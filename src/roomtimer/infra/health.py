"""Health checks of the database and Redis, each bounded in time."""

import asyncio
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from roomtimer.infra import db as database


async def _check(probe: Any, timeout_s: float) -> str:
    try:
        async with asyncio.timeout(timeout_s):
            await probe
        return "ok"
    except Exception:
        return "down"


async def check_dependencies(
    engine: AsyncEngine, redis: Redis | None, *, timeout_s: float
) -> dict[str, str]:
    """`ok` or `down` for each dependency, each within `timeout_s`."""
    found = {"database": await _check(database.ping(engine), timeout_s)}
    if redis is not None:
        found["redis"] = await _check(redis.ping(), timeout_s)
    return found
