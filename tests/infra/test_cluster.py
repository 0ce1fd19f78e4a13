"""Cluster counts: a heartbeat that stops whenever its stop lands."""

import asyncio
from pathlib import Path

import redis.asyncio as aioredis
import socketio

from roomtimer.infra.cluster import ClusterCounts
from roomtimer.realtime.rooms import SocketRooms
from tests.support.cluster import RedisServer


def heartbeats() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "roomtimer-heartbeat"]


async def test_stopping_the_heartbeat_ends_it_wherever_the_cancel_lands(tmp_path: Path) -> None:
    # redis-py can lose a cancel that lands inside one of its reads (infra/background.py):
    # a worker whose heartbeat ignored its stop would never finish shutting down.
    async with RedisServer.running(tmp_path) as redis:
        client = aioredis.Redis.from_url(redis.url, socket_timeout=2)
        sockets = SocketRooms(socketio.AsyncServer(async_mode="aiohttp"))
        try:
            for n in range(80):
                counts = ClusterCounts(client, sockets, heartbeat_ms=0)
                counts.start()
                for _ in range(n % 16):  # each time a few steps further into a beat
                    await asyncio.sleep(0)
                await asyncio.wait_for(counts.stop(), 5)
                assert heartbeats() == [], f"heartbeat still running after stop #{n}"
        finally:
            await client.aclose()
