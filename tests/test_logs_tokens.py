"""No token reaches the log: admin JWTs (good, forged, on HTTP and on the control socket)
and share tokens (found, missed, guessed past the limit, on HTTP, the viewer page and
sockets), at DEBUG, in both log formats."""

from typing import Any

import pytest
import socketio

from tests.middleware.helpers import http_request, raw_exchange
from tests.middleware.test_auth import OTHER_SECRET, claims, forge
from tests.support.app import JWT_SECRET, Api, Viewer, make_token
from tests.support.cluster import StartServer


@pytest.fixture(params=["production/sqlite", "development/sqlite", "production/postgres"])
def server_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """A server at DEBUG in each log format, on SQLite and on PostgreSQL."""
    environment, database = request.param.split("/")
    env = {
        "JWT_SECRET": JWT_SECRET,
        "LOG_LEVEL": "DEBUG",
        "APP_ENV": environment,
        "SHARE_TOKEN_MAX_MISSES": "3",
    }
    if database == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    return env


async def test_no_token_is_ever_written_to_the_log(
    server_factory: StartServer, server_env: dict[str, str]
) -> None:
    server = await server_factory(server_env)
    token = make_token("alice")
    forged = forge(OTHER_SECRET, claims(sub="mallory"))
    guesses = [f"Guess{i}-never-logged-5e1d" for i in range(5)]
    async with Api(server.url, token) as api:
        room = await api.room()
        first_share = room["shareToken"]  # rotated below
        for bearer in (token, forged, "not.a-jwt.Opaque-never-logged-77aa"):
            for method, path in [
                ("GET", "/api/rooms"),
                ("POST", f"/api/rooms/{room['id']}/share-token"),
            ]:
                await api.call(method, path, token=bearer)
        share = (await api.call("GET", "/api/rooms")).body["rooms"][0]["shareToken"]
        assert (await api.call("GET", f"/api/rooms/{share}", token=None)).status == 200
        async with api.session.get(f"{server.url}/v/{share}") as resp:
            assert resp.status == 200
        async with api.session.get(f"{server.url}/api/rooms/{share}/events") as resp:
            assert resp.status == 200
        viewer = await Viewer(server.url).connect()
        control = socketio.AsyncClient(reconnection=False)
        try:
            assert (await viewer.join(share))["ok"] is True
            await viewer.client.call("request-sync", {"shareToken": share}, timeout=10)
            await viewer.join(guesses[0])
            for guess in guesses[1:3]:
                assert (await api.call("GET", f"/api/rooms/{guess}", token=None)).status == 404
            assert (await api.call("GET", f"/api/rooms/{guesses[3]}", token=None)).status == 429
            async with api.session.get(f"{server.url}/v/{guesses[4]}") as resp:
                assert resp.status == 429
            await control.connect(server.url, auth={"token": token}, wait_timeout=10)
            await control.call("watch-rooms", timeout=10)
            await control.disconnect()
            with pytest.raises(socketio.exceptions.ConnectionError):
                refused = socketio.AsyncClient(reconnection=False)
                try:
                    await refused.connect(server.url, auth={"token": forged}, wait_timeout=10)
                finally:
                    await refused.shutdown()
        finally:
            await viewer.close()
            await control.shutdown()
        # A request aiohttp cannot parse, carrying a token: logged as one warning.
        raw = http_request(
            "GET", f"/api/rooms/{share}", {"Authorization": f"Bearer {token}", "X-Bad": "\x00"}
        )
        assert (await raw_exchange(server.url, raw)).status == 400
    await server.stop()
    text = server.stderr() + server.stdout()
    # Every request was logged, by its route (and SQLite's statements at DEBUG).
    assert "GET /api/rooms/{key}" in text and "GET /v/{shareToken}" in text
    assert "BadHttpMessage" in text
    assert "SELECT" in text or "DATABASE_URL" in server_env
    secrets: list[Any] = [
        token,
        token.split(".")[2],
        forged,
        forged.split(".")[2],
        first_share,
        share,
        share[:12],
        "Opaque-never-logged-77aa",
        *guesses,
        JWT_SECRET,
    ]
    for secret in secrets:
        assert secret not in text, f"{secret!r} is in the log"
