"""Request ids, access logs without secrets, and request metrics."""

import re
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler
from loguru import logger

from roomtimer import keys
from roomtimer.logs import SECRET_PARAMS, request_context

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def route_name(request: web.Request) -> str:
    """The route template (never the raw path: share tokens are capabilities)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _routed(request: web.Request) -> bool:
    return request.match_info.http_exception is None


@web.middleware
async def observability_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tags the request with an id, logs it once, counts it."""
    if request.path.startswith("/socket.io/"):  # its long-polls would skew every figure
        if request.headers.get("Upgrade", "").lower() == "websocket" and _routed(request):
            # A websocket lives as long as its viewer, and so do the frames of the
            # middlewares it passes through: the inner ones all let /socket.io/ by, and
            # past its 101 none could answer anyway. ~0.8 KB a viewer.
            return await request.match_info.handler(request)
        return await handler(request)
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[keys.request_id] = request_id
    started = time.perf_counter()
    status = 500
    route = route_name(request)
    with request_context(request_id, route, _capabilities(request)):
        try:
            response = await handler(request)
            status = response.status
            response.headers["X-Request-Id"] = request_id
            return response
        finally:
            elapsed = time.perf_counter() - started
            metrics = request.app[keys.metrics]
            metrics.http_requests.labels(request.method, route, str(status)).inc()
            metrics.http_latency.labels(request.method, route).observe(elapsed)
            logger.bind(
                request_id=request_id,
                route=route,
                method=request.method,
                status=status,
                duration_ms=round(elapsed * 1000, 1),
            ).info("{} {} {} {:.1f}ms", request.method, route, status, elapsed * 1000)


def _capabilities(request: web.Request) -> list[str]:
    """What this request carries that grants access: masked in every record it writes."""
    found = [request.match_info.get(name, "") for name in SECRET_PARAMS]
    _, _, credential = request.headers.get("Authorization", "").partition(" ")
    return [*found, credential.strip()]
