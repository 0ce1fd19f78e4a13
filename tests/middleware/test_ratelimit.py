"""Rate limits per client on the HTTP API, from RATE_LIMIT_MAX_REQUESTS / _WINDOW_MS."""

import asyncio
from collections.abc import Callable
from typing import Any

from limits import RateLimitItemPerSecond

from roomtimer.infra.ratelimit import Limiter
from tests.middleware.helpers import assert_error
from tests.support.app import Api, Reply, RunningApp, Viewer

Start = Callable[..., Any]


async def spend(api: Api, count: int, **kwargs: Any) -> list[int]:
    """Statuses of `count` GET /api/rooms."""
    return [(await api.call("GET", "/api/rooms", **kwargs)).status for _ in range(count)]


def retry_after(reply: Reply) -> int:
    """The 429's Retry-After, checked to be whole seconds."""
    assert_error(reply, 429, "rate_limited")
    value = reply.headers["Retry-After"]
    assert value.isdigit(), value
    return int(value)


async def test_requests_past_the_limit_get_429_with_retry_after(start_app: Start) -> None:
    app: RunningApp = await start_app(RATE_LIMIT_MAX_REQUESTS="3", RATE_LIMIT_WINDOW_MS="60000")
    async with Api(app.url, app.token()) as api:
        assert await spend(api, 3) == [200, 200, 200]
        for method, path in [("GET", "/api/rooms"), ("POST", "/api/rooms"), ("GET", "/api/x")]:
            assert 1 <= retry_after(await api.call(method, path, {"name": "x"})) <= 60
        # The limit applies before authentication.
        assert retry_after(await api.call("POST", "/api/rooms", {"name": "x"}, token=None)) <= 60


async def test_the_window_sets_retry_after_and_then_reopens(start_app: Start) -> None:
    app: RunningApp = await start_app(RATE_LIMIT_MAX_REQUESTS="2", RATE_LIMIT_WINDOW_MS="1000")
    async with Api(app.url, app.token()) as api:
        assert await spend(api, 2) == [200, 200]
        wait = retry_after(await api.call("GET", "/api/rooms"))
        assert wait == 1
        await asyncio.sleep(wait + 0.1)  # the behaviour under test is the passing of time
        assert await spend(api, 2) == [200, 200]


async def test_a_long_window_tells_clients_to_wait_longer(start_app: Start) -> None:
    app: RunningApp = await start_app(RATE_LIMIT_MAX_REQUESTS="1", RATE_LIMIT_WINDOW_MS="600000")
    async with Api(app.url, app.token()) as api:
        assert await spend(api, 1) == [200]
        assert 60 < retry_after(await api.call("GET", "/api/rooms")) <= 600


async def test_health_metrics_and_sockets_are_not_limited(start_app: Start) -> None:
    app: RunningApp = await start_app(RATE_LIMIT_MAX_REQUESTS="2", RATE_LIMIT_WINDOW_MS="60000")
    async with Api(app.url, app.token()) as api:
        room = await api.room()
        for _ in range(10):
            assert (await api.call("GET", "/health", token=None)).status == 200
            async with api.session.get(app.url + "/metrics") as resp:
                assert resp.status == 200
        # The room above was one request; one more is still allowed after all that.
        assert await spend(api, 2) == [200, 429]
        viewer = await Viewer(app.url).connect()
        try:
            for _ in range(3):
                assert (await viewer.join(room["shareToken"]))["ok"] is True
        finally:
            await viewer.close()


async def test_spoofed_forwarded_for_does_not_reset_the_budget(start_app: Start) -> None:
    app: RunningApp = await start_app(RATE_LIMIT_MAX_REQUESTS="2", RATE_LIMIT_WINDOW_MS="60000")
    async with Api(app.url, app.token()) as api:
        statuses = [
            (await api.call("GET", "/api/rooms", headers={"X-Forwarded-For": f"10.0.0.{i}"})).status
            for i in range(4)
        ]
        assert statuses == [200, 200, 429, 429]


async def test_behind_a_trusted_proxy_each_client_has_its_own_budget(start_app: Start) -> None:
    app: RunningApp = await start_app(
        RATE_LIMIT_MAX_REQUESTS="2", RATE_LIMIT_WINDOW_MS="60000", TRUSTED_PROXIES="127.0.0.1"
    )
    async with Api(app.url, app.token()) as api:
        first = {"X-Forwarded-For": "203.0.113.7"}
        second = {"X-Forwarded-For": "198.51.100.9"}
        assert await spend(api, 3, headers=first) == [200, 200, 429]
        assert await spend(api, 2, headers=second) == [200, 200]


async def test_with_redis_unreachable_each_worker_still_limits_in_memory() -> None:
    limiter = Limiter("redis://127.0.0.1:9/0")  # nothing listens on the discard port
    item = RateLimitItemPerSecond(2, 60)
    verdicts = [await asyncio.wait_for(limiter.hit(item, "127.0.0.7"), 5) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert 1 <= verdicts[-1].retry_after_s <= 60
    assert (await limiter.hit(item, "127.0.0.8")).allowed  # another client has its own count


async def test_peek_counts_nothing_and_also_falls_back_to_memory() -> None:
    limiter = Limiter("redis://127.0.0.1:9/0")  # nothing listens on the discard port
    item = RateLimitItemPerSecond(2, 60)
    peeks = [await asyncio.wait_for(limiter.peek(item, "127.0.0.9"), 5) for _ in range(5)]
    assert all(v.allowed for v in peeks)  # looking is free
    for _ in range(2):
        assert (await limiter.hit(item, "127.0.0.9")).allowed
    refused = await limiter.peek(item, "127.0.0.9")
    assert not refused.allowed and 1 <= refused.retry_after_s <= 60
