"""The embedded SQLite file locked by another process, or read-only: writes answer 503
`unavailable` within 5 s, reads go on, and writes work again once the fault is gone,
with no restart of roomtimer."""

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from tests.support.app import Api, run_app, settings_for
from tests.support.cluster import (
    StartServer,
    admin,
    cluster_env,
    joined_viewers,
    versions,
    wait_until,
)
from tests.support.outage import ANSWER_S, Answer, assert_unavailable_or_ok
from tests.support.services import needs

# Another process's write transaction on the file, held until a line arrives on stdin.
LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


async def timed(api: Api, method: str, path: str, body: Any = None) -> Answer:
    sent = time.monotonic()
    reply = await api.call(method, path, body)
    return Answer(sent, time.monotonic() - sent, f"{method} {path}", reply.status, reply.body)


@contextlib.asynccontextmanager
async def write_locked(db_file: Path) -> AsyncIterator[None]:
    """`BEGIN EXCLUSIVE` held on db_file by a separate sqlite3 process for the block."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCKER, str(db_file),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"locked\n"
        yield
        proc.stdin.write(b"release\n")
        await proc.stdin.drain()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_write_locked_file_gives_503_within_5_s_and_writes_resume_after(
    tmp_path: Path, server_factory: StartServer
) -> None:
    db_file = tmp_path / "roomtimer.db"
    server = await server_factory(cluster_env(f"sqlite:///{db_file}"))
    async with contextlib.AsyncExitStack() as stack:
        api = await stack.enter_async_context(admin(server.url))
        room = await api.room()
        timers = [await api.timer(room["id"], label=f"Talk {n}") for n in range(3)]
        (viewer,) = await joined_viewers(stack, server.url, room["shareToken"])
        async with write_locked(db_file):
            # Commands on every timer at once: each waits for the lock, or for the one
            # connection another is holding while it waits, and is told so in time.
            answers = await asyncio.gather(
                *(timed(api, "POST", f"/api/timers/{t['id']}/start") for t in timers)
            )
            assert_unavailable_or_ok(answers, "commands on a locked file")
            assert {a.status for a in answers} == {503}, answers
            print(f"locked: slowest answer {max(a.took for a in answers):.2f} s")
            read = await timed(api, "GET", f"/api/rooms/{room['shareToken']}")  # WAL: readers go on
            assert read.status == 200 and read.took < ANSWER_S, read
            assert [t["version"] for t in read.body["timers"]] == [t["version"] for t in timers]
        for timer in timers:
            started = await api.command(timer["id"], "start")
            assert started.status == 200, started.body
            assert started.body["version"] == timer["version"] + 1  # the 503s left nothing

        async def viewer_follows() -> bool:
            return all(t["version"] + 1 in versions(viewer.received, t["id"]) for t in timers)

        await wait_until(viewer_follows, 3, "the viewer gets the commands after the lock")
    assert "unhandled error" not in server.stderr(), server.stderr()[-3000:]


def without_override() -> list[str] | None:
    """The command that runs the server as root without CAP_DAC_OVERRIDE (so a file mode
    binds it as it binds any user), or None when we are not root (a mode is enough then).
    The same user keeps the same interpreter: `nobody` could not even read a virtualenv
    whose Python lives under root's home."""
    if os.geteuid() != 0:
        return None
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        needs("setpriv", "setpriv (util-linux) is needed to drop root's override of file modes")
    drop = ["--inh-caps=-dac_override", "--bounding-set=-dac_override"]
    return [setpriv, *drop, "--", sys.executable, "-m", "roomtimer", "serve"]


@pytest_asyncio.fixture
async def folder() -> AsyncIterator[Path]:
    """A folder outside pytest's tmp_path, which is root's only."""
    made = Path(tempfile.mkdtemp(prefix="roomtimer-ro-"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


async def test_a_read_only_file_gives_503_on_writes_and_writes_resume_with_permission(
    folder: Path, server_factory: StartServer
) -> None:
    """Why the server runs without CAP_DAC_OVERRIDE under root: root writes any file
    whatever its mode, so a read-only file is only read-only to a process without that
    capability. setpriv drops it (from the bounding set too) and execs the server: our
    child is the server itself.

    The file is read-only before the server opens it, as a restored backup or a wrong
    deploy leaves it: an open connection keeps the access it was opened with, so a chmod
    under a running server changes nothing until the file is opened again."""
    command = without_override()
    db_file = folder / "roomtimer.db"
    url = f"sqlite:///{db_file}"
    async with run_app(settings_for(url)) as seeding:  # the schema and a timer, as root
        async with Api(seeding.url, seeding.token("alice")) as api:
            room = await api.room()
            timer = await api.timer(room["id"])
    db_file.chmod(0o444)
    server = await server_factory(cluster_env(url), command=command)
    async with admin(server.url) as api:
        answers = [await timed(api, "POST", f"/api/timers/{timer['id']}/start") for _ in range(2)]
        answers.append(await timed(api, "POST", "/api/rooms", {"name": "Another"}))
        assert_unavailable_or_ok(answers, "writes to a read-only file")
        assert {a.status for a in answers} == {503}, answers
        read = await timed(api, "GET", f"/api/rooms/{room['shareToken']}")
        assert read.status == 200 and read.body["timers"][0]["version"] == timer["version"]
        assert (await timed(api, "GET", "/api/rooms")).status == 200

        # SQLite made the -wal and -shm it created as read-only as the file: all three.
        for path in folder.iterdir():
            path.chmod(0o644)
        started = await timed(api, "POST", f"/api/timers/{timer['id']}/start")
        assert started.status == 200, started  # the same process: the file reopened
        assert started.body["version"] == timer["version"] + 1
    assert "unhandled error" not in server.stderr(), server.stderr()[-3000:]
