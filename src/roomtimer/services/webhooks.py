"""Webhooks: register, list, delete, and each one's delivery log."""

import secrets
import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roomtimer.clock import Clock
from roomtimer.errors import Forbidden, NotFound, ValidationFailed
from roomtimer.infra import url_safety
from roomtimer.models.stamped import Stamped
from roomtimer.models.tables import Delivery, Room, Webhook
from roomtimer.services.rooms import owned_room

MAX_WEBHOOKS_PER_ROOM = 20
LOG_SIZE = 100


async def owned_webhook(session: AsyncSession, webhook_id: str, owner_id: str) -> Webhook:
    """The webhook, if it exists (404) and its room belongs to `owner_id` (403)."""
    row = (
        await session.execute(
            select(Webhook, Room.owner_id).join(Room).where(Webhook.id == webhook_id)
        )
    ).first()
    if row is None:
        raise NotFound("Webhook not found")
    hook, room_owner = row
    if room_owner != owner_id:
        raise Forbidden("You do not own this webhook")
    return hook


class WebhookService:
    """Use cases of webhooks."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], clock: Clock, *, allow_private: bool
    ) -> None:
        self.db = db
        self.clock = clock
        self.allow_private = allow_private

    async def check_room_owner(self, *, owner_id: str, room_id: str) -> None:
        """404 unless the room exists, 403 unless `owner_id` owns it."""
        async with self.db() as session:
            await owned_room(session, room_id, owner_id)

    async def register(
        self, *, owner_id: str, room_id: str, url: str, events: list[str], secret: str | None
    ) -> Stamped[Webhook]:
        """Adds a webhook to a room (its URL checked: no private targets unless allowed)."""
        async with self.db() as session:
            await owned_room(session, room_id, owner_id)
        try:
            await url_safety.check_url(url, allow_private=self.allow_private)
        except url_safety.UnsafeUrl as exc:
            raise ValidationFailed(details={"url": [str(exc)]}) from None
        async with self.db.begin() as session:
            await owned_room(session, room_id, owner_id, lock=True)  # the count below holds
            count = len(
                (await session.scalars(select(Webhook.id).where(Webhook.room_id == room_id))).all()
            )
            if count >= MAX_WEBHOOKS_PER_ROOM:
                raise ValidationFailed(
                    details={"webhooks": [f"A room has at most {MAX_WEBHOOKS_PER_ROOM} webhooks."]}
                )
            now = self.clock.now_ms()
            hook = Webhook(
                id=str(uuid.uuid4()),
                room_id=room_id,
                url=url,
                events=",".join(dict.fromkeys(events)),  # once each, in the order given
                secret=secret or secrets.token_urlsafe(32),
                created_at=now,
            )
            session.add(hook)
        return Stamped(hook, now)

    async def list_for_room(self, *, owner_id: str, room_id: str) -> Stamped[list[Webhook]]:
        """The room's webhooks, oldest first."""
        async with self.db() as session:
            await owned_room(session, room_id, owner_id)
            hooks = await session.scalars(
                select(Webhook)
                .where(Webhook.room_id == room_id)
                .order_by(Webhook.created_at, Webhook.id)
            )
            return Stamped(list(hooks), self.clock.now_ms())

    async def delete(self, *, owner_id: str, webhook_id: str) -> None:
        """Deletes a webhook, its log and what it had still to send."""
        async with self.db.begin() as session:
            hook = await owned_webhook(session, webhook_id, owner_id)
            await session.execute(delete(Delivery).where(Delivery.webhook_id == hook.id))
            await session.delete(hook)

    async def deliveries(self, *, owner_id: str, webhook_id: str) -> Stamped[list[Delivery]]:
        """The webhook's last 100 deliveries, newest first."""
        async with self.db() as session:
            await owned_webhook(session, webhook_id, owner_id)
            rows = await session.scalars(
                select(Delivery)
                .where(Delivery.webhook_id == webhook_id)
                .order_by(Delivery.created_at.desc(), Delivery.id.desc())
                .limit(LOG_SIZE)
            )
            return Stamped(list(rows), self.clock.now_ms())
