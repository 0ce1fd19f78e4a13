"""Admin tokens: HS256 with `sub` (a string) and `exp`; everything else is 401."""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from tests.middleware.helpers import assert_error
from tests.support.app import Api, RunningApp

# (method, path) of every route that needs a token; {room}/{timer} are alice's.
TOKEN_ROUTES = [
    ("GET", "/api/rooms"),
    ("POST", "/api/rooms"),
    ("PUT", "/api/rooms/{room}"),
    ("DELETE", "/api/rooms/{room}"),
    ("POST", "/api/rooms/{room}/share-token"),
    ("POST", "/api/rooms/{room}/timers"),
    ("PUT", "/api/timers/{timer}"),
    ("DELETE", "/api/timers/{timer}"),
    ("POST", "/api/timers/{timer}/start"),
    ("POST", "/api/timers/{timer}/pause"),
    ("POST", "/api/timers/{timer}/reset"),
    ("POST", "/api/timers/{timer}/adjust"),
    ("GET", "/api/stats/socket"),
]
DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256"


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(secret: str, claims: dict[str, Any], alg: str = "HS256", **header: Any) -> str:
    """A JWT built by hand, so tests can make what no careful library would sign."""
    head = b64url(json.dumps({"alg": alg, "typ": "JWT", **header}).encode())
    body = b64url(json.dumps(claims).encode())
    signing_input = f"{head}.{body}".encode()
    digest = DIGESTS.get(alg)
    signature = hmac.new(secret.encode(), signing_input, digest).digest() if digest else b""
    return f"{head}.{body}.{b64url(signature)}"


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for alice, with overrides (None removes a claim)."""
    now = int(time.time())
    base = {"sub": "alice", "iat": now, "exp": now + 600, **overrides}
    return {k: v for k, v in base.items() if v is not None}


# Each: the Authorization header for a given secret.
BAD_HEADERS: dict[str, Callable[[str], str | None]] = {
    "missing": lambda s: None,
    "empty": lambda s: "",
    "scheme only": lambda s: "Bearer",
    "scheme and spaces": lambda s: "Bearer    ",
    "basic scheme": lambda s: "Basic " + b64url(b"alice:secret"),
    "token without scheme": lambda s: forge(s, claims()),
    "other scheme": lambda s: "Token " + forge(s, claims()),
    "not a jwt": lambda s: "Bearer not-a-jwt",
    "two parts": lambda s: "Bearer " + ".".join(forge(s, claims()).split(".")[:2]),
    "garbage parts": lambda s: "Bearer ###.$$$.%%%",
    "bad signature": lambda s: "Bearer " + forge(OTHER_SECRET, claims()),
    "tampered claims": lambda s: (
        "Bearer "
        + ".".join(
            [forge(s, claims()).split(".")[0], b64url(b'{"sub":"bob","exp":9999999999}')]
            + forge(s, claims()).split(".")[2:]
        )
    ),
    "expired": lambda s: "Bearer " + forge(s, claims(iat=1, exp=int(time.time()) - 60)),
    "not yet valid": lambda s: "Bearer " + forge(s, claims(nbf=int(time.time()) + 3600)),
    "alg none": lambda s: "Bearer " + forge(s, claims(), alg="none"),
    "alg None": lambda s: "Bearer " + forge(s, claims(), alg="None"),
    "HS384 right secret": lambda s: "Bearer " + forge(s, claims(), alg="HS384"),
    "HS512 right secret": lambda s: "Bearer " + forge(s, claims(), alg="HS512"),
    "RS256 header": lambda s: "Bearer " + forge(s, claims(), alg="RS256"),
    "no exp": lambda s: "Bearer " + forge(s, claims(exp=None)),
    "exp not a number": lambda s: "Bearer " + forge(s, claims(exp="tomorrow")),
    "no sub": lambda s: "Bearer " + forge(s, claims(sub=None)),
    "empty sub": lambda s: "Bearer " + forge(s, claims(sub="")),
    "numeric sub": lambda s: "Bearer " + forge(s, claims(sub=42)),
    "list sub": lambda s: "Bearer " + forge(s, claims(sub=["alice"])),
    "object sub": lambda s: "Bearer " + forge(s, claims(sub={"id": "alice"})),
    "claims not an object": lambda s: (
        "Bearer " + ".".join(forge(s, claims()).split(".")[:1] + [b64url(b'"alice"'), "sig"])
    ),
}


@pytest.mark.parametrize("kind", list(BAD_HEADERS))
async def test_a_bad_token_is_401_on_every_admin_route(
    app: RunningApp, api: Api, kind: str
) -> None:
    room = await api.room(name="Untouched")
    timer = await api.timer(room["id"])
    header = BAD_HEADERS[kind](app.settings.jwt_secret)
    headers = {"Authorization": header} if header is not None else {}
    for method, path in TOKEN_ROUTES:
        url = path.format(room=room["id"], timer=timer["id"])
        body = {"name": "x"} if method == "POST" and path == "/api/rooms" else None
        reply = await api.call(method, url, body, token=None, headers=headers)
        assert_error(reply, 401, "unauthorized")
    state = await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)
    assert state.body["room"]["name"] == "Untouched"
    assert [(t["status"], t["version"]) for t in state.body["timers"]] == [("idle", 1)]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_a_good_token_works_whatever_the_scheme_case(
    app: RunningApp, api: Api, scheme: str
) -> None:
    token = forge(app.settings.jwt_secret, claims(sub="carol"))
    reply = await api.call(
        "POST", "/api/rooms", {"name": "Hall"}, token=None,
        headers={"Authorization": f"{scheme} {token}"},
    )  # fmt: skip
    assert reply.status == 201 and reply.body["ownerId"] == "carol"


async def test_a_pyjwt_token_with_the_configured_secret_works(app: RunningApp, api: Api) -> None:
    token = jwt.encode(claims(sub="dave"), app.settings.jwt_secret, algorithm="HS256")
    reply = await api.call("GET", "/api/rooms", token=token)
    assert reply.status == 200 and reply.body["rooms"] == []


async def test_the_owner_is_the_sub_claim(app: RunningApp, api: Api) -> None:
    """Two tokens for one sub are one owner; any other sub is someone else."""
    room = await api.room()
    again = forge(app.settings.jwt_secret, claims(iat=int(time.time()) - 5))
    assert (await api.call("PUT", f"/api/rooms/{room['id']}", {}, token=again)).status == 200
    alicia = forge(app.settings.jwt_secret, claims(sub="alice "))
    reply = await api.call("PUT", f"/api/rooms/{room['id']}", {}, token=alicia)
    assert_error(reply, 403, "forbidden")


async def test_viewers_need_no_token(api: Api) -> None:
    room = await api.room()
    reply = await api.call(
        "GET", f"/api/rooms/{room['shareToken']}", token=None,
        headers={"Authorization": "Bearer garbage"},
    )  # fmt: skip
    assert reply.status == 200
