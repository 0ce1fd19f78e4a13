"""HTTP handlers of rooms."""

from aiohttp import web

from roomtimer import keys
from roomtimer.controllers.parsing import load, load_owned, load_query, path_key, shared_room
from roomtimer.middleware.auth import require_owner
from roomtimer.render import json_response
from roomtimer.schemas import public, requests

room_create = requests.RoomCreate()
room_update = requests.RoomUpdate()
message_update = requests.MessageUpdate()
room_page = requests.RoomPage()
empty = requests.Empty()


async def create_room(request: web.Request) -> web.Response:
    """POST /api/rooms"""
    owner = require_owner(request)
    body = load(request, room_create)
    room = await request.app[keys.rooms].create(
        owner_id=owner, name=body["name"], description=body["description"] or ""
    )
    return json_response(public.room_reply(room.value, room.at), 201)


async def list_rooms(request: web.Request) -> web.Response:
    """GET /api/rooms"""
    owner = require_owner(request)
    query = load_query(request, room_page)
    rooms = await request.app[keys.rooms].list_owned(owner_id=owner, **query)
    return json_response(public.room_list(rooms.value, rooms.at))


async def room_state(request: web.Request) -> web.Response:
    """GET /api/rooms/{shareToken}: what viewers see."""
    room = await shared_room(request, path_key(request, "key"))
    seen = request.app[keys.rooms].audience(room)
    return json_response(public.room_state(seen.value, seen.at, seen.watchers))


async def update_room(request: web.Request) -> web.Response:
    """PUT /api/rooms/{id}"""
    owner = require_owner(request)
    room_id = path_key(request, "key")
    rooms = request.app[keys.rooms]
    changes = await load_owned(
        request, room_update, lambda: rooms.check_owner(owner_id=owner, room_id=room_id)
    )
    if "description" in changes:
        changes["description"] = changes["description"] or ""
    room = await rooms.update(owner_id=owner, room_id=room_id, changes=changes)
    return json_response(public.room_reply(room.value, room.at))


async def delete_room(request: web.Request) -> web.Response:
    """DELETE /api/rooms/{id}"""
    owner = require_owner(request)
    await request.app[keys.rooms].delete(owner_id=owner, room_id=path_key(request, "key"))
    return web.Response(status=204)


async def rotate_share_token(request: web.Request) -> web.Response:
    """POST /api/rooms/{id}/share-token"""
    owner = require_owner(request)
    room_id = path_key(request, "id")
    rooms = request.app[keys.rooms]
    await load_owned(request, empty, lambda: rooms.check_owner(owner_id=owner, room_id=room_id))
    room = await rooms.rotate_share_token(owner_id=owner, room_id=room_id)
    return json_response(public.room_reply(room.value, room.at))


async def set_message(request: web.Request) -> web.Response:
    """PUT /api/rooms/{id}/message"""
    owner = require_owner(request)
    room_id = path_key(request, "id")
    rooms = request.app[keys.rooms]
    body = await load_owned(
        request, message_update, lambda: rooms.check_owner(owner_id=owner, room_id=room_id)
    )
    room = await rooms.set_message(owner_id=owner, room_id=room_id, **body)
    return json_response(public.room_message_event(room.value, room.at))
