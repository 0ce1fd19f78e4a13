"""Several workers behind one Redis: shared counts, a shared `user-count` pace, outages.

Each worker publishes its own sockets per room under a key that expires unless the
worker's heartbeat renews it, so a worker that dies stops being counted within
`ttl_ms` plus one refresh. Counts read synchronously from a snapshot of the other
workers, refreshed on every heartbeat, plus this worker's live numbers.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from redis.asyncio import Redis

from roomtimer.services.background import close_quietly, spawn, stop_task
from roomtimer.services.broadcast import Broadcaster
from roomtimer.services.fanout import FastRedisManager
from roomtimer.services.presence import LocalCounts

PREFIX = "roomtimer"
CLIENTS_FIELD = "_clients"


class ClusterCounts:
    """Sockets across every live worker: this one's live, the others' from Redis."""

    def __init__(
        self,
        redis: Redis,
        broadcaster: Broadcaster,
        *,
        worker_id: str | None = None,
        heartbeat_ms: int = 1000,
        ttl_ms: int = 3000,
    ) -> None:
        self.redis = redis
        self.local = LocalCounts(broadcaster)
        self.broadcaster = broadcaster
        self.worker_id = worker_id or uuid.uuid4().hex
        self.heartbeat_ms = heartbeat_ms
        self.ttl_ms = ttl_ms
        self._others: dict[str, int] = {}
        self._other_clients = 0
        self._task: asyncio.Task[None] | None = None
        self.on_change: Callable[[str], None] | None = None

    def room(self, room_id: str) -> int:
        """Sockets in the room on every live worker."""
        return self.local.room(room_id) + self._others.get(room_id, 0)

    def clients(self) -> int:
        """Sockets connected to every live worker."""
        return self.local.clients() + self._other_clients

    async def beat(self) -> None:
        """Publishes this worker's counts and reads the other live workers'."""
        key = f"{PREFIX}:presence:{self.worker_id}"
        workers = f"{PREFIX}:workers"
        mapping: dict[str, int] = {CLIENTS_FIELD: self.local.clients()}
        for room_id in self.broadcaster.local_rooms():
            mapping[room_id] = self.local.room(room_id)
        server_ms = await self._server_time_ms()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            pipe.pexpire(key, self.ttl_ms)
            pipe.zadd(workers, {self.worker_id: server_ms})
            pipe.zremrangebyscore(workers, "-inf", server_ms - self.ttl_ms)
            pipe.zrange(workers, 0, -1)
            results = await pipe.execute()
        live = [w.decode() if isinstance(w, bytes) else w for w in results[-1]]
        others = [w for w in live if w != self.worker_id]
        async with self.redis.pipeline(transaction=False) as pipe:
            for worker in others:
                pipe.hgetall(f"{PREFIX}:presence:{worker}")
            snapshots = await pipe.execute()
        rooms: dict[str, int] = {}
        clients = 0
        for snapshot in snapshots:
            for field, value in snapshot.items():
                name = field.decode() if isinstance(field, bytes) else field
                if name == CLIENTS_FIELD:
                    clients += int(value)
                else:
                    rooms[name] = rooms.get(name, 0) + int(value)
        changed = {
            r for r in rooms.keys() | self._others.keys() if rooms.get(r) != self._others.get(r)
        }
        self._others, self._other_clients = rooms, clients
        if self.on_change is not None:
            for room_id in changed & set(self.broadcaster.local_rooms()):
                self.on_change(room_id)  # another worker's viewers came or went

    async def _server_time_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def leave(self) -> None:
        """Stops being counted at once (graceful shutdown)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"{PREFIX}:presence:{self.worker_id}")
            pipe.zrem(f"{PREFIX}:workers", self.worker_id)
            await pipe.execute()

    def start(self) -> None:
        """Starts the heartbeat."""
        self._task = asyncio.create_task(self._run(), name="roomtimer-heartbeat")

    async def stop(self) -> None:
        """Stops the heartbeat and withdraws this worker's counts."""
        await stop_task(self._task)
        self._task = None
        try:
            await self.leave()
        except Exception:  # noqa: BLE001 - Redis may be the reason we are stopping
            logger.warning("could not withdraw presence counts from Redis")

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep beating through outages
                self._others, self._other_clients = {}, 0
                logger.warning("presence heartbeat failed: {}", exc)
            await asyncio.sleep(self.heartbeat_ms / 1000)


class ClusterGate:
    """Lets one worker at a time announce a room's `user-count` per interval."""

    def __init__(self, redis: Redis, interval_ms: int = 1000) -> None:
        self.redis = redis
        self.interval_ms = interval_ms

    async def wait_ms(self, room_id: str) -> int:
        """0 when this worker may emit now, else how long until the slot frees."""
        key = f"{PREFIX}:user-count:{room_id}"
        try:
            if await self.redis.set(key, "1", nx=True, px=self.interval_ms):
                return 0
            remaining = await self.redis.pttl(key)
        except Exception:  # noqa: BLE001 - during an outage each worker paces itself
            return 0
        return max(1, int(remaining)) if remaining and remaining > 0 else 1


class ResilientRedisManager(FastRedisManager):
    """The fast Redis manager: ordered, batched publishing that never holds a command up.

    python-socketio 5.18 delivers an emit to this worker's sockets, then publishes it.
    Here every publish goes through one sender task on one connection, so other workers
    receive this worker's events in the order they were emitted; whatever queued up
    meanwhile leaves in one pipeline, so a burst (a crowd joining, a thousand timers
    finishing) costs a few round trips and never a connection per emit. An emit waits
    until Redis has its message, at most `publish_timeout_s`. While Redis is away
    publishing is skipped (local viewers already have the event), the subscriber
    retries every half second instead of backing off to a minute, and `on_reconnect`
    runs once Redis answers again so rooms can be resent their state.
    """

    retry_s = 0.5
    publish_timeout_s = 1.0
    max_batch = 512

    def __init__(self, url: str, channel: str = "roomtimer", **kwargs: Any) -> None:
        options = {"socket_connect_timeout": 1.0, "socket_keepalive": True}
        super().__init__(url, channel=channel, redis_options=options, **kwargs)
        self.redis_up = True
        self.on_reconnect: Callable[[], Awaitable[None]] | None = None
        self._publisher: Redis | None = None
        self._publish_down_until = 0.0
        self._outbox: asyncio.Queue[tuple[str, asyncio.Future[None]]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None

    async def _publish(self, data: Any) -> None:
        if not self.redis_up or time.monotonic() < self._publish_down_until:
            return  # Redis is away (for the subscriber or the publisher): skip at once
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_forever(), name="roomtimer-publisher")
        sent = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait((self.json.dumps(data), sent))
        try:
            await asyncio.wait_for(asyncio.shield(sent), self.publish_timeout_s)
        except TimeoutError:
            pass  # it stays queued, in order; the command does not wait any longer

    async def _send_forever(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < self.max_batch and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                if time.monotonic() >= self._publish_down_until:
                    await self._send([message for message, _ in batch])
            finally:
                for _, sent in batch:
                    if not sent.done():
                        sent.set_result(None)

    async def _send(self, messages: list[str]) -> None:
        # Twice: a pooled connection may predate an outage and fail once, harmlessly.
        for attempt in (1, 2):
            if self._publisher is None:
                self._publisher = Redis.from_url(
                    self.redis_url, socket_connect_timeout=1.0, socket_timeout=1.0
                )
            try:
                async with self._publisher.pipeline(transaction=False) as pipe:
                    for message in messages:
                        pipe.publish(self.channel, message)
                    await pipe.execute()
            except Exception as exc:  # noqa: BLE001 - any failure: Redis is away for now
                publisher, self._publisher = self._publisher, None
                await close_quietly(publisher)
                if attempt == 2:
                    if not self._publish_down_until:
                        logger.error("cannot publish to Redis ({}); other workers miss events", exc)
                    self._publish_down_until = time.monotonic() + self.retry_s
            else:
                if self._publish_down_until:
                    logger.info("publishing to Redis again")
                    self._publish_down_until = 0.0
                return

    def _went_down(self, exc: BaseException) -> None:
        if self.redis_up:
            logger.error("Redis is unreachable ({}); serving this worker's sockets only", exc)
        self.redis_up = False

    async def _redis_listen_with_retries(self):  # type: ignore[no-untyped-def]
        while True:
            try:
                await self._close_listener()
                self._redis_connect()
                await self.pubsub.subscribe(self.channel)
                if not self.redis_up:
                    self.redis_up = True
                    self._publish_down_until = 0.0
                    logger.info("Redis is back; resending room state")
                    if self.on_reconnect is not None:
                        spawn(self.on_reconnect())
                async for message in self.pubsub.listen():
                    yield message
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                self._went_down(exc)
                await asyncio.sleep(self.retry_s)

    async def aclose(self) -> None:
        """Stops listening and publishing and closes every Redis connection."""
        await stop_task(self._sender)
        await super().aclose()
        await close_quietly(self._publisher)
        self._publisher = None
