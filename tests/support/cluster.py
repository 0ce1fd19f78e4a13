"""Several real workers on one PostgreSQL and one Redis, optionally behind the shipped Nginx."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.app import JWT_SECRET, Api, Viewer, make_token
from tests.support.server import ServerProcess
from tests.support.services import (
    REPO_ROOT,
    NginxProcess,
    free_port,
    needs,
    stop_process,
    wait_for_port,
)

NGINX_CONF = REPO_ROOT / "nginx.conf"
WORKERS_INCLUDE = "deploy/nginx/workers.conf"
_LISTEN = re.compile(r"^(\s*)listen\s+8080;", re.MULTILINE)
_SERVER = re.compile(r"^server\s+\S+(?P<options>[^;]*);$", re.MULTILINE)

StartServer = Callable[..., Awaitable[ServerProcess]]
StartNginx = Callable[..., Awaitable[NginxProcess]]


def cluster_env(database_url: str, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of one worker (one process alone without redis_url), generous limits."""
    env = {
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "TRUSTED_PROXIES": "127.0.0.1",
        "RATE_LIMIT_MAX_REQUESTS": "100000",
        "SHARE_TOKEN_MAX_MISSES": "100000",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


async def start_workers(start: StartServer, count: int, env: dict[str, str]) -> list[ServerProcess]:
    """`count` workers started at once, each on its own port."""
    return list(await asyncio.gather(*(start(env) for _ in range(count))))


def render_nginx(listen_port: int, worker_ports: Sequence[int]) -> tuple[str, str]:
    """The shipped nginx.conf and workers include, moved to 127.0.0.1:listen_port and the ports.

    Only the `listen 8080;` line and the addresses of the shipped `server` lines change:
    everything else (balancing, timeouts, headers, limits) is tested as shipped.
    """
    conf, found = _LISTEN.subn(rf"\1listen 127.0.0.1:{listen_port};", NGINX_CONF.read_text())
    assert found == 1, "nginx.conf must have exactly one `listen 8080;` line"
    shipped = (REPO_ROOT / WORKERS_INCLUDE).read_text()
    match = _SERVER.search(shipped)
    assert match, f"{WORKERS_INCLUDE} has no `server` line"
    servers = "".join(f"server 127.0.0.1:{port}{match['options']};\n" for port in worker_ports)
    return conf, _SERVER.sub("", shipped).rstrip() + "\n" + servers


def write_nginx_files(workdir: Path, listen_port: int, worker_ports: Sequence[int]) -> str:
    """Writes the workers include under workdir; returns the nginx.conf text to start."""
    conf, workers = render_nginx(listen_port, worker_ports)
    include = workdir / WORKERS_INCLUDE
    include.parent.mkdir(parents=True, exist_ok=True)
    include.write_text(workers)
    return conf


async def front(start_nginx: StartNginx, workdir: Path, workers: Sequence[ServerProcess]) -> str:
    """The shipped Nginx in front of workers; returns its base URL."""
    port = free_port()
    conf = write_nginx_files(workdir, port, [w.port for w in workers])
    await start_nginx(conf, workdir=workdir)
    return f"http://127.0.0.1:{port}"


class RedisServer:
    """A private redis-server child on its own port, to stop and restart at will."""

    def __init__(self, binary: str, workdir: Path, password: str | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.password = password
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis://127.0.0.1:<port>/0 (with `:password@` when it requires one)"""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Starts it (again, on the same port) and waits until it accepts connections."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        if self.password:
            argv += ["--requirepass", self.password]
        with open(self.workdir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        await wait_for_port(self.port, deadline_s=10, alive=self.proc)

    async def stop(self) -> None:
        """Stops it as a crash would (SIGKILL): clients see their connections drop."""
        if self.proc is not None and self.proc.poll() is None:
            await stop_process(self.proc, signal.SIGKILL, 5)

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, workdir: Path, password: str | None = None
    ) -> AsyncIterator[RedisServer]:
        """A started private Redis, stopped on exit."""
        binary = shutil.which("redis-server")
        if binary is None:
            needs("Redis", "redis-server is not on PATH")
        server = cls(binary, workdir, password)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


class SourcedApi(Api):
    """An Api client whose connections leave from `local_address` (127.0.0.x)."""

    def __init__(self, base_url: str, token: str | None, local_address: str = "127.0.0.1") -> None:
        self.base_url = base_url
        self.token = token
        timeout = aiohttp.ClientTimeout(total=10)
        connector = aiohttp.TCPConnector(local_addr=(local_address, 0))
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout)


def admin(url: str, local_address: str = "127.0.0.1", sub: str = "alice") -> SourcedApi:
    """An Api signed in as `sub`, calling url from local_address."""
    return SourcedApi(url, make_token(sub), local_address)


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.05
) -> float:
    """Polls check until true; returns the seconds it took, or fails after timeout."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(interval)
    return time.monotonic() - started


async def metric(url: str, name: str) -> float:
    """The value of an unlabelled metric in url's /metrics."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(f"{url}/metrics") as resp:
            text = await resp.text()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in {url}/metrics"
    return float(found[1])


async def socket_stats(url: str) -> dict[str, Any]:
    """GET /api/stats/socket on one worker."""
    async with admin(url) as api:
        reply = await api.call("GET", "/api/stats/socket")
    assert reply.status == 200, reply.body
    return reply.body  # type: ignore[no-any-return]


async def joined_viewers(
    stack: contextlib.AsyncExitStack, url: str, share_token: str, count: int = 1
) -> list[Viewer]:
    """`count` python-socketio viewers connected straight to url, joined to the room."""

    async def one() -> Viewer:
        viewer = await Viewer(url).connect()
        stack.push_async_callback(viewer.close)
        ack = await viewer.join(share_token)
        assert ack["ok"] is True, ack
        return viewer

    return list(await asyncio.gather(*(one() for _ in range(count))))


def versions(received: Sequence[tuple[str, Any]], timer_id: str) -> list[int]:
    """Versions of a timer's updates and finish, in the order a viewer received them."""
    names = ("timer-update", "timer-finished")
    return [data["version"] for name, data in received if name in names and data["id"] == timer_id]


async def stop_all(workers: Sequence[ServerProcess]) -> None:
    """Stops the still running workers together (teardown would stop them one by one)."""
    await asyncio.gather(*(w.stop() for w in workers if w.returncode is None and w.proc))
