"""Attacks on admin tokens: algorithm confusion, header-chosen keys, huge tokens; on HTTP
and on the control socket. The key is always JWT_SECRET, the algorithm always HS256."""

import hashlib
import hmac
import json
from typing import Any

import pytest
import socketio

from tests.middleware.helpers import assert_error, http_request, raw_exchange
from tests.middleware.test_auth import OTHER_SECRET, b64url, claims, forge
from tests.support.app import Api, RunningApp


def signed(key: bytes, header: dict[str, Any], body: dict[str, Any]) -> str:
    """A JWT with exactly `header`, signed HMAC-SHA256 with `key` whatever `alg` says."""
    head = b64url(json.dumps(header).encode())
    payload = b64url(json.dumps(body).encode())
    mac = hmac.new(key, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    return f"{head}.{payload}.{b64url(mac)}"


def attacks(secret: str) -> dict[str, str]:
    """Each a token an attacker could make, by name."""
    mine, other, good = secret.encode(), OTHER_SECRET.encode(), claims()
    evil = "https://evil.example"
    unsigned = forge(secret, good, alg="none").split(".")[:2]
    return {
        # The classic confusion: RS256 verified with the HMAC secret taken as a public key.
        "RS256 signed with the secret": signed(mine, {"alg": "RS256"}, good),
        "ES256 signed with the secret": signed(mine, {"alg": "ES256"}, good),
        "PS256 signed with the secret": signed(mine, {"alg": "PS256"}, good),
        "lower-case hs256": signed(mine, {"alg": "hs256"}, good),
        "alg NONE, no signature": forge(secret, good, alg="NONE"),
        "alg none with a signature": ".".join([*unsigned, "x"]),
        "no alg": signed(mine, {"typ": "JWT"}, good),
        "kid naming another key": signed(other, {"alg": "HS256", "kid": "other"}, good),
        "kid path, empty key": signed(b"", {"alg": "HS256", "kid": "../../dev/null"}, good),
        "kid SQL injection": signed(other, {"alg": "HS256", "kid": "x' UNION SELECT 'k"}, good),
        "jku elsewhere": signed(other, {"alg": "HS256", "jku": f"{evil}/jwks.json"}, good),
        "x5u elsewhere": signed(other, {"alg": "HS256", "x5u": f"{evil}/cert.pem"}, good),
        "embedded jwk": signed(
            other, {"alg": "HS256", "jwk": {"kty": "oct", "k": b64url(other)}}, good
        ),
        "HS512 right secret": forge(secret, good, alg="HS512"),
        "HS384 right secret": forge(secret, good, alg="HS384"),
        "no exp": forge(secret, claims(exp=None)),
        "no sub": forge(secret, claims(sub=None)),
        "numeric sub": forge(secret, claims(sub=7)),
        "expired": forge(secret, claims(exp=1)),
        "nbf in the future": forge(secret, claims(nbf=4_000_000_000)),
        "huge, signed right": forge(secret, claims(pad="x" * 5000)),
        "huge, 7 KB of garbage": "eyJ" + "A" * 7000,
    }


ATTACKS = list(attacks("s"))


@pytest.mark.parametrize("name", ATTACKS)
async def test_each_attack_is_401_on_http(app: RunningApp, api: Api, name: str) -> None:
    token = attacks(app.settings.jwt_secret)[name]
    for method, path in [
        ("GET", "/api/rooms"),
        ("POST", "/api/rooms"),
        ("GET", "/api/stats/socket"),
    ]:
        reply = await api.call(method, path, {"name": "x"}, token=token)
        assert_error(reply, 401, "unauthorized")


async def test_each_attack_refuses_the_control_socket(app: RunningApp) -> None:
    for name, token in attacks(app.settings.jwt_secret).items():
        client = socketio.AsyncClient(reconnection=False)
        refused: list[Any] = []
        client.on("connect_error", refused.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(app.url, auth={"token": token}, wait_timeout=10)
        assert refused and refused[0]["data"]["code"] == "unauthorized", name
        await client.shutdown()


async def test_headers_never_choose_the_key_a_harmless_kid_is_fine(
    app: RunningApp, api: Api
) -> None:
    secret = app.settings.jwt_secret.encode()
    for header in [
        {"alg": "HS256", "typ": "JWT", "kid": "primary"},
        {"alg": "HS256", "kid": "other"},
    ]:
        token = signed(secret, header, claims(sub="kid-owner"))
        reply = await api.call("POST", "/api/rooms", {"name": "Hall"}, token=token)
        assert reply.status == 201 and reply.body["ownerId"] == "kid-owner"
        control = socketio.AsyncClient(reconnection=False)
        await control.connect(app.url, auth={"token": token}, wait_timeout=10)
        ack = await control.call("watch-rooms", timeout=10)
        assert ack["ok"] is True and ack["rooms"]
        await control.disconnect()
        await control.shutdown()


async def test_a_token_past_the_header_limit_is_refused_in_the_contracts_shape(
    app: RunningApp,
) -> None:
    """aiohttp refuses a header over 8 KB before any route: 400, the contract's JSON."""
    head = {"Authorization": "Bearer eyJ" + "A" * 9000}
    reply = await raw_exchange(app.url, http_request("GET", "/api/rooms", head))
    assert reply.status == 400
    assert reply.json()["error"]["code"] == "validation_error"
    assert reply.headers["server"] == "roomtimer"


async def test_a_socket_token_of_60_kb_is_refused(app: RunningApp) -> None:
    client = socketio.AsyncClient(reconnection=False)
    refused: list[Any] = []
    client.on("connect_error", refused.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(app.url, auth={"token": "eyJ" + "A" * 60_000}, wait_timeout=10)
    assert refused and refused[0]["data"]["code"] == "unauthorized"
    await client.shutdown()
