"""The application factory: builds everything, opens nothing until startup."""

from collections.abc import AsyncIterator
from functools import partial

import aiohttp_cors
from aiohttp import web
from loguru import logger
from redis.asyncio import Redis

from roomtimer import keys
from roomtimer.clock import Clock, SystemClock
from roomtimer.config import Settings
from roomtimer.controllers.sockets import ViewerNamespace
from roomtimer.events.bus import EventBus
from roomtimer.events.relay import RedisRelay
from roomtimer.events.streams import RoomStreams
from roomtimer.infra import db as database
from roomtimer.infra import tokens
from roomtimer.infra.cluster import ClusterCounts
from roomtimer.infra.metrics import Metrics
from roomtimer.infra.webhook_sender import WebhookSender
from roomtimer.middleware.body import body_middleware
from roomtimer.middleware.client_ip import handshake_address
from roomtimer.middleware.errors import errors_middleware
from roomtimer.middleware.idempotency import idempotency_middleware
from roomtimer.middleware.observability import observability_middleware
from roomtimer.middleware.ratelimit import create_limiter, rate_item, rate_limit_middleware
from roomtimer.middleware.security import add_security_headers
from roomtimer.realtime import http_errors
from roomtimer.realtime.control import ControlSockets
from roomtimer.realtime.rooms import SocketRooms
from roomtimer.realtime.server import choose_path, close_all_sockets, create_socket_server
from roomtimer.routes import setup_routes
from roomtimer.services.deliveries import DeliveryWorker
from roomtimer.services.idempotency import IdempotencyStore
from roomtimer.services.outbox import Outbox
from roomtimer.services.presence import Presence
from roomtimer.services.rooms import RoomService
from roomtimer.services.scheduler import Scheduler
from roomtimer.services.share_tokens import ShareTokens
from roomtimer.services.timers import TimerService
from roomtimer.services.webhooks import WebhookService


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """The roomtimer application for `settings`."""
    http_errors.install()  # what aiohttp answers by itself, in the contract's shape
    app = web.Application(
        middlewares=[
            observability_middleware,
            errors_middleware,
            rate_limit_middleware(rate_item(settings)),
            body_middleware,
            idempotency_middleware,
        ]
    )
    app[keys.settings] = settings
    app[keys.clock] = clock = clock or SystemClock()
    app[keys.metrics] = metrics = Metrics()
    _setup_event_path(app)
    engine = database.create_engine(settings.database_url, settings.database_timeout_s)
    app[keys.engine] = engine
    app[keys.db] = db = database.session_factory(engine)
    bus, presence = app[keys.bus], app[keys.presence]
    app[keys.outbox] = outbox = Outbox()
    app[keys.scheduler] = scheduler = Scheduler(db, clock, bus, metrics, outbox)
    app[keys.rooms] = rooms = RoomService(db, clock, bus, presence, outbox)
    app[keys.share_tokens] = ShareTokens(rooms, settings.share_token_max_misses)
    app[keys.timers] = TimerService(db, clock, bus, scheduler, outbox)
    _setup_integrations(app)
    _setup_namespace(app)
    setup_routes(app)
    _setup_cors(app, settings)
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.extend(
        [
            _database,
            _redis,
            _limiter,
            _relay,
            _cluster,
            _presence,
            _scheduler,
            _webhook_deliveries,
            _idempotency_cleanup,
            _announce_path,
        ]
    )
    app.on_shutdown.extend([_end_streams, _close_sockets])
    return app


def _setup_event_path(app: web.Application) -> None:
    """The bus, its first output (this worker's Socket.IO rooms), and its relay to the others."""
    settings, metrics = app[keys.settings], app[keys.metrics]
    path = choose_path(settings)
    app[keys.serving_path] = path
    metrics.fast_path.set(1 if path.fast else 0)
    sio = create_socket_server(
        settings, path, on_drop=lambda sid: metrics.slow_consumer_drops.inc()
    )
    sio.attach(app)
    app[keys.sio] = sio
    app[keys.socket_rooms] = sockets = SocketRooms(sio)
    app[keys.room_streams] = streams = RoomStreams()
    app[keys.bus] = bus = EventBus(metrics)
    bus.subscribe(sockets)
    bus.subscribe(streams)
    if settings.redis_url:
        app[keys.relay] = bus.relay = RedisRelay(settings.redis_url, bus)
    app[keys.presence] = Presence(bus, app[keys.clock], sockets)


def _setup_namespace(app: web.Application) -> None:
    """Viewers and owners' control sockets share the default namespace; the control
    sockets are an output of the bus too."""
    rooms, share_tokens = app[keys.rooms], app[keys.share_tokens]
    app[keys.control_sockets] = control = ControlSockets(app[keys.sio], rooms.owner_of)
    app[keys.bus].subscribe(control)
    settings = app[keys.settings]
    verify = partial(tokens.verify, settings.jwt_secret)
    sockets, presence, clock = app[keys.socket_rooms], app[keys.presence], app[keys.clock]
    namespace = ViewerNamespace(
        rooms,
        share_tokens,
        presence,
        sockets,
        control,
        verify,
        clock,
        address_of=partial(handshake_address, settings.trusted_proxies),
        max_rooms=settings.socket_max_rooms,
        max_per_address=settings.socket_max_per_address,
        flood_penalty_s=settings.socket_flood_penalty_s,
    )
    app[keys.sio].register_namespace(namespace)


def _setup_integrations(app: web.Application) -> None:
    """Webhooks (use cases, sender, delivery worker) and idempotency keys."""
    settings, clock, db = app[keys.settings], app[keys.clock], app[keys.db]
    allow_private = settings.webhook_allow_private
    app[keys.webhooks] = WebhookService(db, clock, allow_private=allow_private)
    app[keys.webhook_sender] = sender = WebhookSender(allow_private=allow_private)
    app[keys.deliveries] = worker = DeliveryWorker(db, clock, sender, app[keys.metrics])
    app[keys.outbox].on_recorded = worker.wake
    app[keys.idempotency] = IdempotencyStore(db, clock)


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
    database.ensure_folder(app[keys.settings].database_url)
    yield
    await app[keys.engine].dispose()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    """The shared client of health checks and cluster counts."""
    url = app[keys.settings].redis_url
    if not url:
        yield
        return
    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    app[keys.redis] = client
    yield
    await client.aclose()


async def _limiter(app: web.Application) -> AsyncIterator[None]:
    app[keys.limiter] = limiter = create_limiter(app[keys.settings])
    app[keys.share_tokens].limiter = limiter
    yield
    await limiter.aclose()


async def _relay(app: web.Application) -> AsyncIterator[None]:
    """Room events to and from the other workers; their state resent after a Redis outage."""
    relay = app.get(keys.relay)
    if relay is None:
        yield
        return
    rooms, sockets = app[keys.rooms], app[keys.socket_rooms]

    async def resync() -> None:
        await rooms.resync_here(sockets.rooms())

    relay.on_reconnect = resync
    relay.start()
    yield
    await relay.aclose()


async def _cluster(app: web.Application) -> AsyncIterator[None]:
    """With Redis: one set of counts across workers, and one `user-count` pace."""
    redis = app.get(keys.redis)
    if redis is None:
        yield
        return
    presence = app[keys.presence]
    counts = ClusterCounts(redis, app[keys.socket_rooms], interval_ms=presence.interval_ms)
    counts.on_change = presence.recount
    presence.shared = counts
    counts.start()
    yield
    await counts.stop()


async def _presence(app: web.Application) -> AsyncIterator[None]:
    yield
    app[keys.presence].close()


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    scheduler = app[keys.scheduler]
    try:
        await scheduler.finish_due()  # deadlines that passed while no worker ran, before serving
    except Exception as exc:
        if not database.is_unavailable(exc):
            raise
        # Read-only or locked: serve the reads; the loop finishes them once writes work.
        logger.warning("overdue timers not finished yet ({})", type(exc).__name__)
    scheduler.start()
    yield
    await scheduler.stop()


async def _webhook_deliveries(app: web.Application) -> AsyncIterator[None]:
    """The sender's client session and this worker's delivery loop."""
    sender, worker = app[keys.webhook_sender], app[keys.deliveries]
    await sender.open()
    worker.start()
    yield
    await worker.stop()
    await sender.close()


async def _idempotency_cleanup(app: web.Application) -> AsyncIterator[None]:
    """Deletes expired idempotency keys now and then."""
    store = app[keys.idempotency]
    store.start()
    yield
    await store.stop()


async def _announce_path(app: web.Application) -> AsyncIterator[None]:
    path = app[keys.serving_path]
    name = "fast path" if path.fast else "stock python-socketio path"
    logger.info("Socket.IO delivery: {} ({})", name, path.reason)
    yield


async def _end_streams(app: web.Application) -> None:
    """On SIGTERM/SIGINT: end every event stream (clients reconnect, to another worker)."""
    app[keys.room_streams].end_all()


async def _close_sockets(app: web.Application) -> None:
    """On SIGTERM/SIGINT: close every viewer's connection at once (they reconnect elsewhere)."""
    await close_all_sockets(app[keys.sio])
