"""Webhooks, their delivery log, and the body a delivery POSTs."""

from typing import NotRequired, TypedDict

from roomtimer.models.tables import Delivery, Webhook
from roomtimer.schemas.public.common import TimerLike, _iso_or_none, iso
from roomtimer.schemas.public.rooms import RoomInfo
from roomtimer.schemas.public.timers import TimerPublic, timer_public


class WebhookPublic(TypedDict):
    """A webhook as GET /api/rooms/{id}/webhooks lists it (never its secret)."""

    id: str
    roomId: str
    url: str
    events: list[str]
    createdAt: str


class WebhookCreated(WebhookPublic):
    """POST /api/rooms/{id}/webhooks: the only answer that shows the secret."""

    secret: str
    serverTime: int


class WebhookList(TypedDict):
    webhooks: list[WebhookPublic]
    serverTime: int


class DeliveryPublic(TypedDict):
    """One delivery in GET /api/webhooks/{id}/deliveries."""

    id: str
    event: str
    status: str
    attempts: int
    responseStatus: int | None
    lastError: str | None
    createdAt: str
    deliveredAt: str | None
    nextAttemptAt: str | None


class DeliveryList(TypedDict):
    deliveries: list[DeliveryPublic]
    serverTime: int


class WebhookBody(TypedDict):
    """What a webhook delivery POSTs (signed as sent)."""

    id: str
    event: str
    roomId: str
    timer: NotRequired[TimerPublic]
    room: NotRequired[RoomInfo]
    occurredAt: int
    serverTime: int


def webhook_public(hook: Webhook) -> WebhookPublic:
    """A webhook without its secret."""
    return {
        "id": hook.id,
        "roomId": hook.room_id,
        "url": hook.url,
        "events": hook.events.split(","),
        "createdAt": iso(hook.created_at),
    }


def webhook_created(hook: Webhook, now: int) -> WebhookCreated:
    """The reply of POST /api/rooms/{id}/webhooks, with the secret."""
    return {**webhook_public(hook), "secret": hook.secret, "serverTime": now}  # type: ignore[typeddict-item]


def webhook_list(hooks: list[Webhook], now: int) -> WebhookList:
    """GET /api/rooms/{id}/webhooks."""
    return {"webhooks": [webhook_public(h) for h in hooks], "serverTime": now}


def delivery_public(row: Delivery) -> DeliveryPublic:
    """One delivery of the log (target and secret stay inside)."""
    return {
        "id": row.id,
        "event": row.event,
        "status": row.status,
        "attempts": row.attempts,
        "responseStatus": row.response_status,
        "lastError": row.last_error,
        "createdAt": iso(row.created_at),
        "deliveredAt": _iso_or_none(row.delivered_at),
        "nextAttemptAt": _iso_or_none(row.next_attempt_at),
    }


def delivery_list(rows: list[Delivery], now: int) -> DeliveryList:
    """GET /api/webhooks/{id}/deliveries: newest first."""
    return {"deliveries": [delivery_public(r) for r in rows], "serverTime": now}


def webhook_body(
    delivery_id: str,
    event: str,
    room_id: str,
    now: int,
    timer: TimerLike | None = None,
    room: RoomInfo | None = None,
) -> WebhookBody:
    """A delivery's JSON: the timer (exact at `now`) for timer events, the room for room.updated."""
    body: WebhookBody = {
        "id": delivery_id,
        "event": event,
        "roomId": room_id,
        "occurredAt": now,
        "serverTime": now,
    }
    if timer is not None:
        body["timer"] = timer_public(timer, now)
    if room is not None:
        body["room"] = room
    return body
