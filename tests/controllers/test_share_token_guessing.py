"""Guessing share tokens: misses are counted per client address across HTTP, the viewer
page and Socket.IO; past SHARE_TOKEN_MAX_MISSES a minute every lookup from that address is
refused (429 / `rate_limited`); valid tokens never count; with Redis, workers share counts."""

from collections.abc import Callable
from typing import Any

import pytest

from roomtimer.services import rooms as room_service
from tests.middleware.helpers import assert_error
from tests.support.app import Api, Reply, RunningApp, Viewer

Start = Callable[..., Any]
NAT = {"X-Forwarded-For": "203.0.113.50"}  # a venue's one public address
OTHER = {"X-Forwarded-For": "198.51.100.9"}


async def guarded(start_app: Start, misses: int = 5, **env: str) -> RunningApp:
    """An app behind a trusted local proxy, so each test names its clients' addresses."""
    app: RunningApp = await start_app(
        SHARE_TOKEN_MAX_MISSES=str(misses), TRUSTED_PROXIES="127.0.0.1", **env
    )
    return app


def refused(reply: Reply) -> int:
    """The 429's Retry-After, checked."""
    assert_error(reply, 429, "rate_limited")
    retry = int(reply.headers["Retry-After"])
    assert 1 <= retry <= 60
    return retry


async def test_misses_on_every_http_route_add_up_then_every_lookup_is_429(
    start_app: Start,
) -> None:
    app = await guarded(start_app)
    async with Api(app.url, app.token()) as api:
        share = (await api.room())["shareToken"]
        for path in [
            "/api/rooms/guess-1",
            "/api/rooms/guess-2/events",
            "/v/guess-3",
            "/api/rooms/guess-4",
            "/v/guess-5",
        ]:
            async with api.session.get(app.url + path, headers=NAT) as resp:
                assert resp.status == 404, path
        # The bound is reached: a right token from there is refused too (no oracle).
        refused(await api.call("GET", f"/api/rooms/{share}", token=None, headers=NAT))
        refused(await api.call("GET", f"/api/rooms/{share}/events", token=None, headers=NAT))
        async with api.session.get(f"{app.url}/v/{share}", headers=NAT) as resp:
            page = await resp.text()
            assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60
            assert resp.headers["Content-Type"].startswith("text/html")
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            assert '<meta http-equiv="refresh"' in page and "wrong room links" in page
        # Another address is not affected, nor the owner's own API.
        assert (await api.call("GET", f"/api/rooms/{share}", headers=OTHER)).status == 200
        assert (await api.call("GET", "/api/rooms", headers=NAT)).status == 200


async def test_a_venue_of_valid_screens_never_counts(start_app: Start) -> None:
    app = await guarded(start_app, misses=3)
    async with Api(app.url, app.token()) as api:
        share = (await api.room())["shareToken"]
        for _ in range(60):
            reply = await api.call("GET", f"/api/rooms/{share}", token=None, headers=NAT)
            assert reply.status == 200
        async with api.session.get(f"{app.url}/v/{share}", headers=NAT) as resp:
            assert resp.status == 200
        screens = [await Viewer(app.url).connect(headers=NAT) for _ in range(20)]
        try:
            for screen in screens:
                assert (await screen.join(share))["ok"] is True
                sync = await screen.client.call("request-sync", {"shareToken": share}, timeout=10)
                assert sync["ok"] is True
        finally:
            for screen in screens:
                await screen.close()
        assert (await api.call("GET", "/api/rooms/guess", token=None, headers=NAT)).status == 404


async def test_socket_misses_count_with_http_ones_and_sockets_get_rate_limited(
    start_app: Start,
) -> None:
    app = await guarded(start_app, misses=4)
    async with Api(app.url, app.token()) as api:
        share = (await api.room())["shareToken"]
        assert (await api.call("GET", "/api/rooms/g1", token=None, headers=NAT)).status == 404
        guesser = await Viewer(app.url).connect(headers=NAT)
        screen = await Viewer(app.url).connect(headers=OTHER)
        try:
            for token in ["g2", "g3"]:
                ack = await guesser.join(token)
                assert ack["ok"] is False and ack["error"]["code"] == "room_not_found"
            sync = await guesser.client.call("request-sync", {"shareToken": "g4"}, timeout=10)
            assert sync["error"]["code"] == "room_not_found"  # four misses: the bound
            ack = await guesser.join(share)
            assert ack == {
                "ok": False,
                "error": {"code": "rate_limited", "message": ack["error"]["message"]},
            }
            errors = [e["code"] for e in guesser.events("error")]
            assert errors == ["room_not_found"] * 3 + ["rate_limited"]
            refused(await api.call("GET", f"/api/rooms/{share}", token=None, headers=NAT))
            assert (await screen.join(share))["ok"] is True  # another address
        finally:
            await guesser.close()
            await screen.close()


async def test_a_forged_forwarded_for_does_not_reset_the_count(start_app: Start) -> None:
    app: RunningApp = await start_app(SHARE_TOKEN_MAX_MISSES="2")  # no trusted proxy
    async with Api(app.url, None) as api:
        statuses = []
        for i in range(4):
            spoof = {"X-Forwarded-For": f"10.0.0.{i}"}
            statuses.append((await api.call("GET", f"/api/rooms/g{i}", headers=spoof)).status)
        assert statuses == [404, 404, 429, 429]
        guesser = await Viewer(app.url).connect(headers={"X-Forwarded-For": "10.9.9.9"})
        try:
            assert (await guesser.join("g9"))["error"]["code"] == "rate_limited"
        finally:
            await guesser.close()


async def test_workers_sharing_redis_share_the_count(start_app: Start, redis_url: str) -> None:
    first = await guarded(start_app, misses=4, REDIS_URL=redis_url)
    second = await guarded(start_app, misses=4, REDIS_URL=redis_url)
    async with Api(first.url, first.token()) as one, Api(second.url, None) as two:
        share = (await one.room())["shareToken"]
        for api in (one, two, one, two):
            assert (await api.call("GET", "/api/rooms/g", token=None, headers=NAT)).status == 404
        refused(await two.call("GET", f"/api/rooms/{share}", token=None, headers=NAT))
        refused(await one.call("GET", f"/api/rooms/{share}", token=None, headers=NAT))
        guesser = await Viewer(second.url).connect(headers=NAT)
        try:
            assert (await guesser.join(share))["error"]["code"] == "rate_limited"
        finally:
            await guesser.close()


async def test_the_found_token_is_compared_in_constant_time(
    app: RunningApp, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The indexed lookup only finds a candidate; hmac.compare_digest decides."""
    compared: list[tuple[bytes, bytes]] = []
    real = room_service.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(room_service.hmac, "compare_digest", spy)
    share = (await api.room())["shareToken"]
    assert (await api.call("GET", f"/api/rooms/{share}", token=None)).status == 200
    assert (share.encode(), share.encode()) in compared
    for near in [share[:-1], share + "A", share.swapcase(), share + " "]:
        assert (await api.call("GET", f"/api/rooms/{near}", token=None)).status == 404
