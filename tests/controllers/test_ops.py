"""Operations: /health, /metrics and /api/stats/socket, as an operator sees them."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from roomtimer import keys
from tests.middleware.helpers import assert_error, assert_server_time
from tests.support import services
from tests.support.app import Api, RunningApp, Viewer, run_app
from tests.support.app import settings_for as app_settings
from tests.support.cluster import RedisServer


async def health(api: Api) -> tuple[int, Any, float]:
    """GET /health: status, body and how long it took (seconds)."""
    started = time.monotonic()
    async with asyncio.timeout(10):
        reply = await api.call("GET", "/health", token=None)
    return reply.status, reply.body, time.monotonic() - started


async def scrape(api: Api) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """GET /metrics: the raw text and every sample as {(name, sorted labels): value}."""
    async with api.session.get(api.base_url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        raw = await resp.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(raw)
        for s in family.samples
    }
    return raw, samples


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Polls `check` until true (the server notices a disconnect on its own schedule)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def test_health_is_ok_for_anyone(api: Api) -> None:
    status, body, _ = await health(api)
    assert status == 200
    assert set(body) == {"status", "checks", "serverTime"}
    assert body["status"] == "ok" and body["checks"]["database"] == "ok"
    assert_server_time(body)


async def test_health_is_503_when_postgres_is_gone(postgres_url: str) -> None:
    async with run_app(app_settings(postgres_url)) as app, Api(app.url, app.token()) as api:
        await api.room()
        assert (await health(api))[0] == 200
        await services.drop_database(services.database_url(), postgres_url)
        status, body, took = await health(api)
        assert (status, body["status"], body["checks"]["database"]) == (503, "unavailable", "down")
        assert_server_time(body)
        assert took < 5
        # Metrics still answer, so the outage can be seen on a dashboard.
        _, samples = await scrape(api)
        labels = (("method", "GET"), ("route", "/health"), ("status", "503"))
        assert samples[("roomtimer_http_requests_total", labels)] == 1


async def test_health_is_503_when_no_database_connection_can_be_had(sqlite_url: str) -> None:
    # SQLite runs on one connection: while something holds it, the database is unreachable.
    async with run_app(app_settings(sqlite_url)) as app, Api(app.url, None) as api:
        async with app.app[keys.engine].connect() as held:
            await held.execute(text("SELECT 1"))
            status, body, took = await health(api)
            assert (status, body["checks"]["database"]) == (503, "down")
            assert took < 5  # answers within its check timeout instead of hanging
        status, body, _ = await health(api)
        assert (status, body["checks"]["database"]) == (200, "ok")


async def test_metrics_report_requests_by_route_template(app: RunningApp, api: Api) -> None:
    room = await api.room()
    timer = await api.timer(room["id"])
    token = room["shareToken"]
    assert (await api.call("GET", f"/api/rooms/{token}", token=None)).status == 200
    assert (await api.call("GET", "/api/rooms/not-a-share-token", token=None)).status == 404
    assert (await api.command(timer["id"], "start")).status == 200
    assert (await api.call("GET", "/no/such/path")).status == 404
    raw, samples = await scrape(api)
    assert token not in raw and "not-a-share-token" not in raw
    assert room["id"] not in raw and timer["id"] not in raw
    requests = "roomtimer_http_requests_total"
    key = (("method", "GET"), ("route", "/api/rooms/{key}"))
    assert samples[(requests, (*key, ("status", "200")))] == 1
    assert samples[(requests, (*key, ("status", "404")))] == 1
    command = (("method", "POST"), ("route", "/api/timers/{id}/start"), ("status", "200"))
    assert samples[(requests, command)] == 1
    assert samples[(requests, (("method", "POST"), ("route", "/api/rooms"), ("status", "201")))]
    latency = "roomtimer_http_request_duration_seconds_count"
    assert samples[(latency, key)] == 2
    assert any(name == "roomtimer_http_request_duration_seconds_bucket" for name, _ in samples)
    assert samples[("roomtimer_broadcasts_total", (("event", "timer-update"),))] == 1
    assert samples[("roomtimer_broadcasts_total", (("event", "timer-created"),))] == 1


async def test_metrics_report_sockets_rooms_and_running_timers(app: RunningApp, api: Api) -> None:
    room, other = await api.room(), await api.room()
    running = await api.timer(room["id"])
    await api.timer(other["id"])
    assert (await api.command(running["id"], "start")).status == 200
    viewer = await Viewer(app.url).connect()
    try:
        assert (await viewer.join(room["shareToken"]))["ok"] is True
        _, samples = await scrape(api)
        assert samples[("roomtimer_socket_connected_clients", ())] == 1
        assert samples[("roomtimer_rooms", ())] == 2
        assert samples[("roomtimer_timers_running", ())] == 1
    finally:
        await viewer.close()

    async def no_sockets() -> bool:
        return (await scrape(api))[1][("roomtimer_socket_connected_clients", ())] == 0

    await eventually(no_sockets)


async def test_socket_stats_need_a_token(app: RunningApp, api: Api) -> None:
    assert_error(await api.call("GET", "/api/stats/socket", token=None), 401, "unauthorized")
    assert_error(await api.call("GET", "/api/stats/socket", token="nope"), 401, "unauthorized")


async def test_socket_stats_count_clients_rooms_and_timers(app: RunningApp, api: Api) -> None:
    async def stats() -> dict[str, Any]:
        reply = await api.call("GET", "/api/stats/socket")
        assert reply.status == 200
        assert set(reply.body) == {
            "connectedClients", "rooms", "activeRooms", "timers", "runningTimers", "serverTime",
        }  # fmt: skip
        assert_server_time(reply.body)
        return reply.body  # type: ignore[no-any-return]

    empty = await stats()
    assert {k: v for k, v in empty.items() if k != "serverTime"} == {
        "connectedClients": 0, "rooms": 0, "activeRooms": 0, "timers": 0, "runningTimers": 0,
    }  # fmt: skip
    watched, quiet = await api.room(), await api.room()
    first = await api.timer(watched["id"])
    await api.timer(watched["id"])
    await api.timer(quiet["id"])
    assert (await api.command(first["id"], "start")).status == 200
    viewers = [await Viewer(app.url).connect() for _ in range(3)]
    try:
        for viewer in viewers[:2]:
            assert (await viewer.join(watched["shareToken"]))["ok"] is True
        body = await stats()
        assert (body["connectedClients"], body["rooms"], body["activeRooms"]) == (3, 2, 1)
        assert (body["timers"], body["runningTimers"]) == (3, 1)
        # Another owner's token sees the same server-wide figures.
        other = await api.call("GET", "/api/stats/socket", token=app.token("bob"))
        assert other.body["connectedClients"] == 3
    finally:
        for viewer in viewers:
            await viewer.close()

    async def all_gone() -> bool:
        body = await stats()
        return bool(body["connectedClients"] == 0 and body["activeRooms"] == 0)

    await eventually(all_gone)


async def test_liveness_and_readiness_answer_anyone(api: Api) -> None:
    live = await api.call("GET", "/health/live", token=None)
    assert (live.status, live.body["status"]) == (200, "ok")
    assert_server_time(live.body)
    ready = await api.call("GET", "/health/ready", token=None)
    assert (ready.status, ready.body["status"], ready.body["checks"]) == (
        200,
        "ok",
        {"database": "ok"},
    )
    assert_server_time(ready.body)


async def test_readiness_needs_the_database_and_liveness_does_not(postgres_url: str) -> None:
    async with run_app(app_settings(postgres_url)) as app, Api(app.url, None) as api:
        await services.drop_database(services.database_url(), postgres_url)
        ready = await api.call("GET", "/health/ready")
        assert (ready.status, ready.body["checks"]["database"]) == (503, "down")
        assert ready.body["status"] == "unavailable"
        assert (await api.call("GET", "/health/live")).status == 200


async def test_readiness_reports_redis_down_without_failing(
    postgres_url: str, tmp_path: Any
) -> None:
    async with RedisServer.running(tmp_path / "redis") as redis:
        settings = app_settings(postgres_url, REDIS_URL=redis.url)
        async with run_app(settings) as app, Api(app.url, None) as api:
            assert (await api.call("GET", "/health/ready")).body["checks"]["redis"] == "ok"
            await redis.stop()
            ready = await api.call("GET", "/health/ready")
            assert (ready.status, ready.body["status"]) == (200, "degraded")
            assert ready.body["checks"] == {"database": "ok", "redis": "down"}
            # The contract's /health still says a dependency is down.
            assert (await api.call("GET", "/health")).status == 503


async def test_metrics_carry_process_gc_and_build_series(api: Api) -> None:
    _, samples = await scrape(api)
    names = {name for name, _ in samples}
    assert samples[("process_resident_memory_bytes", ())] > 10_000_000
    assert {"process_cpu_seconds_total", "process_open_fds", "python_gc_collections_total"} <= names
    [build] = [labels for name, labels in samples if name == "roomtimer_build_info"]
    labels = dict(build)
    assert labels["version"] and labels["python"].startswith("3.")
