"""Reads request bodies up to a limit, whatever Content-Length says."""

from aiohttp import web
from aiohttp.typedefs import Handler

from roomtimer import keys
from roomtimer.errors import InvalidJson, PayloadTooLarge

MAX_BODY_BYTES = 16 * 1024
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


async def read_limited(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, or PayloadTooLarge as soon as it passes `limit` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"Body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = await request.content.read(64 * 1024)
        except (web.RequestPayloadError, ConnectionResetError):
            # A Content-Encoding that does not decode, or a client gone mid-body: a bad
            # request, not a server fault.
            raise InvalidJson("Request body could not be read") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Body larger than {limit} bytes")
        chunks.append(chunk)


@web.middleware
async def body_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reads API bodies first, so 413 comes before auth and every other check."""
    matched = request.match_info.http_exception is None
    if matched and request.method in BODY_METHODS and request.path.startswith("/api/"):
        request[keys.raw_body] = await read_limited(request)
    return await handler(request)
