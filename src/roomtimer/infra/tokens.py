"""Admin JWTs: HS256 only, `sub` (a string) and `exp` required."""

import jwt

ALGORITHM = "HS256"
# Ours are ~150 characters; a longer one is refused before any decoding or HMAC work.
MAX_TOKEN_LENGTH = 4096


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or signed otherwise."""


def issue(secret: str, sub: str, ttl_s: int, now_s: int) -> str:
    """A signed admin token for `sub`, valid for `ttl_s` seconds."""
    return jwt.encode({"sub": sub, "iat": now_s, "exp": now_s + ttl_s}, secret, ALGORITHM)


def verify(secret: str, token: str) -> str:
    """The owner id (`sub`) of a valid token; raises InvalidToken otherwise."""
    # The key is always `secret` and the algorithm always HS256: header fields that name
    # another key or algorithm (`alg`, `kid`, `jku`, `x5u`, `jwk`) are never followed.
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("token too long")
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise InvalidToken("sub must be a non-empty string")
    return sub
