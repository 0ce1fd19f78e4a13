"""The relay's publishing: ordered, batched, bounded in connections, quick to recover."""

import asyncio
import json
from pathlib import Path

import redis.asyncio as aioredis

from roomtimer.events.bus import EventBus, RoomEvents
from roomtimer.events.relay import RedisRelay
from roomtimer.infra.metrics import Metrics
from tests.support.cluster import RedisServer


def seq(n: int) -> RoomEvents:
    return RoomEvents("room", "probe", [{"seq": n}])


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
                seqs.append(json.loads(message["data"])["p"][0]["seq"])
    return seqs


async def test_a_burst_of_publishes_arrives_in_order_over_one_connection(tmp_path: Path) -> None:
    async with RedisServer.running(tmp_path) as redis:
        relay = RedisRelay(redis.url, EventBus(Metrics()), channel="burst")
        watch = await subscriber(redis.url, "burst")
        try:
            # More at once than redis-py's default pool of 100 connections would allow.
            await asyncio.gather(*(relay.send(seq(n)) for n in range(1000)))
            assert await received(watch, 1000) == list(range(1000))
            admin = aioredis.Redis.from_url(redis.url)
            clients = await admin.client_list()
            await admin.aclose()
            publishers = [c for c in clients if c.get("cmd") == "publish"]
            assert len(publishers) == 1, publishers
        finally:
            await relay.aclose()
            await watch.aclose()


async def test_the_first_publish_after_redis_restarts_is_not_lost(tmp_path: Path) -> None:
    async with RedisServer.running(tmp_path) as redis:
        relay = RedisRelay(redis.url, EventBus(Metrics()), channel="again")
        try:
            await relay.send(seq(0))  # a pooled connection, about to go stale
            await redis.stop()
            await redis.start()
            watch = await subscriber(redis.url, "again")
            await relay.send(seq(1))
            assert await received(watch, 1) == [1]
            await watch.aclose()
        finally:
            await relay.aclose()
