"""The outbox: deliveries recorded in the transaction of the change that causes them.

A change records its deliveries with `Outbox.record` inside the transaction that makes
the change, so a delivery exists exactly when its change does (a restart loses none).
Each delivery carries a copy of its webhook's url and secret: `room.deleted` is still
sent after the room's webhooks went with the room.
"""

import hashlib
import hmac
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from roomtimer.models.tables import Delivery, Webhook
from roomtimer.schemas import public

# The event of each timer command that changed the timer.
COMMAND_EVENTS = {
    "start": "timer.started",
    "pause": "timer.paused",
    "reset": "timer.reset",
    "adjust": "timer.adjusted",
}
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`X-Roomtimer-Signature`: HMAC-SHA256 of "{timestamp}.{body}" with the secret."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Occurrence:
    """Something webhooks may be told: an event of a room, with the timer or room it concerns."""

    room_id: str
    event: str
    timer: public.TimerLike | Callable[[], public.TimerLike] | None = None  # or its builder
    room: public.RoomInfo | None = None


class Outbox:
    """Records deliveries in the caller's transaction; wakes this worker's sender after."""

    def __init__(self) -> None:
        self.on_recorded: Callable[[], None] | None = None

    async def record(self, session: AsyncSession, found: Sequence[Occurrence], now: int) -> int:
        """Adds a delivery for each webhook subscribed to each occurrence; returns how many."""
        if not found:
            return 0
        room_ids = {o.room_id for o in found}
        hooks = (
            await session.execute(
                select(Webhook.id, Webhook.room_id, Webhook.url, Webhook.secret, Webhook.events)
                .where(Webhook.room_id.in_(room_ids))
                .order_by(Webhook.created_at, Webhook.id)
            )
        ).all()
        by_room: dict[str, list[tuple[Any, set[str]]]] = {}
        for hook in hooks:
            by_room.setdefault(hook.room_id, []).append((hook, set(hook.events.split(","))))
        rows = []
        for occurrence in found:
            for hook, events in by_room.get(occurrence.room_id, ()):
                if occurrence.event not in events:
                    continue
                delivery_id = str(uuid.uuid4())
                timer = occurrence.timer
                body = public.webhook_body(
                    delivery_id,
                    occurrence.event,
                    occurrence.room_id,
                    now,
                    timer() if callable(timer) else timer,
                    occurrence.room,
                )
                rows.append(
                    {
                        "id": delivery_id,
                        "webhook_id": hook.id,
                        "room_id": occurrence.room_id,
                        "event": occurrence.event,
                        "url": hook.url,
                        "secret": hook.secret,
                        "body": orjson.dumps(body).decode(),
                        "status": PENDING,
                        "attempts": 0,
                        "created_at": now,
                        "next_attempt_at": now,
                    }
                )
        if rows:
            await session.execute(insert(Delivery), rows)
        return len(rows)

    def wake(self) -> None:
        """Tells this worker's sender that deliveries were committed (call after commit)."""
        if self.on_recorded is not None:
            self.on_recorded()
