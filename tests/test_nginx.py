"""The shipped nginx.conf in front of real workers, driven by the stock JavaScript client.

The config is rendered from the shipped files with only the listen port and the worker
addresses changed (tests/support/cluster.py: render_nginx). Clients connect from several
loopback addresses (127.0.0.2, 127.0.0.3…) so that the sticky hash spreads them over workers.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.cluster import (
    RedisServer,
    SourcedApi,
    StartNginx,
    StartServer,
    admin,
    cluster_env,
    front,
    metric,
    start_workers,
    stop_all,
    wait_until,
)
from tests.support.jsclient import JsViewer
from tests.support.streams import open_stream

StartViewer = Callable[..., Awaitable[JsViewer]]
GAUGE = "roomtimer_socket_connected_clients"
# Mostly the default transports (polling, then upgrade); one each polling and websocket only.
CLIENTS = [(f"127.0.0.{n}", None) for n in range(2, 8)] + [
    ("127.0.0.8", "polling"),
    ("127.0.0.9", "websocket"),
]


async def connect_all(start_viewer: StartViewer, url: str, share_token: str) -> list[JsViewer]:
    """The CLIENTS connected through Nginx and joined to the room."""

    async def one(address: str, transports: str | None) -> JsViewer:
        viewer = await start_viewer(url, transports=transports, local_address=address)
        await viewer.wait_for("connect")
        if transports is None:
            assert (await viewer.wait_for("upgrade"))["transport"] == "websocket"
        ack = await viewer.emit("join-room", {"shareToken": share_token})
        assert ack["ok"] is True, ack
        return viewer

    return list(await asyncio.gather(*(one(a, t) for a, t in CLIENTS)))


def update_versions(viewer: JsViewer, timer_id: str) -> list[int]:
    return [e["version"] for e in viewer.events("timer-update") if e["id"] == timer_id]


async def test_stock_js_clients_spread_over_workers_get_every_command_in_order(
    postgres_url: str,
    redis: RedisServer,
    server_factory: StartServer,
    nginx_factory: StartNginx,
    js_viewers: StartViewer,
    tmp_path: Path,
) -> None:
    workers = await start_workers(server_factory, 3, cluster_env(postgres_url, redis.url))
    url = await front(nginx_factory, tmp_path / "nginx", workers)
    async with contextlib.AsyncExitStack() as stack:
        # Admins from three addresses: the commands are taken by whichever worker each hits.
        apis = [await stack.enter_async_context(admin(url, f"127.0.0.{n}")) for n in (10, 11, 12)]
        room = await apis[0].room()
        timer = await apis[0].timer(room["id"])
        viewers = await connect_all(js_viewers, url, room["shareToken"])
        # An event stream through Nginx too: each event must pass at once, not when it ends.
        http = await stack.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.13", 0)))
        )
        stream = await open_stream(http, url, room["shareToken"])
        assert (await stream.next())[0] == "room-state"  # type: ignore[index]
        expected = []
        for n, (name, body) in enumerate(
            [("start", None), ("pause", None), ("adjust", {"deltaMs": 2000}), ("start", None)]
            + [("reset", None), ("start", None), ("pause", None), ("reset", None)]
        ):
            reply = await apis[n % 3].command(timer["id"], name, body)
            assert reply.status == 200, reply.body
            expected.append(reply.body["version"])

        async def delivered() -> bool:
            return all(len(update_versions(v, timer["id"])) >= len(expected) for v in viewers)

        await wait_until(delivered, 10, "every JS viewer got every timer-update")
        for viewer in viewers:
            assert update_versions(viewer, timer["id"]) == expected
        assert [(await stream.until("timer-update"))["version"] for _ in expected] == expected
        stream.response.close()
        local = [await metric(w.url, GAUGE) for w in workers]
        assert sum(local) == len(CLIENTS), local
        assert sum(1 for n in local if n > 0) >= 2, f"every client on one worker: {local}"
    await stop_all(workers)


async def test_nginx_adds_headers_compresses_json_and_answers_in_the_api_shape(
    sqlite_url: str, server_factory: StartServer, nginx_factory: StartNginx, tmp_path: Path
) -> None:
    worker = await server_factory(cluster_env(sqlite_url))
    url = await front(nginx_factory, tmp_path / "nginx", [worker])
    async with admin(worker.url) as direct, admin(url) as api:
        room = await direct.room(description="x" * 400)
        for n in range(20):
            await direct.timer(room["id"], label=f"Speaker number {n}")
        headers = {"Accept-Encoding": "gzip"}
        state = await api.call("GET", f"/api/rooms/{room['shareToken']}", headers=headers)
        assert state.status == 200 and len(state.body["timers"]) == 20
        assert state.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in state.headers.get("Vary", "")
        assert state.headers["Server"] == "nginx"  # server_tokens off: no version
        for name in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
            assert len(state.headers.getall(name)) == 1, name  # the app's, not doubled

        # Over the API's 16 KiB limit, under Nginx's: the app itself answers.
        app_413 = await api.call("POST", "/api/rooms", data=b"x" * 20_000, headers=_json())
        assert (app_413.status, app_413.body["error"]["code"]) == (413, "payload_too_large")
        assert "X-Request-Id" in app_413.headers
        # Far over: Nginx answers, in the same shape, with the same headers.
        edge_413 = await api.call("POST", "/api/rooms", data=b"x" * 40_000, headers=_json())
        assert_edge_error(edge_413, 413, "payload_too_large")

    # A flood from one address meets Nginx's limit_req zone before it reaches Python.
    async with SourcedApi(url, None, "127.0.0.20") as flood:
        replies = await asyncio.gather(
            *(flood.call("GET", "/api/rooms/no-such-token") for _ in range(90))
        )
    refused = [r for r in replies if r.status == 429]
    assert len(refused) >= 20 and {r.status for r in replies} == {404, 429}
    for reply in refused:
        assert_edge_error(reply, 429, "rate_limited")
        assert reply.headers["Retry-After"] == "1"

    await worker.stop()
    async with SourcedApi(url, None, "127.0.0.21") as api:
        assert_edge_error(await api.call("GET", "/api/rooms/any"), 503, "unavailable")


def _json() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def assert_edge_error(reply: Any, status: int, code: str) -> None:
    """An error Nginx answered itself, in the API's error shape and with security headers."""
    assert reply.status == status, reply.body
    assert reply.body["error"]["code"] == code
    assert abs(reply.body["serverTime"] - time.time() * 1000) < 60_000
    assert "X-Request-Id" not in reply.headers  # never reached a worker
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


async def test_client_addresses_reach_the_rate_limit_through_nginx(
    sqlite_url: str, server_factory: StartServer, nginx_factory: StartNginx, tmp_path: Path
) -> None:
    env = cluster_env(sqlite_url, RATE_LIMIT_MAX_REQUESTS="3")
    worker = await server_factory(env)
    url = await front(nginx_factory, tmp_path / "nginx", [worker])

    async def statuses(source: str, count: int) -> list[int]:
        found = []
        async with SourcedApi(url, None, source) as api:
            for n in range(count):  # a forged X-Forwarded-For hop changes nothing
                forged = {"X-Forwarded-For": f"203.0.113.{n}"}
                reply = await api.call("GET", "/api/rooms/no-such-token", headers=forged)
                assert "X-Request-Id" in reply.headers  # the app's limit, not Nginx's
                found.append(reply.status)
        return found

    assert await statuses("127.0.0.2", 5) == [404, 404, 404, 429, 429]
    assert await statuses("127.0.0.3", 4) == [404, 404, 404, 429]
