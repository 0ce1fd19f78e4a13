"""Several workers behind one Redis: shared counts and a shared `user-count` pace.

Each worker publishes its own sockets per room under a key that expires unless the
worker's heartbeat renews it, so a worker that dies stops being counted within
`ttl_ms` plus one refresh. Counts read synchronously from a snapshot of the other
workers, refreshed on every heartbeat, plus this worker's live numbers.
"""

import asyncio
import uuid
from collections.abc import Callable
from typing import Protocol

from loguru import logger
from redis.asyncio import Redis

from roomtimer.infra.background import stop_task

PREFIX = "roomtimer"
CLIENTS_FIELD = "_clients"


class LocalSockets(Protocol):
    """This worker's sockets (realtime.rooms.SocketRooms)."""

    def room(self, room_id: str) -> int:
        """Sockets of this worker in the room."""
        ...

    def clients(self) -> int:
        """Sockets connected to this worker."""
        ...

    def rooms(self) -> list[str]:
        """Rooms with sockets on this worker."""
        ...


class ClusterCounts:
    """Sockets across every live worker: this one's live, the others' from Redis."""

    def __init__(
        self,
        redis: Redis,
        local: LocalSockets,
        *,
        worker_id: str | None = None,
        heartbeat_ms: int = 1000,
        ttl_ms: int = 3000,
    ) -> None:
        self.redis = redis
        self.local = local
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
        for room_id in self.local.rooms():
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
            for room_id in changed & set(self.local.rooms()):
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
