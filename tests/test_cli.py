"""The command line: serve's refusals and shutdown, the development secret, token, migrate."""

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import socketio
from alembic.script import ScriptDirectory

from roomtimer.config import database_url as async_url
from roomtimer.infra import db
from tests.support.app import JWT_SECRET, Api, Viewer, make_token
from tests.support.server import SERVER_ENV_VARS, ServerProcess
from tests.support.services import free_port, port_open

StartServer = Callable[..., Awaitable[ServerProcess]]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


async def roomtimer(*args: str, env: dict[str, str], cwd: Path, timeout: float = 30) -> Run:
    """Runs `python -m roomtimer ARGS` with only `env` as its settings."""
    environ = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_VARS}
    environ.update(env, ROOMTIMER_DATA_DIR=str(cwd / "data"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "roomtimer", *args,
        env=environ, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


@pytest.mark.parametrize("variable", ["APP_ENV", "NODE_ENV"])
async def test_serve_refuses_production_without_a_secret(tmp_path: Path, variable: str) -> None:
    port = free_port()
    env = {variable: "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'rt.db'}"}
    run = await roomtimer("serve", "--port", str(port), env=env, cwd=tmp_path)
    assert run.returncode != 0
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "JWT_SECRET" in run.stderr
    assert not await port_open(port)


async def test_development_secret_is_shared_by_serve_and_token(
    server_factory: StartServer, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'rt.db'}"}
    # Started together, as `make run` and a first `roomtimer token` may be: one secret wins.
    server, run = await asyncio.gather(
        server_factory(env), roomtimer("token", "--sub", "x", env=env, cwd=tmp_path)
    )
    assert "JWT_SECRET is not set" in server.stderr()
    assert [p.name for p in (tmp_path / "db").glob(".jwt-secret*")] == [".jwt-secret"]
    assert run.returncode == 0, run.stderr
    token = run.stdout.strip()
    assert "\n" not in token
    async with Api(server.url, token) as client:
        reply = await client.call("GET", "/api/rooms")
        assert (reply.status, reply.body["rooms"]) == (200, [])
        forged = await client.call("GET", "/api/rooms", token=make_token("x"))
        assert forged.status == 401


async def test_token_claims_and_refusals(tmp_path: Path) -> None:
    env = {"JWT_SECRET": JWT_SECRET, "DATABASE_URL": f"sqlite:///{tmp_path / 'rt.db'}"}
    issued, no_ttl, no_sub = await asyncio.gather(
        roomtimer("token", "--sub", "stage-1", "--ttl", "120", env=env, cwd=tmp_path),
        roomtimer("token", "--sub", "x", "--ttl", "0", env=env, cwd=tmp_path),
        roomtimer("token", "--sub", "", env=env, cwd=tmp_path),
    )
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "stage-1"
    assert claims["exp"] - claims["iat"] == 120
    assert abs(claims["iat"] - time.time()) < 60
    for refused in (no_ttl, no_sub):
        assert refused.returncode == 2
        assert refused.stdout == ""
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


async def test_migrate_brings_the_database_to_the_head(tmp_path: Path, database_url: str) -> None:
    env = {"JWT_SECRET": JWT_SECRET, "DATABASE_URL": database_url}
    run = await roomtimer("migrate", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    engine = db.create_engine(async_url(database_url, tmp_path))
    try:
        async with engine.connect() as conn:
            version = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
            rooms = (await conn.exec_driver_sql("SELECT count(*) FROM rooms")).scalar()
    finally:
        await engine.dispose()
    head = ScriptDirectory.from_config(db.alembic_config()).get_current_head()
    assert (version, rooms) == ([(head,)], 0)


async def post_room(url: str, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Sends a whole POST /api/rooms on a fresh connection, without reading the answer."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"name": "Late arrival"}'
    head = (
        f"POST /api/rooms HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    return reader, writer


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 10
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)


SIGNALS = pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])


async def refuses_connections(server: ServerProcess) -> None:
    async def closed() -> bool:
        return not await port_open(server.port)

    await wait_until(closed, "it stopped accepting connections")


async def exit_code(server: ServerProcess) -> int:
    """Waits for a server told to stop to exit (signalling it again would be a second request)."""

    async def exited() -> bool:
        return server.returncode is not None

    await wait_until(exited, "it exited")
    assert server.returncode is not None
    return server.returncode


@SIGNALS
async def test_shutdown_finishes_the_request_in_flight_and_exits_0(
    server_factory: StartServer, tmp_path: Path, sig: int
) -> None:
    db_file = tmp_path / "rt.db"
    env = {"JWT_SECRET": JWT_SECRET, "DATABASE_URL": f"sqlite:///{db_file}", "LOG_LEVEL": "DEBUG"}
    server = await server_factory(env)
    inserts = server.stderr().count("INSERT INTO rooms")
    # A writer holding the database keeps the next request in flight, inside its handler.
    blocker = sqlite3.connect(db_file, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        reader, writer = await post_room(server.url, make_token("alice"))

        async def request_waits_on_the_database() -> bool:
            return server.stderr().count("INSERT INTO rooms") > inserts  # aiosqlite's debug log

        await wait_until(request_waits_on_the_database, "the request reached the database")
        assert server.proc is not None
        server.proc.send_signal(sig)
        await refuses_connections(server)
        blocker.execute("ROLLBACK")
        response = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
    finally:
        blocker.close()
    assert response.startswith(b"HTTP/1.1 201 "), response

    assert await exit_code(server) == 0, server.stderr()[-3000:]
    assert "Traceback" not in server.stderr()
    assert "roomtimer stopped" in server.stderr()


@SIGNALS
async def test_shutdown_disconnects_viewers_at_once(
    server_factory: StartServer, tmp_path: Path, sig: int
) -> None:
    env = {"JWT_SECRET": JWT_SECRET, "DATABASE_URL": f"sqlite:///{tmp_path / 'rt.db'}"}
    server = await server_factory(env)
    async with Api(server.url, make_token("alice")) as client:
        room = await client.room()
    viewer = await Viewer(server.url).connect()
    reasons: asyncio.Queue[str] = asyncio.Queue()
    viewer.client.on("disconnect", lambda reason: reasons.put_nowait(reason))
    try:
        assert (await viewer.join(room["shareToken"]))["ok"] is True
        assert server.proc is not None
        server.proc.send_signal(sig)
        await refuses_connections(server)
        # The connection is closed (not the namespace), so the client would reconnect.
        reason = await asyncio.wait_for(reasons.get(), 3)
        assert reason != socketio.AsyncClient.reason.CLIENT_DISCONNECT
        assert await exit_code(server) == 0
    finally:
        server.kill()  # a hung shutdown must not hold the suite for its timeout
        await viewer.close()


def test_a_serving_process_collects_young_objects_less_often_and_freezes_its_startup() -> None:
    # In a child: the settings are process-wide, and pytest's own process keeps the defaults.
    code = (
        "import gc\n"
        "from roomtimer.gc_tuning import YOUNG_THRESHOLD, tune_for_serving\n"
        "before, tracked = gc.get_threshold(), len(gc.get_objects())\n"
        "tune_for_serving()\n"
        "after = gc.get_threshold()\n"
        "assert after == (YOUNG_THRESHOLD, *before[1:]) and after[0] > before[0], (before, after)\n"
        "assert gc.get_freeze_count() >= tracked // 2, (gc.get_freeze_count(), tracked)\n"
        "garbage = []\n"
        "garbage.append(garbage)\n"
        "del garbage\n"
        "assert gc.collect() >= 1  # cycles made after startup are still collected\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


async def test_version(tmp_path: Path) -> None:
    run = await roomtimer("--version", env={}, cwd=tmp_path)
    assert run.returncode == 0
    assert re.fullmatch(r"roomtimer \d+\.\d+\.\d+\S*\n", run.stdout), run.stdout


# A process where uvloop cannot be imported, as on Windows (no wheel there).
WITHOUT_UVLOOP = (
    "import sys; sys.modules['uvloop'] = None\n"
    "from roomtimer.cli import main\n"
    "raise SystemExit(main(['serve']))\n"
)


@pytest.mark.parametrize("uvloop", [True, False], ids=["uvloop", "no-uvloop"])
async def test_the_startup_line_names_the_loop_and_where_the_data_lives(
    server_factory: StartServer, tmp_path: Path, uvloop: bool
) -> None:
    env = {"JWT_SECRET": JWT_SECRET, "ROOMTIMER_DATA_DIR": str(tmp_path / "kept")}
    command = None if uvloop else [sys.executable, "-c", WITHOUT_UVLOOP]
    server = await server_factory(env, command=command)
    async with Api(server.url, None) as api:
        assert (await api.call("GET", "/health")).status == 200
    [line] = [line for line in server.stderr().splitlines() if "serving on" in line]
    assert f"SQLite at {tmp_path / 'kept' / 'roomtimer.db'}" in line, line
    assert ("uvloop event loop" if uvloop else "asyncio event loop") in line, line


async def test_serve_on_a_taken_port_says_so_in_one_line(tmp_path: Path) -> None:
    taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    try:
        env = {"JWT_SECRET": JWT_SECRET, "APP_ENV": "production"}
        run = await roomtimer("serve", "--port", str(port), env=env, cwd=tmp_path)
    finally:
        taken.close()
        await taken.wait_closed()
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    [line] = [line for line in run.stderr.splitlines() if "cannot listen" in line]
    assert f"127.0.0.1:{port}" in line and "in use" in line, line
