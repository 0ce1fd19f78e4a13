"""README's minimal viewers (examples/), run as a reader would run them, follow a room."""

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from tests.support.app import Api, RunningApp, run_app, settings_for
from tests.support.services import JS_DIR, REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"


@contextlib.asynccontextmanager
async def viewer(
    argv: list[str], env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The example as a child process, killed on exit."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def shows(proc: asyncio.subprocess.Process, pattern: str, timeout: float = 10) -> str:
    """Reads lines until one matches pattern; returns it."""
    assert proc.stdout is not None
    async with asyncio.timeout(timeout):
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, "the viewer exited"
            if re.search(pattern, line):
                return line


async def follows_a_show(app: RunningApp, argv: list[str], env: dict[str, str] | None) -> None:
    async with Api(app.url, app.token()) as api:
        room = await api.room()
        timer = await api.timer(room["id"], label="Keynote", durationMs=600_000)
        async with viewer([*argv, app.url, room["shareToken"]], env) as proc:
            await shows(proc, r"^Keynote idle 10:00$")
            assert (await api.command(timer["id"], "start")).status == 200
            await shows(proc, r"^Keynote running (10:00|9:5\d)$")
            assert (await api.command(timer["id"], "pause")).status == 200
            await shows(proc, r"^Keynote paused (10:00|9:5\d)$")


async def test_the_python_viewer_follows_a_room(sqlite_url: str) -> None:
    async with run_app(settings_for(sqlite_url)) as app:
        await follows_a_show(app, [sys.executable, str(EXAMPLES / "viewer.py")], None)


async def test_the_javascript_viewer_follows_a_room(sqlite_url: str, js_client_ready: Path) -> None:
    env = {"NODE_PATH": str(JS_DIR / "node_modules")}
    async with run_app(settings_for(sqlite_url)) as app:
        await follows_a_show(app, ["node", str(EXAMPLES / "viewer.js")], env)
