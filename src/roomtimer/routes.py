"""Every HTTP route on one screen: how each is called and what it answers.

`setup_routes` registers this table and `schemas/openapi.py` describes it, from the same
schema objects the handlers validate with and the public shapes they answer with.
"""

from aiohttp import web

from roomtimer import keys
from roomtimer.build import package_version
from roomtimer.controllers import docs, ops, pages, rooms, streams, timers, webhooks
from roomtimer.schemas import openapi, public
from roomtimer.schemas.openapi import Operation as Op

HTML, SSE, TEXT = "text/html", "text/event-stream", "text/plain"

OPERATIONS: tuple[Op, ...] = (
    Op("GET", "/health", ops.health, "Dependencies", reply=public.HealthPublic, errors=(503,)),
    Op("GET", "/health/live", ops.live, "The process serves", reply=public.LivePublic),
    Op("GET", "/health/ready", ops.ready, "Can take commands", reply=public.HealthPublic, errors=(503,)),
    Op("GET", "/metrics", ops.metrics, "Prometheus metrics", content=TEXT),
    Op("GET", "/api/openapi.json", docs.openapi, "This document", content="application/json"),
    Op("GET", "/api/docs", docs.docs, "This document, to read", content=HTML, document=False),
    Op("GET", "/api/stats/socket", ops.socket_stats, "Sockets and storage", "token", reply=public.SocketStatsPublic),
    Op("GET", "/api/rooms", rooms.list_rooms, "Own rooms, a page at a time", "token", query=rooms.room_page, reply=public.RoomList),
    Op("POST", "/api/rooms", rooms.create_room, "Create a room", "token", body=rooms.room_create, reply=public.RoomReply, status=201),
    # One path, two meanings: GET takes a share token, PUT/DELETE a room id.
    Op("GET", "/api/rooms/{key}", rooms.room_state, "A room as viewers see it (by share token)", reply=public.RoomStatePublic, errors=(404,)),
    Op("PUT", "/api/rooms/{key}", rooms.update_room, "Rename or re-describe a room (by id)", "owner", body=rooms.room_update, reply=public.RoomReply),
    Op("DELETE", "/api/rooms/{key}", rooms.delete_room, "Delete a room (by id)", "owner", status=204),
    Op("GET", "/api/rooms/{key}/events", streams.room_events, "The room's events (by share token)", content=SSE, errors=(404,)),
    Op("POST", "/api/rooms/{id}/share-token", rooms.rotate_share_token, "Replace the share token", "owner", body=rooms.empty, body_required=False, reply=public.RoomReply),
    Op("PUT", "/api/rooms/{id}/message", rooms.set_message, "Set the screens' message", "owner", body=rooms.message_update, reply=public.RoomMessageEvent),
    Op("POST", "/api/rooms/{id}/timers", timers.create_timer, "Add a timer", "owner", body=timers.timer_create, reply=public.TimerEvent, status=201),
    Op("PUT", "/api/timers/{id}", timers.update_timer, "Change a timer", "owner", body=timers.timer_update, reply=public.TimerEvent),
    Op("DELETE", "/api/timers/{id}", timers.delete_timer, "Delete a timer", "owner", status=204),
    *(
        Op("POST", f"/api/timers/{{id}}/{name}", timers.timer_command(name), f"{name.capitalize()} a timer", "owner", body=timers.empty, body_required=False, reply=public.TimerEvent, errors=(409,))
        for name in ("start", "pause", "reset")
    ),
    Op("POST", "/api/timers/{id}/adjust", timers.timer_command("adjust"), "Add or take time", "owner", body=timers.timer_adjust, reply=public.TimerEvent, errors=(409,)),
    Op("POST", "/api/rooms/{id}/webhooks", webhooks.create_webhook, "Register a webhook (its secret shown once)", "owner", body=webhooks.webhook_create, reply=public.WebhookCreated, status=201),
    Op("GET", "/api/rooms/{id}/webhooks", webhooks.list_webhooks, "A room's webhooks", "owner", reply=public.WebhookList),
    Op("DELETE", "/api/webhooks/{id}", webhooks.delete_webhook, "Delete a webhook", "owner", status=204),
    Op("GET", "/api/webhooks/{id}/deliveries", webhooks.list_deliveries, "A webhook's last 100 deliveries", "owner", reply=public.DeliveryList),
    Op("GET", "/v/{shareToken}", pages.viewer, "The viewer screen", content=HTML, document=False),
    Op("GET", "/static/{version}/{path:.+}", pages.static, "The pages' files", document=False),
)  # fmt: skip


def setup_routes(app: web.Application) -> None:
    """Registers every operation (Socket.IO attaches its own `/socket.io/`) and the document."""
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, op.handler)
    app[keys.openapi] = openapi.document(OPERATIONS, package_version())
