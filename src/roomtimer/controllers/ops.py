"""Operations: health, metrics, socket statistics."""

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from roomtimer import keys
from roomtimer.infra import health as dependencies
from roomtimer.middleware.auth import require_owner
from roomtimer.render import json_response
from roomtimer.schemas import public
from roomtimer.services import stats

CHECK_TIMEOUT_S = 2.0


async def health(request: web.Request) -> web.Response:
    """GET /health: 200 when every dependency answers, else 503."""
    found = await dependencies.check_dependencies(
        request.app[keys.engine], request.app.get(keys.redis), timeout_s=CHECK_TIMEOUT_S
    )
    body = public.health(found, request.app[keys.clock].now_ms())
    return json_response(body, 200 if body["status"] == "ok" else 503)


async def live(request: web.Request) -> web.Response:
    """GET /health/live: 200 while the process serves (no dependency is asked)."""
    return json_response(public.liveness(request.app[keys.clock].now_ms()))


async def ready(request: web.Request) -> web.Response:
    """GET /health/ready: 200 while commands can be taken (the database answers).

    Redis is reported but not required: without it commands still apply and this
    worker's viewers still get them (`degraded`).
    """
    found = await dependencies.check_dependencies(
        request.app[keys.engine], request.app.get(keys.redis), timeout_s=CHECK_TIMEOUT_S
    )
    body = public.readiness(found, request.app[keys.clock].now_ms())
    return json_response(body, 503 if body["status"] == "unavailable" else 200)


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics in Prometheus text format."""
    app = request.app
    registry = app[keys.metrics]
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            counts = await stats.storage_counts(app[keys.db])
        registry.rooms.set(counts.rooms)
        registry.running_timers.set(counts.running_timers)
    except Exception:  # noqa: BLE001 - metrics must answer while the database is down
        pass
    registry.connected_sockets.set(app[keys.socket_rooms].clients())
    return web.Response(
        body=generate_latest(registry.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def socket_stats(request: web.Request) -> web.Response:
    """GET /api/stats/socket"""
    require_owner(request)
    app = request.app
    found = await stats.socket_stats(
        db=app[keys.db], presence=app[keys.presence], clock=app[keys.clock]
    )
    return json_response(public.socket_stats(found))
