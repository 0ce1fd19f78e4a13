"""Security headers on every response, websocket upgrades included; pages get their own CSP."""

import re

from aiohttp import web

from roomtimer.render import API_HEADERS, SERVER

# A Host header that can only name a host (and port): anything else is left out of the CSP.
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def page_csp(host: str | None) -> str:
    """The CSP of a roomtimer page: its own scripts, styles, fonts and Socket.IO, nothing else.

    `'self'` covers ws/wss of the same origin only in CSP Level 3 browsers, so the page's
    own host is also named with both websocket schemes.
    """
    connect = ["'self'"]
    if host and _HOST.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "font-src 'self'",
            "img-src 'self'",
            f"connect-src {' '.join(connect)}",
            "base-uri 'none'",
            "form-action 'none'",
            # A control page may show the screen in a frame; nobody else may.
            "frame-ancestors 'self'",
        ]
    )


# Swagger UI (GET /api/docs) draws its icons from data: URIs and fetches the document and
# "try it out" requests from this origin; it runs no inline script.
DOCS_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def page_headers(request: web.Request, csp: str | None = None) -> dict[str, str]:
    """Headers of an HTML page: its CSP, same-origin framing, never cached (state is live)."""
    return {
        "Content-Security-Policy": csp or page_csp(request.host),
        "X-Frame-Options": "SAMEORIGIN",
        "Cache-Control": "no-store",
    }


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: headers that cost nothing and close common holes."""
    response.headers["Server"] = SERVER
    for name, value in API_HEADERS.items():
        response.headers.setdefault(name, value)
