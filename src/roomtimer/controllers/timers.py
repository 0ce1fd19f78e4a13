"""HTTP handlers of timers."""

from aiohttp import web
from aiohttp.typedefs import Handler

from roomtimer import keys
from roomtimer.controllers.parsing import load_owned, path_key
from roomtimer.middleware.auth import require_owner
from roomtimer.render import json_response
from roomtimer.schemas import public, requests

timer_create = requests.TimerCreate()
timer_update = requests.TimerUpdate()
timer_adjust = requests.TimerAdjust()
empty = requests.Empty()


async def create_timer(request: web.Request) -> web.Response:
    """POST /api/rooms/{roomId}/timers"""
    owner = require_owner(request)
    room_id = path_key(request, "id")
    rooms = request.app[keys.rooms]
    body = await load_owned(
        request, timer_create, lambda: rooms.check_owner(owner_id=owner, room_id=room_id)
    )
    timer = await request.app[keys.timers].create(
        owner_id=owner,
        room_id=room_id,
        label=body["label"],
        duration_ms=body["duration_ms"],
        position=body.get("position"),
        warn_at_ms=body.get("warn_at_ms"),
        danger_at_ms=body.get("danger_at_ms"),
    )
    return json_response(public.timer_event(timer.value, timer.at), 201)


async def update_timer(request: web.Request) -> web.Response:
    """PUT /api/timers/{id}"""
    owner = require_owner(request)
    timer_id = path_key(request, "id")
    service = request.app[keys.timers]
    changes = await load_owned(
        request, timer_update, lambda: service.check_owner(owner_id=owner, timer_id=timer_id)
    )
    timer = await service.update(owner_id=owner, timer_id=timer_id, changes=changes)
    return json_response(public.timer_event(timer.value, timer.at))


async def delete_timer(request: web.Request) -> web.Response:
    """DELETE /api/timers/{id}"""
    owner = require_owner(request)
    await request.app[keys.timers].delete(owner_id=owner, timer_id=path_key(request, "id"))
    return web.Response(status=204)


def timer_command(name: str) -> Handler:
    """The handler of POST /api/timers/{id}/<name> (start, pause, reset or adjust)."""
    schema = timer_adjust if name == "adjust" else empty

    async def command(request: web.Request) -> web.Response:
        owner = require_owner(request)
        timer_id = path_key(request, "id")
        service = request.app[keys.timers]
        body = await load_owned(
            request, schema, lambda: service.check_owner(owner_id=owner, timer_id=timer_id)
        )
        timer = await service.command(
            owner_id=owner, timer_id=timer_id, name=name, delta_ms=body.get("delta_ms")
        )
        return json_response(public.timer_event(timer.value, timer.at))

    command.__name__ = f"{name}_timer"
    command.__doc__ = f"POST /api/timers/{{id}}/{name}"
    return command
