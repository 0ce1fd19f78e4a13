"""HTTP handlers of the pages (`web/`): the viewer screen and its static files."""

import hashlib
import html
import json
from functools import cache
from pathlib import Path
from string import Template

from aiohttp import web

from roomtimer.controllers.parsing import shared_room
from roomtimer.errors import NotFound, RateLimited
from roomtimer.middleware.security import page_headers

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"
# Types set here, not guessed: module scripts need a JavaScript type, and the host's
# mimetypes table may not know woff2.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@cache
def asset_version() -> str:
    """A digest of every static file: in asset URLs, so a new release is never served stale."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES_DIR / name).read_text(encoding="utf-8"))


def _script_json(value: object) -> str:
    """JSON safe inside a `<script type="application/json">` block."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page(
    request: web.Request,
    name: str,
    status: int = 200,
    csp: str | None = None,
    extra_headers: dict[str, str] | None = None,
    **fields: str,
) -> web.Response:
    """A page of web/templates, with its static files' versioned URL and its CSP."""
    body = _template(name).substitute(static=f"/static/{asset_version()}", **fields)
    headers = {**page_headers(request, csp), **(extra_headers or {})}
    return web.Response(text=body, status=status, content_type="text/html", headers=headers)


def not_found_page(request: web.Request) -> web.Response:
    """The friendly 404 page of an unknown or revoked share token."""
    return page(request, "not_found.html", 404)


async def viewer(request: web.Request) -> web.Response:
    """GET /v/{shareToken}: the viewer screen of a room (a 404 page for an unknown token)."""
    token = request.match_info["shareToken"]
    if not token.isprintable() or len(token) > 512:
        return not_found_page(request)
    # The viewers' own lookup (one coalesced query for a crowd joining at once).
    try:
        room = await shared_room(request, token)
    except NotFound:
        return not_found_page(request)
    except RateLimited as exc:
        retry = str(exc.retry_after_s)
        headers = {"Retry-After": retry}
        return page(request, "rate_limited.html", 429, extra_headers=headers, retry=retry)
    # Set here rather than by the script, so an overlay never flashes an opaque first frame.
    transparent = request.query.get("transparent", "") in ("1", "true")
    return page(
        request,
        "viewer.html",
        title=html.escape(room.name),
        config=_script_json({"shareToken": token}),
        html_class="transparent" if transparent else "",
    )


async def static(request: web.Request) -> web.FileResponse:
    """GET /static/{version}/{path}: a file of web/static, cached for good when current."""
    relative = request.match_info["path"]
    path = (STATIC_DIR / relative).resolve()
    content_type = CONTENT_TYPES.get(path.suffix)
    if not path.is_relative_to(STATIC_DIR) or not path.is_file() or content_type is None:
        raise NotFound("No such file")
    current = request.match_info["version"] == asset_version()
    headers = {
        "Cache-Control": IMMUTABLE if current else "no-cache",
        "Content-Type": content_type,
        # Fonts and scripts are fetched in CORS mode by some browsers; same origin only.
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    return web.FileResponse(path, headers=headers)
