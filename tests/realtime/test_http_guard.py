"""Slow and idle HTTP connections time out; unfinished ones are capped per address.

Raw sockets stand in for a slowloris client (heads and bodies sent in part, or a byte at a
time); 127.0.0.2, 127.0.0.3… for different client addresses. The servers run with 1 s
timeouts, so every bound here is a second or two.
"""

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from loguru import logger

from roomtimer import keys
from roomtimer.app import create_app
from roomtimer.config import Settings
from roomtimer.infra import db
from roomtimer.realtime import compat, http_guard
from tests.middleware.helpers import http_request
from tests.support.app import JWT_SECRET, Api, Viewer, make_token, settings_for
from tests.support.server import ServerProcess
from tests.support.streams import EventStream
from tests.test_deploy import image_command

TIMEOUT_S = 1.0
# What "within the timeout" allows for the test client's own scheduling.
SLACK_S = 1.0
FAST = {
    "HTTP_HEADER_TIMEOUT": "1",
    "HTTP_BODY_TIMEOUT": "1",
    "HTTP_KEEPALIVE_TIMEOUT": "1",
    "JWT_SECRET": JWT_SECRET,
    "RATE_LIMIT_MAX_REQUESTS": "100000",
}
KEEPALIVE_S = 2.5
HEAD = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"


async def connect(
    port: int, source: str = "127.0.0.2"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the server from `source`."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_by_server(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, drip: bytes = b""
) -> tuple[float, bytes]:
    """Seconds until the server closes the connection, and what it sent meanwhile.

    With `drip`, one such byte goes out every 100 ms while waiting (a slowloris client).
    Gives up (and returns the time waited) a few seconds past the timeouts.
    """
    started, received = time.monotonic(), b""
    give_up = started + KEEPALIVE_S + SLACK_S + 2  # still open then: the caller's bound fails
    try:
        while time.monotonic() < give_up:
            try:
                wait = 0.1 if drip else give_up - time.monotonic()
                chunk = await asyncio.wait_for(reader.read(65536), max(wait, 0.0))
            except TimeoutError:
                writer.write(drip)
                continue
            if not chunk:
                break
            received += chunk
    except ConnectionError:
        pass  # a reset is a close too
    finally:
        writer.close()
    return time.monotonic() - started, received


async def closes(url: str) -> dict[str, float]:
    """roomtimer_http_connections_closed_total by reason, from the server's /metrics."""
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as reply:
        text = await reply.text()
    found = re.findall(
        r'^roomtimer_http_connections_closed_total\{reason="(\w+)"\} (\S+)$', text, re.M
    )
    return {reason: float(value) for reason, value in found}


async def half_head(port: int) -> tuple[float, float, bytes]:
    """Connects from 127.0.0.2 and sends a head without its end: (sent at, closed at, answer)."""
    reader, writer = await connect(port)
    writer.write(HEAD)  # no blank line: the head never ends
    sent = time.monotonic()
    seconds, received = await closed_by_server(reader, writer)
    return sent, sent + seconds, received


async def half_heads_are_closed(server: ServerProcess) -> None:
    """300 heads half sent from 127.0.0.2 are closed unanswered within the head timeout,
    while another client is served."""
    held = asyncio.gather(*(half_head(server.port) for _ in range(300)))
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.get(server.url + "/health/live") as reply:
                assert reply.status == 200
    served = time.monotonic()
    results = await held
    took = [closed - sent for sent, closed, _ in results]
    assert all(received == b"" for _, _, received in results)
    assert served < min(closed for _, closed, _ in results)
    # Their deadline runs from accept, a little before the test wrote: bounded from above.
    assert max(took) < TIMEOUT_S + SLACK_S, max(took)


async def test_300_half_sent_heads_are_closed_after_the_header_timeout_under_gunicorn(
    tmp_path: Path,
) -> None:
    env = {**FAST, "HTTP_KEEPALIVE_TIMEOUT": "30"}  # only the head deadline can close them
    async with ServerProcess(env, workdir=tmp_path, command=image_command()) as server:
        await half_heads_are_closed(server)
        assert await closes(server.url) == {"head_timeout": 300}


async def engineio_session(session: aiohttp.ClientSession, url: str) -> str:
    """A Socket.IO session over long-polling only, connected to the default namespace."""
    async with session.get(url, params={"EIO": "4", "transport": "polling"}) as reply:
        sid = json.loads((await reply.text())[1:])["sid"]
    params = {"EIO": "4", "transport": "polling", "sid": sid}
    async with session.post(url, params=params, data="40") as reply:
        assert reply.status == 200
    async with session.get(url, params=params) as reply:
        assert (await reply.text()).startswith("40")
    return sid


async def test_roomtimer_serve_cuts_slow_and_idle_connections_and_keeps_long_requests(
    tmp_path: Path,
) -> None:
    # Keep-alive longer than the head and body deadlines, so each is seen to act alone.
    env = {**FAST, "HTTP_KEEPALIVE_TIMEOUT": str(KEEPALIVE_S)}
    async with (
        ServerProcess(env, workdir=tmp_path) as server,
        Api(server.url, make_token("alice")) as api,
        aiohttp.ClientSession() as session,
    ):
        await half_heads_are_closed(server)
        room = await api.room()
        timer = await api.timer(room["id"])
        share = room["shareToken"]
        # Held open on purpose, each longer than every timeout:
        viewer = await Viewer(server.url, transports=["websocket"]).connect()
        assert (await viewer.join(share))["ok"] is True
        stream = EventStream(await session.get(f"{server.url}/api/rooms/{share}/events"))
        assert (await stream.next() or ("",))[0] == "room-state"
        polling = server.url + "/socket.io/"
        sid = await engineio_session(session, polling)
        params = {"EIO": "4", "transport": "polling", "sid": sid}
        long_poll = asyncio.create_task(session.get(polling, params=params))
        opened = time.monotonic()

        # Cut: a body promised and dripped, a head dripped, a kept-alive idle connection.
        reader, writer = await connect(server.port)
        auth = {"Authorization": f"Bearer {make_token('alice')}", "Content-Length": "1000"}
        writer.write(http_request("POST", "/api/rooms", auth, b"{"))
        slow_body = asyncio.create_task(closed_by_server(reader, writer, drip=b" "))
        reader, writer = await connect(server.port)
        writer.write(b"GET /health/live HTTP/1.1\r\n")
        slow_head = asyncio.create_task(closed_by_server(reader, writer, drip=b"X"))
        reader, writer = await connect(server.port)
        writer.write(HEAD + b"\r\n")
        await reader.readuntil(b"\r\n\r\n")
        idle = asyncio.create_task(closed_by_server(reader, writer))
        for task, what in [(slow_body, "body"), (slow_head, "head")]:
            seconds, received = await task
            assert seconds < TIMEOUT_S + SLACK_S, (what, seconds)
            assert received == b"", what  # closed without an answer
        seconds, _ = await idle
        # Not the head deadline (1 s): the keep-alive one, from the answer on.
        assert KEEPALIVE_S - 1.0 < seconds < KEEPALIVE_S + SLACK_S, seconds
        assert await closes(server.url) == {"head_timeout": 301, "body_timeout": 1}

        # Held past every timeout: the long requests are still open and still deliver.
        await asyncio.sleep(max(0.0, KEEPALIVE_S + 0.5 - (time.monotonic() - opened)))
        assert not long_poll.done()
        async with session.post(polling, params=params, data='42["ping"]') as reply:
            assert reply.status == 200
        async with await long_poll as reply:
            assert '42["pong"' in await reply.text()
        assert (await api.command(timer["id"], "start")).status == 200
        assert (await viewer.next("timer-update"))["status"] == "running"
        assert (await stream.until("timer-update"))["status"] == "running"
        await viewer.client.disconnect()
        stream.response.close()


@contextlib.asynccontextmanager
async def guarded_app(settings: Settings) -> AsyncIterator[tuple[web.AppRunner, int]]:
    """The app in this process, served by `http_guard.runner` as `roomtimer serve` does."""
    await db.migrate(settings.database_url)
    app = create_app(settings)
    runner = http_guard.runner(app, settings, app[keys.metrics], shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner, runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def answers(port: int, source: str) -> bool:
    """Whether a whole request from `source` gets 200."""
    reader, writer = await connect(port, source)
    writer.write(HEAD + b"Connection: close\r\n\r\n")
    try:
        async with asyncio.timeout(5):
            return (await reader.read()).startswith(b"HTTP/1.1 200")
    except ConnectionError:
        return False
    finally:
        writer.close()


async def test_unfinished_connections_are_capped_per_address_but_not_for_trusted_proxies(
    sqlite_url: str,
) -> None:
    settings = settings_for(
        sqlite_url, HTTP_MAX_PENDING_PER_ADDRESS="5", TRUSTED_PROXIES="127.0.0.4"
    )
    async with guarded_app(settings) as (runner, port):
        assert isinstance(runner, http_guard.GuardedRunner)
        held = [await connect(port) for _ in range(5)]
        for _, writer in held:
            writer.write(HEAD)
        reader, writer = await connect(port)  # the sixth from 127.0.0.2: closed at once
        seconds, received = await closed_by_server(reader, writer)
        assert received == b"" and seconds < SLACK_S
        assert await answers(port, "127.0.0.3")  # another address is served
        proxy = [await connect(port, "127.0.0.4") for _ in range(8)]
        for _, writer in proxy:
            writer.write(HEAD)
        assert await answers(port, "127.0.0.4")  # the proxy carries many clients
        reader, writer = held[0]
        writer.write(b"\r\n")  # one head finished: its slot is free
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        assert await answers(port, "127.0.0.2")
        assert await closes(f"http://127.0.0.1:{port}") == {"too_many_pending": 1}
        for _, writer in held + proxy:
            writer.close()


async def test_a_changed_aiohttp_serves_on_its_stock_runner_with_one_warning(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if aiohttp gave Server slots: the guard could not make its handlers.
    monkeypatch.setattr(web.Server, "__slots__", (), raising=False)
    assert compat.check_http_guard().missing == ("aiohttp Server._loop/_kwargs/request_factory",)
    messages: list[str] = []
    sink = logger.add(messages.append, level="WARNING", format="{message}")
    try:
        settings = settings_for(sqlite_url, HTTP_KEEPALIVE_TIMEOUT="1")
        async with guarded_app(settings) as (runner, port):
            assert type(runner) is web.AppRunner
            assert await answers(port, "127.0.0.2")
            reader, writer = await connect(port)
            writer.write(HEAD + b"\r\n")
            await reader.readuntil(b"\r\n\r\n")
            seconds, _ = await closed_by_server(reader, writer)  # keep-alive still applies
            assert seconds < TIMEOUT_S + SLACK_S
    finally:
        logger.remove(sink)
    named = [m for m in messages if "Server._loop/_kwargs/request_factory" in m]
    assert len(named) == 1, messages
