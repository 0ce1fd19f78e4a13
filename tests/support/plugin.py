"""Pytest fixtures for the real external servers; registered by tests/conftest.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.support import services
from tests.support.cluster import RedisServer
from tests.support.jsclient import JsViewer
from tests.support.server import ServerProcess
from tests.support.services import NginxProcess, needs

StartServer = Callable[..., Awaitable[ServerProcess]]
StartNginx = Callable[..., Awaitable[NginxProcess]]
StartViewer = Callable[..., Awaitable[JsViewer]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` run first: with several workers, a long test started last would
    keep the whole run waiting for it alone."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable


@pytest_asyncio.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A private Redis of the test's own, which it may stop, start again or lose."""
    async with RedisServer.running(tmp_path / "redis") as server:
        yield server


@pytest_asyncio.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A throwaway empty PostgreSQL database (postgresql://… URL), dropped after the test."""
    base = services.database_url()
    if why := await services.probe_postgres(base):
        needs("PostgreSQL", why)
    url = await services.create_database(base)
    try:
        yield url
    finally:
        await services.drop_database(base, url)


@pytest_asyncio.fixture
async def redis_url() -> AsyncIterator[str]:
    """The test Redis URL, its database flushed before and after the test."""
    url = services.redis_url()
    if why := await services.probe_redis(url):
        needs("Redis", why)
    await services.flush_redis(url)
    yield url
    await services.flush_redis(url)


@pytest.fixture
def nginx_bin() -> str:
    """The nginx executable."""
    found = services.find_nginx()
    if found is None:
        needs("Nginx", "nginx is not installed (apt-get install nginx)")
    return found


@pytest.fixture
def chromium_bin() -> str:
    """The Chromium executable."""
    found = services.find_chromium()
    if found is None:
        needs("Chromium", "chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture
def node_bin() -> str:
    """The node executable."""
    found = services.find_node()
    if found is None:
        needs("Node socket.io-client", "node is not on PATH")
    return found


@pytest.fixture
def js_client_ready(node_bin: str) -> Path:
    """tests/js/viewer.js, once node and its socket.io-client are installed."""
    if why := services.js_client_missing():
        needs("Node socket.io-client", why)
    return services.VIEWER_JS


@pytest_asyncio.fixture
async def nginx_factory(nginx_bin: str, tmp_path: Path) -> AsyncIterator[StartNginx]:
    """`await start(conf_text, ports=None, workdir=None)` → a running nginx, stopped after."""
    async with contextlib.AsyncExitStack() as stack:
        count = 0

        async def start(
            conf_text: str, *, ports: list[int] | None = None, workdir: Path | None = None
        ) -> NginxProcess:
            nonlocal count
            count += 1
            where = workdir or tmp_path / f"nginx-{count}"
            proc = await services.start_nginx(conf_text, where, ports=ports, nginx=nginx_bin)
            stack.push_async_callback(proc.stop)
            return proc

        yield start


@pytest_asyncio.fixture
async def server_factory(tmp_path: Path) -> AsyncIterator[StartServer]:
    """`await start(env=None, port=None, workdir=None, command=None)` → a started ServerProcess,
    closed after."""
    async with contextlib.AsyncExitStack() as stack:
        count = 0

        async def start(
            env: Mapping[str, str] | None = None,
            *,
            port: int | None = None,
            workdir: Path | None = None,
            command: Sequence[str] | None = None,
        ) -> ServerProcess:
            nonlocal count
            count += 1
            where = workdir or tmp_path / f"server-{count}"
            server = ServerProcess(env, port=port, workdir=where, command=command)
            stack.push_async_callback(server.close)
            return await server.start()

        yield start


@pytest_asyncio.fixture
async def js_viewers(js_client_ready: Path) -> AsyncIterator[StartViewer]:
    """`await start(url, transports=None, auth=None, local_address=None, …)` → JsViewer."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(url: str, *args: Any, **kwargs: Any) -> JsViewer:
            viewer = await JsViewer.start(url, *args, **kwargs)
            stack.push_async_callback(viewer.close)
            return viewer

        yield start
