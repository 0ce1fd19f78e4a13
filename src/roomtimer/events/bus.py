"""The one path of room events: every event, from this worker or another, passes here.

A use case publishes a room's events; the bus hands them to this worker's outputs
(Socket.IO rooms; event streams and control sockets next) and to the relay, which
carries them to every other worker, where the relay hands them to that worker's bus.
So an output sees each event of every room exactly once, in the order it was published,
wherever the command was taken.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from loguru import logger

from roomtimer.infra.metrics import Metrics

Payload = Mapping[str, Any]  # a public schema (schemas.public), JSON-ready

# Events after which a room's members are removed (viewers rejoin with a valid token).
ROOM_DELETED = "room-deleted"
ERROR = "error"
SHARE_TOKEN_REVOKED = "share_token_revoked"


@dataclass(frozen=True, slots=True)
class RoomEvents:
    """One event name and its payloads, in order, for one room (a burst is one batch)."""

    room_id: str
    name: str
    payloads: Sequence[Payload]
    owner_id: str | None = None  # when the publisher knows it (control sockets use it)

    @property
    def ends_membership(self) -> bool:
        """True when the room's members must leave it: deleted, or its token replaced."""
        if self.name == ROOM_DELETED:
            return True
        return self.name == ERROR and any(
            p.get("code") == SHARE_TOKEN_REVOKED for p in self.payloads
        )


Output = Callable[[RoomEvents], Awaitable[None]]


class Relay(Protocol):
    """Carries this worker's events to the other workers (Redis), if there are others."""

    async def send(self, events: RoomEvents) -> None:
        """Hands `events` to every other worker's bus."""
        ...


class EventBus:
    """Publishes room events to this worker's outputs and, through the relay, to the others."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.outputs: list[Output] = []
        self.relay: Relay | None = None

    def subscribe(self, output: Output) -> Callable[[], None]:
        """Adds an output; returns the function that removes it."""
        self.outputs.append(output)
        return lambda: self._unsubscribe(output)

    def _unsubscribe(self, output: Output) -> None:
        if output in self.outputs:
            self.outputs.remove(output)

    async def publish(
        self, room_id: str, name: str, payload: Payload, *, owner_id: str | None = None
    ) -> None:
        """One event to the room, on every worker."""
        await self.publish_many(room_id, name, [payload], owner_id=owner_id)

    async def publish_many(
        self,
        room_id: str,
        name: str,
        payloads: Sequence[Payload],
        *,
        owner_id: str | None = None,
    ) -> None:
        """Several events of one name to the room, in order, on every worker."""
        if not payloads:
            return
        events = RoomEvents(room_id, name, payloads, owner_id)
        self.metrics.broadcasts.labels(name).inc(len(payloads))
        # Here first, as python-socketio's pub/sub managers do: this worker's viewers never
        # wait for Redis, and an outage of Redis costs the other workers only.
        await self.deliver(events)
        if self.relay is not None:
            await self.relay.send(events)

    async def deliver(self, events: RoomEvents) -> None:
        """Hands `events` to this worker's outputs only (the relay's and resyncs' entry)."""
        for output in tuple(self.outputs):
            try:
                await output(events)
            except Exception:  # one broken output must not keep the event from the others
                logger.exception("output {} failed on {}", output, events.name)
