"""What roomtimer adds to python-engineio, on an Engine.IO server with no Socket.IO on top."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import engineio
import pytest
import pytest_asyncio
from aiohttp import web

from roomtimer.realtime.engine import prepare_engine


@dataclass
class Engine:
    eio: engineio.AsyncServer
    url: str


@pytest_asyncio.fixture(params=["fast", "stock-path"])
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[Engine]:
    """An echo Engine.IO server at /engine.io/ with roomtimer's additions (either path)."""
    eio = engineio.AsyncServer(async_mode="aiohttp", ping_interval=25, ping_timeout=20)

    async def message(sid: str, data: object) -> None:
        await eio.send(sid, data)

    eio.on("message", message)
    prepare_engine(eio, fast=request.param == "fast", hooks_ok=True)
    app = web.Application()
    eio.attach(app)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Engine(eio, f"http://127.0.0.1:{port}/engine.io/?EIO=4&transport=polling")
    finally:
        await runner.cleanup()


async def open_session(http: aiohttp.ClientSession, engine: Engine) -> str:
    async with http.get(engine.url) as reply:
        sid: str = json.loads((await reply.text())[1:])["sid"]
    return f"{engine.url}&sid={sid}"


async def parked(
    http: aiohttp.ClientSession, engine: Engine, url: str
) -> "asyncio.Task[aiohttp.ClientResponse]":
    """A long-poll, once the server holds it (its queue's consumer waiting)."""
    pending = asyncio.create_task(http.get(url))
    [socket] = engine.eio.sockets.values()
    async with asyncio.timeout(5):  # parked: fast path's queue, or stock's asyncio.Queue
        while not (getattr(socket.queue, "parked", 0) or getattr(socket.queue, "_getters", None)):
            await asyncio.sleep(0.01)
    return pending


async def test_a_client_that_closes_has_its_pending_long_poll_answered_noop_at_once(
    engine: Engine,
) -> None:
    async with aiohttp.ClientSession() as http:
        url = await open_session(http, engine)
        pending = await parked(http, engine, url)
        async with http.post(url, data="1") as reply:  # CLOSE from the client
            assert (reply.status, await reply.text()) == (200, "OK")
        started = time.monotonic()
        async with asyncio.timeout(5):
            answer = await pending
        assert time.monotonic() - started < 1.0
        assert (answer.status, await answer.text()) == (200, "6")  # NOOP, as the protocol says
        async with http.get(url) as reply:
            assert reply.status == 400  # the session is gone


async def test_a_server_that_closes_a_polling_socket_still_answers_close(engine: Engine) -> None:
    async with aiohttp.ClientSession() as http:
        url = await open_session(http, engine)
        pending = await parked(http, engine, url)
        [sid] = engine.eio.sockets
        await engine.eio.disconnect(sid)
        async with asyncio.timeout(5):
            answer = await pending
        assert (answer.status, await answer.text()) == (200, "1")  # CLOSE, no NOOP before it
