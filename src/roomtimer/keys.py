"""Every typed key of the application and of requests, in one place."""

from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from roomtimer.clock import Clock
from roomtimer.config import Settings
from roomtimer.events.bus import EventBus
from roomtimer.events.relay import RedisRelay
from roomtimer.events.streams import RoomStreams
from roomtimer.infra.metrics import Metrics
from roomtimer.infra.ratelimit import Limiter
from roomtimer.infra.webhook_sender import WebhookSender
from roomtimer.realtime.control import ControlSockets
from roomtimer.realtime.rooms import SocketRooms
from roomtimer.realtime.server import RoomtimerServer, ServingPath
from roomtimer.services.deliveries import DeliveryWorker
from roomtimer.services.idempotency import IdempotencyStore
from roomtimer.services.outbox import Outbox
from roomtimer.services.presence import Presence
from roomtimer.services.rooms import RoomService
from roomtimer.services.scheduler import Scheduler
from roomtimer.services.share_tokens import ShareTokens
from roomtimer.services.timers import TimerService
from roomtimer.services.webhooks import WebhookService

settings = web.AppKey("settings", Settings)
clock = web.AppKey("clock", Clock)
metrics = web.AppKey("metrics", Metrics)
serving_path = web.AppKey("serving_path", ServingPath)
sio = web.AppKey("sio", RoomtimerServer)
socket_rooms = web.AppKey("socket_rooms", SocketRooms)
room_streams = web.AppKey("room_streams", RoomStreams)
control_sockets = web.AppKey("control_sockets", ControlSockets)
bus = web.AppKey("bus", EventBus)
relay = web.AppKey("relay", RedisRelay)
presence = web.AppKey("presence", Presence)
engine = web.AppKey("engine", AsyncEngine)
db = web.AppKey("db", async_sessionmaker[AsyncSession])
redis = web.AppKey("redis", Redis)
limiter = web.AppKey("limiter", Limiter)
scheduler = web.AppKey("scheduler", Scheduler)
rooms = web.AppKey("rooms", RoomService)
share_tokens = web.AppKey("share_tokens", ShareTokens)
timers = web.AppKey("timers", TimerService)
outbox = web.AppKey("outbox", Outbox)
webhooks = web.AppKey("webhooks", WebhookService)
webhook_sender = web.AppKey("webhook_sender", WebhookSender)
deliveries = web.AppKey("deliveries", DeliveryWorker)
idempotency = web.AppKey("idempotency", IdempotencyStore)

openapi = web.AppKey("openapi", dict[str, Any])

raw_body = web.RequestKey("raw_body", bytes)
request_id = web.RequestKey("request_id", str)
