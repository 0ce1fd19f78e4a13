"""Every HTTP route, on one screen."""

from aiohttp import web

from roomtimer.controllers import ops, rooms, timers, webhooks


def setup_routes(app: web.Application) -> None:
    """Registers the HTTP API (Socket.IO attaches its own `/socket.io/`)."""
    r = app.router
    r.add_get("/health", ops.health)
    r.add_get("/metrics", ops.metrics)
    r.add_get("/api/stats/socket", ops.socket_stats)
    r.add_get("/api/rooms", rooms.list_rooms)
    r.add_post("/api/rooms", rooms.create_room)
    # One path, two meanings: GET takes a share token, PUT/DELETE a room id.
    r.add_get("/api/rooms/{key}", rooms.room_state)
    r.add_put("/api/rooms/{key}", rooms.update_room)
    r.add_delete("/api/rooms/{key}", rooms.delete_room)
    r.add_post("/api/rooms/{id}/share-token", rooms.rotate_share_token)
    r.add_put("/api/rooms/{id}/message", rooms.set_message)
    r.add_post("/api/rooms/{id}/timers", timers.create_timer)
    r.add_put("/api/timers/{id}", timers.update_timer)
    r.add_delete("/api/timers/{id}", timers.delete_timer)
    r.add_post("/api/timers/{id}/{command:start|pause|reset|adjust}", timers.timer_command)
    r.add_post("/api/rooms/{id}/webhooks", webhooks.create_webhook)
    r.add_get("/api/rooms/{id}/webhooks", webhooks.list_webhooks)
    r.add_delete("/api/webhooks/{id}", webhooks.delete_webhook)
    r.add_get("/api/webhooks/{id}/deliveries", webhooks.list_deliveries)
