"""Room events between workers, over one Redis pub/sub channel.

Every publish goes through one sender task on one connection, so other workers receive
this worker's events in the order they were published; whatever queued up meanwhile
leaves in one pipeline, so a burst (a crowd joining, a thousand timers finishing) costs a
few round trips and never a connection per event. A publish waits until Redis has its
message, at most `publish_timeout_s`. While Redis is away publishing is skipped (this
worker's outputs already had the event), the listener retries every half second, and
`on_reconnect` runs once Redis answers again so rooms can be resent their state.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from loguru import logger
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from roomtimer.events.bus import EventBus, RoomEvents
from roomtimer.infra.background import close_quietly, spawn, stop_task

CHANNEL = "roomtimer:events"


def encode(origin: str, events: RoomEvents) -> bytes:
    """The wire form of a batch of room events."""
    message = {"w": origin, "r": events.room_id, "e": events.name, "p": list(events.payloads)}
    if events.owner_id is not None:
        message["o"] = events.owner_id
    return orjson.dumps(message)


def decode(data: bytes) -> tuple[str, RoomEvents]:
    """(origin worker, events) of a message; ValueError when it is not one of ours."""
    message = orjson.loads(data)
    if not isinstance(message, dict):
        raise ValueError("not a relay message")
    origin, room_id, name, payloads, owner = (message.get(k) for k in ("w", "r", "e", "p", "o"))
    if not (
        isinstance(origin, str)
        and isinstance(room_id, str)
        and isinstance(name, str)
        and isinstance(payloads, list)
        and (owner is None or isinstance(owner, str))
    ):
        raise ValueError("not a relay message")
    return origin, RoomEvents(room_id, name, payloads, owner)


class RedisRelay:
    """Sends this worker's room events to the other workers, and delivers theirs here."""

    retry_s = 0.5
    publish_timeout_s = 1.0
    max_batch = 512

    def __init__(self, url: str, bus: EventBus, *, channel: str = CHANNEL) -> None:
        self.url = url
        self.bus = bus
        self.channel = channel
        self.worker_id = uuid.uuid4().hex
        self.redis_up = True
        self.on_reconnect: Callable[[], Awaitable[None]] | None = None
        self._publisher: Redis | None = None
        self._subscriber: Redis | None = None
        self._pubsub: PubSub | None = None
        self._publish_down_until = 0.0
        self._outbox: asyncio.Queue[tuple[bytes, asyncio.Future[None]]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def start(self) -> None:
        """Starts listening to the other workers."""
        self._listener = asyncio.create_task(self._listen_forever(), name="roomtimer-relay")

    async def wait_subscribed(self, timeout_s: float = 5.0) -> None:
        """Returns once the listener is subscribed (tests and start-up ordering)."""
        await asyncio.wait_for(self._subscribed.wait(), timeout_s)

    async def send(self, events: RoomEvents) -> None:
        """Publishes `events` for the other workers, in order, without holding a command up."""
        if not self.redis_up or time.monotonic() < self._publish_down_until:
            return  # Redis is away (for the listener or the publisher): skip at once
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_forever(), name="roomtimer-publisher")
        sent = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait((encode(self.worker_id, events), sent))
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

    async def _send(self, messages: list[bytes]) -> None:
        # Twice: a pooled connection may predate an outage and fail once, harmlessly.
        for attempt in (1, 2):
            if self._publisher is None:
                self._publisher = Redis.from_url(
                    self.url, socket_connect_timeout=1.0, socket_timeout=1.0
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

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._close_listener()
                self._subscriber = Redis.from_url(
                    self.url, socket_connect_timeout=1.0, socket_keepalive=True
                )
                self._pubsub = self._subscriber.pubsub()
                await self._pubsub.subscribe(self.channel)
                if not self.redis_up:
                    self.redis_up = True
                    self._publish_down_until = 0.0
                    logger.info("Redis is back; resending room state")
                    if self.on_reconnect is not None:
                        spawn(self.on_reconnect())
                async for message in self._pubsub.listen():
                    await self._received(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening through outages
                self._subscribed.clear()
                if self.redis_up:
                    logger.error(
                        "Redis is unreachable ({}); serving this worker's sockets only", exc
                    )
                self.redis_up = False
                await asyncio.sleep(self.retry_s)

    async def _received(self, message: dict[str, Any]) -> None:
        if message.get("type") == "subscribe":
            self._subscribed.set()  # Redis confirmed: every later publish reaches us
            return
        if message.get("type") != "message":
            return
        try:
            origin, events = decode(message["data"])
        except ValueError:
            logger.warning("ignoring a message on {} that is not a room event", self.channel)
            return
        if origin != self.worker_id:  # this worker's own were delivered when published
            await self.bus.deliver(events)

    async def _close_listener(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        subscriber, self._subscriber = self._subscriber, None
        await close_quietly(pubsub)
        await close_quietly(subscriber)

    async def aclose(self) -> None:
        """Stops listening and publishing and closes every Redis connection."""
        await stop_task(self._listener)
        await stop_task(self._sender)
        self._listener = self._sender = None
        await self._close_listener()
        await close_quietly(self._publisher)
        self._publisher = None
