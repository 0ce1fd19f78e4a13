"""HTTP handlers of webhooks and their delivery logs."""

from aiohttp import web

from roomtimer import keys
from roomtimer.controllers.parsing import load_owned, path_key
from roomtimer.middleware.auth import require_owner
from roomtimer.render import json_response
from roomtimer.schemas import public, requests

webhook_create = requests.WebhookCreate()


async def create_webhook(request: web.Request) -> web.Response:
    """POST /api/rooms/{id}/webhooks"""
    owner = require_owner(request)
    room_id = path_key(request, "id")
    hooks = request.app[keys.webhooks]
    body = await load_owned(
        request, webhook_create, lambda: hooks.check_room_owner(owner_id=owner, room_id=room_id)
    )
    hook = await hooks.register(
        owner_id=owner,
        room_id=room_id,
        url=body["url"],
        events=body["events"],
        secret=body.get("secret"),
    )
    return json_response(public.webhook_created(hook.value, hook.at), 201)


async def list_webhooks(request: web.Request) -> web.Response:
    """GET /api/rooms/{id}/webhooks"""
    owner = require_owner(request)
    found = await request.app[keys.webhooks].list_for_room(
        owner_id=owner, room_id=path_key(request, "id")
    )
    return json_response(public.webhook_list(found.value, found.at))


async def delete_webhook(request: web.Request) -> web.Response:
    """DELETE /api/webhooks/{id}"""
    owner = require_owner(request)
    await request.app[keys.webhooks].delete(owner_id=owner, webhook_id=path_key(request, "id"))
    return web.Response(status=204)


async def list_deliveries(request: web.Request) -> web.Response:
    """GET /api/webhooks/{id}/deliveries: the last 100, newest first."""
    owner = require_owner(request)
    found = await request.app[keys.webhooks].deliveries(
        owner_id=owner, webhook_id=path_key(request, "id")
    )
    return json_response(public.delivery_list(found.value, found.at))
