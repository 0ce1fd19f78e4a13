"""Several workers behind one Redis: one set of socket counts, and one `user-count` pace.

Each worker writes its own sockets per room to a Redis hash that expires unless renewed,
so a worker that dies stops being counted within `ttl_ms`. It writes what changed within
`flush_ms` of a change (one MULTI for every change of that batch, however many joins it
holds) and the whole hash again on a heartbeat each `heartbeat_ms`. Every number the
workers must agree on is summed from those hashes in Redis, after this worker's own
changes are written: the `user-count` a worker announces, and `/api/stats/socket`.
Synchronous reads (the watchers of a joiner's `room-state`) use this worker's live
numbers plus a snapshot of the others refreshed on each heartbeat.
"""

import asyncio
import uuid
from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol

from loguru import logger
from redis.asyncio import Redis

from roomtimer.infra.background import spawn, stop_task

PREFIX = "roomtimer"
CLIENTS_FIELD = "_clients"
WORKERS = f"{PREFIX}:workers"
PRESENCE = f"{PREFIX}:presence:"
LAST_KEEP_MS = 600_000  # a room's last announced count, kept while the room is alive
ANSWER_S = 1.0  # a read that waits longer falls back to this worker's own numbers

# KEYS: the room's pace slot, its last announced count, the workers. ARGV: the room,
# the pace interval (ms), the presence key prefix, how long the last count is kept (ms),
# 1 to announce even an unchanged count. Returns {ms until the slot frees, -1}, {0, -1}
# when the count was announced already, else takes the slot and returns {0, count}.
# A dead worker's hash has expired: HGET nil.
CLAIM = """
local wait = redis.call('PTTL', KEYS[1])
if wait > 0 then return {wait, -1} end
local count = 0
for _, worker in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  count = count + (tonumber(redis.call('HGET', ARGV[3] .. worker, ARGV[1])) or 0)
end
if ARGV[5] ~= '1' and redis.call('GET', KEYS[2]) == tostring(count) then return {0, -1} end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SET', KEYS[2], count, 'PX', ARGV[4])
return {0, count}
"""

# KEYS: the workers. ARGV: the presence key prefix, the clients field.
# Returns {sockets connected to live workers, rooms with a socket on one of them}.
CENSUS = """
local clients, active, seen = 0, 0, {}
for _, worker in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local flat = redis.call('HGETALL', ARGV[1] .. worker)
  for i = 1, #flat, 2 do
    local n = tonumber(flat[i + 1])
    if flat[i] == ARGV[2] then
      clients = clients + n
    elseif n > 0 and not seen[flat[i]] then
      seen[flat[i]] = true
      active = active + 1
    end
  end
end
return {clients, active}
"""


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


class Turn(NamedTuple):
    """What a worker that would announce a room's `user-count` may do."""

    wait_ms: int  # > 0: another worker announced within the interval; ask again then
    users: int | None  # the count to announce now; None: it was announced already


class Census(NamedTuple):
    """Sockets across every live worker."""

    clients: int
    rooms: int  # rooms with at least one socket


class ClusterCounts:
    """Sockets across every live worker, summed in Redis; this worker's written there."""

    def __init__(
        self,
        redis: Redis,
        local: LocalSockets,
        *,
        worker_id: str | None = None,
        heartbeat_ms: int = 1000,
        ttl_ms: int = 3000,
        interval_ms: int = 1000,
        flush_ms: int = 5,
    ) -> None:
        self.redis = redis
        self.local = local
        self.worker_id = worker_id or uuid.uuid4().hex
        self.heartbeat_ms = heartbeat_ms
        self.ttl_ms = ttl_ms
        self.interval_ms = interval_ms
        self.flush_ms = flush_ms
        self.on_change: Callable[[str], None] | None = None
        self._others: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._dirty: set[str] = set()
        self._batch: asyncio.Future[None] | None = None  # the write changes wait for
        self._last: asyncio.Future[None] | None = None  # the latest write, done or not
        self._writes = asyncio.Lock()  # this worker's writes reach Redis in order
        self._stopped = False
        self._flush_failed = False
        self._answering = True  # the last heartbeat reached Redis
        self._claim = redis.register_script(CLAIM)
        self._census = redis.register_script(CENSUS)

    @property
    def key(self) -> str:
        """This worker's hash: sockets per room, and connected sockets."""
        return PRESENCE + self.worker_id

    def room(self, room_id: str) -> int:
        """Sockets in the room on every live worker, without waiting (heartbeat snapshot)."""
        return self.local.room(room_id) + self._others.get(room_id, 0)

    def touch(self, room_id: str) -> None:
        """This worker's sockets in the room changed: written with the next batch."""
        self._dirty.add(room_id)
        if self._batch is None and not self._stopped:
            self._batch = self._last = asyncio.get_running_loop().create_future()
            spawn(self._flush(self._batch))

    async def settle(self) -> None:
        """Waits until every change touched so far has been written (or failed to be)."""
        last = self._last
        if last is not None and not last.done():
            await asyncio.shield(last)

    async def claim(self, room_id: str, *, again: bool = False) -> Turn | None:
        """Whether and what to announce (`again`: even if announced already), from Redis
        after our own changes; None: no answer."""
        keys = [f"{PREFIX}:user-count:{room_id}", f"{PREFIX}:user-count-last:{room_id}", WORKERS]
        args: list[str | int] = [room_id, self.interval_ms, PRESENCE, LAST_KEEP_MS, int(again)]
        if not self._answering:
            return None
        try:
            async with asyncio.timeout(ANSWER_S):
                await self.settle()
                wait_ms, count = await self._claim(keys=keys, args=args)
        except Exception as exc:  # noqa: BLE001 - during an outage each worker counts its own
            logger.debug("user-count from Redis failed: {!r}", exc)
            return None
        return Turn(int(wait_ms), None if int(count) < 0 else int(count))

    async def census(self) -> Census | None:
        """Connected sockets and rooms with sockets, from Redis after our own changes."""
        if not self._answering:
            return None
        try:
            async with asyncio.timeout(ANSWER_S):
                await self.settle()
                clients, rooms = await self._census(keys=[WORKERS], args=[PRESENCE, CLIENTS_FIELD])
        except Exception as exc:  # noqa: BLE001 - during an outage each worker counts its own
            logger.debug("socket census from Redis failed: {!r}", exc)
            return None
        return Census(int(clients), int(rooms))

    async def _flush(self, batch: asyncio.Future[None]) -> None:
        try:
            await asyncio.sleep(self.flush_ms / 1000)  # let a burst of joins share one write
            async with self._writes:
                self._batch = None  # later changes go into the next batch
                rooms, self._dirty = self._dirty, set()
                if not self._stopped:
                    await self._write(rooms)
            self._flush_failed = False
        except Exception as exc:  # noqa: BLE001 - the heartbeat writes everything again
            if not self._flush_failed:
                logger.warning("presence counts not written: {!r}", exc)
            self._flush_failed = True
        finally:
            if not batch.done():
                batch.set_result(None)

    def _counts(self, rooms: Iterable[str]) -> tuple[dict[str, int], list[str]]:
        """This worker's hash fields for `rooms` (with its connected sockets), and the rooms
        it no longer has sockets in."""
        mapping: dict[str, int] = {CLIENTS_FIELD: self.local.clients()}
        gone = []
        for room_id in rooms:
            count = self.local.room(room_id)
            if count:
                mapping[room_id] = count
            else:
                gone.append(room_id)
        return mapping, gone

    async def _write(self, rooms: set[str]) -> None:
        mapping, gone = self._counts(rooms)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, mapping=mapping)  # type: ignore[arg-type]
            if gone:
                pipe.hdel(self.key, *gone)
            pipe.pexpire(self.key, self.ttl_ms)
            await pipe.execute()

    async def beat(self) -> None:
        """Writes this worker's counts whole and reads the other live workers'."""
        async with self._writes:
            server_ms = await self._server_time_ms()
            mapping, _ = self._counts(self.local.rooms())
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self.key)
                pipe.hset(self.key, mapping=mapping)  # type: ignore[arg-type]
                pipe.pexpire(self.key, self.ttl_ms)
                pipe.zadd(WORKERS, {self.worker_id: server_ms})
                pipe.zremrangebyscore(WORKERS, "-inf", server_ms - self.ttl_ms)
                pipe.zrange(WORKERS, 0, -1)
                results = await pipe.execute()
        live = [w.decode() if isinstance(w, bytes) else w for w in results[-1]]
        others = [w for w in live if w != self.worker_id]
        async with self.redis.pipeline(transaction=False) as pipe:
            for worker in others:
                pipe.hgetall(PRESENCE + worker)
            snapshots = await pipe.execute()
        rooms: dict[str, int] = {}
        for snapshot in snapshots:
            for field, value in snapshot.items():
                name = field.decode() if isinstance(field, bytes) else field
                if name != CLIENTS_FIELD:
                    rooms[name] = rooms.get(name, 0) + int(value)
        changed = {
            r for r in rooms.keys() | self._others.keys() if rooms.get(r) != self._others.get(r)
        }
        self._others = rooms
        if self.on_change is not None:
            for room_id in changed & set(self.local.rooms()):
                self.on_change(room_id)  # another worker's viewers came or went

    async def _server_time_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def leave(self) -> None:
        """Stops being counted at once (graceful shutdown)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key)
            pipe.zrem(WORKERS, self.worker_id)
            await pipe.execute()

    def start(self) -> None:
        """Starts the heartbeat."""
        self._task = asyncio.create_task(self._run(), name="roomtimer-heartbeat")

    async def stop(self) -> None:
        """Stops the heartbeat and withdraws this worker's counts."""
        self._stopped = True  # no batch written after this worker has left
        await stop_task(self._task)
        self._task = None
        try:
            async with asyncio.timeout(ANSWER_S * 3), self._writes:  # after a batch on its way
                await self.leave()
        except Exception:  # noqa: BLE001 - Redis may be the reason we are stopping
            logger.warning("could not withdraw presence counts from Redis")

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
                self._answering = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep beating through outages
                self._answering = False  # until it is back, each worker counts its own
                self._others = {}
                logger.warning("presence heartbeat failed: {}", exc)
            await asyncio.sleep(self.heartbeat_ms / 1000)
