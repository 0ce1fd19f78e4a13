"""The test infrastructure itself, without the app: real PostgreSQL, Redis, Nginx and node."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import socketio
from aiohttp import web

from tests.support import free_port, services
from tests.support.jsclient import JsViewer
from tests.support.services import NginxProcess

StartNginx = Callable[..., Awaitable[NginxProcess]]
StartViewer = Callable[..., Awaitable[JsViewer]]


async def test_postgres_url_is_a_fresh_empty_database(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        name = await conn.fetchval("SELECT current_database()")
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        await conn.execute("CREATE TABLE probe (id int PRIMARY KEY)")
    finally:
        await conn.close()
    assert name.startswith("roomtimer_t_")
    assert tables == 0


async def test_throwaway_database_is_dropped_even_while_connected(postgres_url: str) -> None:
    base = services.database_url()
    url = await services.create_database(base)
    name = url.rsplit("/", 1)[1]
    held = await asyncpg.connect(url)
    try:
        await services.drop_database(base, url)
    finally:
        await held.close()
    conn = await asyncpg.connect(base)
    try:
        left = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
    finally:
        await conn.close()
    assert left == 0


async def test_redis_url_answers_and_starts_empty(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await client.ping() is True
        assert await client.dbsize() == 0
        await client.set("roomtimer:probe", "1")
        assert await client.get("roomtimer:probe") == b"1"
    finally:
        await client.aclose()


async def test_nginx_serves_on_a_free_port_with_files_in_its_workdir(
    nginx_factory: StartNginx, tmp_path: Path
) -> None:
    port = free_port()
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hello from nginx\n")
    # A config written for a system install: the helper must redirect pid, user and logs.
    conf = f"""
user www-data;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events {{ worker_connections 64; }}
http {{
    include mime.types;
    access_log /var/log/nginx/access.log;
    server {{
        listen 127.0.0.1:{port};
        location = /ping {{ return 200 "pong\\n"; }}
        location / {{ root {site}; }}
    }}
}}
"""
    nginx = await nginx_factory(conf)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/ping") as resp:
            assert (resp.status, await resp.text()) == (200, "pong\n")
        async with http.get(f"http://127.0.0.1:{port}/index.html") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/html")
            assert await resp.text() == "hello from nginx\n"
    assert (nginx.workdir / "nginx.pid").read_text().strip() == str(nginx.pid)
    # nginx logs a request once it has answered it: the line may trail the response.
    async with asyncio.timeout(5):
        while "GET /index.html" not in (nginx.workdir / "access.log").read_text():
            await asyncio.sleep(0.02)
    assert await nginx.stop() == 0
    assert not await services.port_open(port)


def test_chromium_runs_a_page_headless(chromium_bin: str, tmp_path: Path) -> None:
    page = "data:text/html,<p id=x>static</p><script>x.textContent = 'js ran'</script>"
    cmd = [*services.chromium_command(chromium_bin, tmp_path / "profile"), "--dump-dom", page]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '<p id="x">js ran</p>' in done.stdout


async def test_viewer_reports_connect_error_when_nothing_listens(js_viewers: StartViewer) -> None:
    viewer = await js_viewers(
        f"http://127.0.0.1:{free_port()}", connect_timeout_ms=2000, reconnection=False
    )
    line = await viewer.wait_for("connect_error")
    assert line["data"]["message"] in ("xhr poll error", "timeout")
    assert not viewer.events("connect")
    assert await viewer.close() == 0


@dataclass
class EchoServer:
    """A bare python-socketio server that records the peer address of every HTTP request."""

    url: str
    peers: list[str] = field(default_factory=list)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)


@pytest_asyncio.fixture
async def echo_server() -> AsyncIterator[EchoServer]:
    """Socket.IO server: refuses auth {"token": "bad"}, acks `whoami`, greets with `hello`."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    server = EchoServer(url="")

    @web.middleware
    async def record_peer(request: web.Request, handler: Any) -> web.StreamResponse:
        server.peers.append(request.remote or "")
        return await handler(request)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        if auth == {"token": "bad"}:
            raise socketio.exceptions.ConnectionRefusedError(
                "unauthorized", {"code": "unauthorized"}
            )
        await sio.emit("hello", {"sid": sid}, to=sid)

    @sio.event
    async def disconnect(sid: str, reason: str) -> None:
        server.disconnected.set()

    @sio.event
    async def whoami(sid: str, payload: Any) -> dict[str, Any]:
        await sio.emit("echo", payload, to=sid)
        return {"peer": sio.get_environ(sid)["aiohttp.request"].remote}

    app = web.Application(middlewares=[record_peer])
    sio.attach(app)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await sio.shutdown()
        await runner.cleanup()


@pytest.mark.parametrize(
    ("transports", "final"),
    [(None, "websocket"), ("websocket", "websocket"), ("polling", "polling")],
)
async def test_viewer_round_trip_on_each_transport(
    js_viewers: StartViewer, echo_server: EchoServer, transports: str | None, final: str
) -> None:
    viewer = await js_viewers(echo_server.url, transports=transports)
    await viewer.wait_for("connect")
    assert (await viewer.wait_for("hello"))["data"]["sid"]
    if transports is None:
        assert (await viewer.wait_for("upgrade"))["transport"] == "websocket"
    assert await viewer.emit("whoami", {"n": 1}) == {"peer": "127.0.0.1"}
    echo = await viewer.wait_for("echo")
    assert (echo["data"], echo["transport"]) == ({"n": 1}, final)
    assert viewer.events("echo") == [{"n": 1}]
    assert await viewer.close() == 0
    assert (await viewer.wait_for("disconnect"))["reason"] == "io client disconnect"
    await asyncio.wait_for(echo_server.disconnected.wait(), 5)  # the close reached the server


@pytest.mark.parametrize("transports", [None, "websocket", "polling"])
async def test_viewer_binds_its_local_address(
    js_viewers: StartViewer, echo_server: EchoServer, transports: str | None
) -> None:
    viewer = await js_viewers(echo_server.url, transports=transports, local_address="127.0.0.2")
    assert await viewer.emit("whoami", {}) == {"peer": "127.0.0.2"}
    await viewer.close()
    assert echo_server.peers and set(echo_server.peers) == {"127.0.0.2"}


async def test_viewer_reports_a_refused_connection_with_its_data(
    js_viewers: StartViewer, echo_server: EchoServer
) -> None:
    viewer = await js_viewers(echo_server.url, auth={"token": "bad"}, reconnection=False)
    line = await viewer.wait_for("connect_error")
    assert line["data"] == {"message": "unauthorized", "data": {"code": "unauthorized"}}
