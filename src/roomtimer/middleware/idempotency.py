"""`Idempotency-Key` on POST, PUT and DELETE under /api/: the first answer, replayed.

Keyed per owner (the token's `sub`); a request without a valid token is not keyed (its
handler answers 401). The first request with a key runs; a repeat within 24 hours gets
the stored status and body (and `Idempotency-Replayed: true`) and changes nothing; the
same key with another method, path or body is 422 `idempotency_conflict`. A repeat that
arrives while the first still runs waits for its answer (at most `WAIT_S`, then 503).
Only 2xx and 4xx answers are kept: after a 5xx the key is free again.
"""

import asyncio
import hashlib

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from loguru import logger
from sqlalchemy.exc import SQLAlchemyError

from roomtimer import keys
from roomtimer.errors import IdempotencyConflict, Unauthorized, Unavailable, ValidationFailed
from roomtimer.middleware.auth import require_owner
from roomtimer.middleware.errors import error_for
from roomtimer.services.idempotency import IdempotencyStore, Stored

HEADER = "Idempotency-Key"
METHODS = {"POST", "PUT", "DELETE"}
MAX_KEY_LENGTH = 100
WAIT_S = 10.0
POLL_S = 0.02


def fingerprint(request: web.Request) -> str:
    """The request's method, path and body (JSON compared by value, not by spacing)."""
    raw = request.get(keys.raw_body, b"")
    try:
        body = orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS) if raw.strip() else b""
    except orjson.JSONDecodeError:
        body = raw
    seen = f"{request.method}\n{request.rel_url.raw_path_qs}\n".encode() + body
    return hashlib.sha256(seen).hexdigest()


def _replay(stored: Stored) -> web.Response:
    headers = {"Idempotency-Replayed": "true"}
    if stored.content_type:
        headers["Content-Type"] = stored.content_type
    return web.Response(status=stored.status or 200, body=stored.body or None, headers=headers)


async def _hold_or_answer(
    store: IdempotencyStore, owner: str, key: str, print_: str
) -> Stored | None:
    """None once this request holds the key, else the stored answer to replay."""
    stored = await store.reserve(owner, key, print_)
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while stored is not None:
        if stored.fingerprint != print_:
            raise IdempotencyConflict()
        if stored.status is not None:
            return stored
        if asyncio.get_running_loop().time() > deadline:
            raise Unavailable("A request with this Idempotency-Key is still running; retry")
        await asyncio.sleep(POLL_S)
        stored = await store.find(owner, key)
        if stored is None or stored.status is None:
            stored = await store.reserve(owner, key, print_)  # freed, or its worker died
    return None


@web.middleware
async def idempotency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Runs a keyed request once per owner and key; replays its answer to repeats."""
    key = request.headers.get(HEADER)
    routed = request.match_info.http_exception is None
    if key is None or request.method not in METHODS or not routed:
        return await handler(request)
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        owner = require_owner(request)
    except Unauthorized:
        return await handler(request)
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            "Invalid Idempotency-Key",
            details={HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} printable characters."]},
        )
    store = request.app[keys.idempotency]
    try:
        stored = await _hold_or_answer(store, owner, key, fingerprint(request))
    except (SQLAlchemyError, OSError):
        raise Unavailable("The database is unavailable; retry") from None
    if stored is not None:
        return _replay(stored)
    try:
        response = await handler(request)
    except Exception as exc:
        shaped = error_for(exc, request.app[keys.clock].now_ms())
        if shaped is None or shaped.status >= 500:
            await _release(store, owner, key)
            raise
        response = shaped
    body = response.body if isinstance(response, web.Response) else None
    keep = 200 <= response.status < 300 or 400 <= response.status < 500
    try:
        if keep and isinstance(body, bytes | None):
            content_type = response.headers.get("Content-Type") if body else None
            await store.complete(owner, key, response.status, content_type, body or b"")
        else:
            await store.release(owner, key)
    except (SQLAlchemyError, OSError):
        # The change is made: answer it. The key stays reserved until its reservation is
        # taken over as stale, so a retry meanwhile waits rather than running it twice.
        logger.warning("idempotency answer not stored (database unavailable)")
    return response


async def _release(store: IdempotencyStore, owner: str, key: str) -> None:
    try:
        await store.release(owner, key)
    except (SQLAlchemyError, OSError):
        logger.warning("idempotency key not released (database unavailable)")
