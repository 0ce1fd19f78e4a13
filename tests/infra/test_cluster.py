"""Cluster counts: a heartbeat that stops whenever its stop lands; joins written in batches."""

import asyncio
from pathlib import Path

import redis.asyncio as aioredis
import socketio

from roomtimer.infra.cluster import ClusterCounts
from roomtimer.realtime.rooms import SocketRooms, channel
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


async def test_a_burst_of_500_joins_costs_a_few_writes_and_reads_back_at_once(
    tmp_path: Path,
) -> None:
    # Joins are the hot path: 500 viewers joining must not mean 500 Redis round trips,
    # and what the announcer and the stats read right after is every one of them.
    async with RedisServer.running(tmp_path) as redis:
        client = aioredis.Redis.from_url(redis.url, socket_timeout=2)
        sio = socketio.AsyncServer(async_mode="aiohttp")
        counts = ClusterCounts(client, SocketRooms(sio))
        try:
            await counts.beat()  # registered as a live worker
            await client.config_resetstat()
            for n in range(500):
                sid = await sio.manager.connect(f"eio-{n}", "/")
                await sio.manager.enter_room(sid, "/", channel("r1"))
                counts.touch("r1")
            assert await counts.claim("r1") == (0, 500)
            assert await counts.census() == (500, 1)
            writes = (await client.info("commandstats"))["cmdstat_exec"]["calls"]
            assert writes <= 10, f"{writes} writes for 500 joins"
        finally:
            await client.aclose()
