"""The application factory: builds everything, opens nothing until startup."""

import asyncio
from collections.abc import AsyncIterator

import aiohttp_cors
from aiohttp import web
from redis.asyncio import Redis

from roomtimer import keys
from roomtimer.clock import Clock, SystemClock
from roomtimer.config import Settings
from roomtimer.controllers.socket_server import create_socket_server
from roomtimer.controllers.sockets import ViewerNamespace
from roomtimer.middleware.body import body_middleware
from roomtimer.middleware.errors import errors_middleware
from roomtimer.middleware.observability import observability_middleware
from roomtimer.middleware.ratelimit import create_limiter, rate_item, rate_limit_middleware
from roomtimer.middleware.security import add_security_headers
from roomtimer.routes import setup_routes
from roomtimer.services import db as database
from roomtimer.services.broadcast import Broadcaster
from roomtimer.services.cluster import ClusterCounts, ClusterGate, ResilientRedisManager
from roomtimer.services.fanout import FastAsyncManager
from roomtimer.services.metrics import Metrics
from roomtimer.services.presence import Presence
from roomtimer.services.rooms import RoomService
from roomtimer.services.scheduler import Scheduler
from roomtimer.services.timers import TimerService


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """The roomtimer application for `settings`."""
    app = web.Application(
        middlewares=[
            observability_middleware,
            errors_middleware,
            rate_limit_middleware(rate_item(settings)),
            body_middleware,
        ]
    )
    app[keys.settings] = settings
    app[keys.clock] = clock or SystemClock()
    app[keys.metrics] = Metrics()
    sio = create_socket_server(settings, _client_manager(settings, app[keys.metrics]))
    sio.attach(app)
    app[keys.sio] = sio
    app[keys.broadcaster] = Broadcaster(sio, app[keys.metrics])
    app[keys.presence] = Presence(app[keys.broadcaster], app[keys.clock])
    setup_routes(app)
    _setup_cors(app, settings)
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.extend([_database, _redis, _limiter, _services, _cluster])
    app.on_shutdown.append(_close_sockets)
    return app


def _client_manager(settings: Settings, metrics: Metrics) -> FastAsyncManager:
    """The one place broadcasts leave: shared frames, and Redis when configured."""

    def dropped(sid: str) -> None:
        metrics.slow_consumer_drops.inc()

    if settings.redis_url:
        return ResilientRedisManager(settings.redis_url, on_drop=dropped)
    return FastAsyncManager(on_drop=dropped)


def _setup_cors(app: web.Application, settings: Settings) -> None:
    if not settings.cors_origins:
        return
    options = aiohttp_cors.ResourceOptions(
        allow_credentials=False, expose_headers="*", allow_headers="*", allow_methods="*"
    )
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in settings.cors_origins})
    for route in list(app.router.routes()):
        if not route.resource or not route.resource.canonical.startswith("/socket.io"):
            cors.add(route)


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = database.create_engine(app[keys.settings].database_url)
    app[keys.engine] = engine
    app[keys.db] = database.session_factory(engine)
    yield
    await engine.dispose()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    url = app[keys.settings].redis_url
    if not url:
        yield
        return
    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    app[keys.redis] = client
    yield
    await client.aclose()


async def _limiter(app: web.Application) -> AsyncIterator[None]:
    app[keys.limiter] = create_limiter(app[keys.settings])
    yield


async def _services(app: web.Application) -> AsyncIterator[None]:
    db, clock, broadcaster = app[keys.db], app[keys.clock], app[keys.broadcaster]
    scheduler = Scheduler(db, clock, broadcaster, app[keys.metrics])
    app[keys.scheduler] = scheduler
    app[keys.rooms] = RoomService(db, clock, broadcaster, app[keys.presence])
    app[keys.timers] = TimerService(db, clock, broadcaster, scheduler)
    app[keys.sio].register_namespace(
        ViewerNamespace(app[keys.rooms], app[keys.presence], broadcaster, clock)
    )
    await scheduler.finish_due()  # deadlines that passed while no worker ran, before serving
    scheduler.start()
    yield
    await scheduler.stop()
    app[keys.presence].close()


async def _cluster(app: web.Application) -> AsyncIterator[None]:
    """With Redis: counts across workers, one `user-count` pace, resync after outages."""
    redis = app.get(keys.redis)
    if redis is None:
        yield
        return
    presence, rooms = app[keys.presence], app[keys.rooms]
    counts = ClusterCounts(redis, app[keys.broadcaster])
    counts.on_change = presence.changed
    presence.counts = counts
    presence.gate = ClusterGate(redis, presence.interval_ms)
    manager = app[keys.sio].manager
    if isinstance(manager, ResilientRedisManager):
        manager.on_reconnect = rooms.resync_local_rooms
    counts.start()
    yield
    await counts.stop()
    if isinstance(manager, ResilientRedisManager):
        await manager.aclose()


async def _close_sockets(app: web.Application) -> None:
    """On SIGTERM/SIGINT: close every viewer's connection at once.

    The Engine.IO connection is closed, not the Socket.IO namespace, so clients treat it
    as a lost transport and reconnect by themselves (behind Nginx, to another worker).
    """
    sio = app[keys.sio]
    sockets = list(sio.eio.sockets.values())
    reason = sio.eio.reason.SERVER_DISCONNECT
    await asyncio.gather(
        *(socket.close(wait=False, reason=reason) for socket in sockets), return_exceptions=True
    )
    for socket in sockets:
        socket.queue.put_nowait(None)  # a websocket writer sends the close, then ends
    await sio.shutdown()
