"""Per-client rate limits on the HTTP API (memory, or Redis shared by every worker)."""

import math

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from limits import RateLimitItem, RateLimitItemPerSecond

from roomtimer import keys
from roomtimer.config import Settings
from roomtimer.errors import RateLimited
from roomtimer.infra.ratelimit import Limiter
from roomtimer.middleware.client_ip import client_address


def create_limiter(settings: Settings) -> Limiter:
    """The limiter for `settings`: shared through Redis when REDIS_URL is set."""
    return Limiter(settings.redis_url)


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
        verdict = await limiter.hit(item, client)
        if not verdict.allowed:
            request.app[keys.metrics].rate_limited.inc()
            raise RateLimited(verdict.retry_after_s)
        return await handler(request)

    return middleware
