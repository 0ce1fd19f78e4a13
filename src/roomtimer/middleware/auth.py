"""Admin authentication: `Authorization: Bearer <JWT>`."""

from aiohttp import web

from roomtimer import keys
from roomtimer.errors import Unauthorized
from roomtimer.infra import tokens


def bearer_token(header: str | None) -> str | None:
    """The token of a `Bearer` Authorization header."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def owner_id(secret: str, token: str | None) -> str:
    """The owner id of a valid admin token, else Unauthorized."""
    if not token:
        raise Unauthorized()
    try:
        return tokens.verify(secret, token)
    except tokens.InvalidToken:
        raise Unauthorized() from None


def require_owner(request: web.Request) -> str:
    """The authenticated owner of this request (401 unless the token is valid)."""
    token = bearer_token(request.headers.get("Authorization"))
    return owner_id(request.app[keys.settings].jwt_secret, token)
