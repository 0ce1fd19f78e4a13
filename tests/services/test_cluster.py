"""The Redis manager's publishing: ordered, batched, bounded in connections, quick to recover."""

import asyncio
import json
from pathlib import Path

import redis.asyncio as aioredis
import socketio

from roomtimer.services.broadcast import Broadcaster
from roomtimer.services.cluster import ClusterCounts, ResilientRedisManager
from roomtimer.services.metrics import Metrics
from tests.support.cluster import RedisServer


async def subscriber(url: str, channel: str) -> aioredis.client.PubSub:
    pubsub = aioredis.Redis.from_url(url).pubsub()  # closing it closes its connection
    await pubsub.subscribe(channel)
    assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"  # type: ignore[index]
    return pubsub


async def received(pubsub: aioredis.client.PubSub, count: int) -> list[int]:
    seqs: list[int] = []
    async with asyncio.timeout(10):
        while len(seqs) < count:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            if message is not None:
                seqs.append(json.loads(message["data"])["seq"])
    return seqs


async def test_a_burst_of_publishes_arrives_in_order_over_one_connection(tmp_path: Path) -> None:
    async with RedisServer.running(tmp_path) as redis:
        manager = ResilientRedisManager(redis.url, channel="burst")
        watch = await subscriber(redis.url, "burst")
        try:
            # More at once than redis-py's default pool of 100 connections would allow.
            await asyncio.gather(*(manager._publish({"seq": n}) for n in range(1000)))
            assert await received(watch, 1000) == list(range(1000))
            admin = aioredis.Redis.from_url(redis.url)
            clients = await admin.client_list()
            await admin.aclose()
            publishers = [c for c in clients if c.get("cmd") == "publish"]
            assert len(publishers) == 1, publishers
        finally:
            await manager.aclose()
            await watch.aclose()


async def test_the_first_publish_after_redis_restarts_is_not_lost(tmp_path: Path) -> None:
    async with RedisServer.running(tmp_path) as redis:
        manager = ResilientRedisManager(redis.url, channel="again")
        try:
            await manager._publish({"seq": 0})  # a pooled connection, about to go stale
            await redis.stop()
            await redis.start()
            watch = await subscriber(redis.url, "again")
            await manager._publish({"seq": 1})
            assert await received(watch, 1) == [1]
            await watch.aclose()
        finally:
            await manager.aclose()


def heartbeats() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "roomtimer-heartbeat"]


async def test_stopping_the_heartbeat_ends_it_wherever_the_cancel_lands(tmp_path: Path) -> None:
    # redis-py can lose a cancel that lands inside one of its reads (services/background.py):
    # a worker whose heartbeat ignored its stop would never finish shutting down.
    async with RedisServer.running(tmp_path) as redis:
        client = aioredis.Redis.from_url(redis.url, socket_timeout=2)
        broadcaster = Broadcaster(socketio.AsyncServer(async_mode="aiohttp"), Metrics())
        try:
            for n in range(80):
                counts = ClusterCounts(client, broadcaster, heartbeat_ms=0)
                counts.start()
                for _ in range(n % 16):  # each time a few steps further into a beat
                    await asyncio.sleep(0)
                await asyncio.wait_for(counts.stop(), 5)
                assert heartbeats() == [], f"heartbeat still running after stop #{n}"
        finally:
            await client.aclose()
