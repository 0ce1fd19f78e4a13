"""Per-client rate limits on the HTTP API (memory, or Redis shared by every worker)."""

import math
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.strategies import FixedWindowRateLimiter, RateLimiter
from limits.storage import storage_from_string

from roomtimer import keys
from roomtimer.config import Settings
from roomtimer.errors import RateLimited
from roomtimer.middleware.client_ip import client_address


def create_limiter(settings: Settings) -> RateLimiter:
    """A fixed-window limiter on Redis when configured, else in memory."""
    if settings.redis_url:
        uri = "async+" + settings.redis_url
        storage = storage_from_string(uri, implementation="redispy", key_prefix="roomtimer-rl")
    else:
        storage = storage_from_string("async+memory://")
    return FixedWindowRateLimiter(storage)  # type: ignore[arg-type]


def rate_item(settings: Settings) -> RateLimitItem:
    """RATE_LIMIT_MAX_REQUESTS per RATE_LIMIT_WINDOW_MS (rounded up to whole seconds)."""
    window_s = max(1, math.ceil(settings.rate_limit_window_ms / 1000))
    return RateLimitItemPerSecond(settings.rate_limit_max_requests, window_s)


def request_client(request: web.Request) -> str:
    """The client address of a request, proxies considered."""
    trusted = request.app[keys.settings].trusted_proxies
    return client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted)


def rate_limit_middleware(item: RateLimitItem) -> Middleware:
    """Refuses API requests over the limit with 429 and Retry-After."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        limiter = request.app[keys.limiter]
        client = request_client(request)
        if not await limiter.hit(item, client):
            stats = await limiter.get_window_stats(item, client)
            request.app[keys.metrics].rate_limited.inc()
            raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))
        return await handler(request)

    return middleware
