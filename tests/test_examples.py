"""README's minimal viewers (examples/), run as a reader would run them, follow a room."""

import asyncio
import contextlib
import json
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.support import needs
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


async def test_the_readme_walkthrough_runs_a_timer(server_factory: Any, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        needs("curl", "curl is not on PATH (apt-get install curl)")
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("### What to open after the quick start") :]
    script = section[section.index("```sh\n") + 6 : section.index("```\n")]
    server = await server_factory({}, workdir=tmp_path)  # the development secret, as `make run`
    script = script.replace(".venv/bin/roomtimer", str(Path(sys.executable).with_name("roomtimer")))
    script = script.replace("http://127.0.0.1:3000", server.url)
    env = {**os.environ, "ROOMTIMER_DATA_DIR": str(tmp_path / "data")}
    env.pop("JWT_SECRET", None)
    proc = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", script, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    text, documents, at = out.decode(), [], 0
    while at < len(text.rstrip()):  # curl prints one JSON body after another, unseparated
        document, at = json.JSONDecoder().raw_decode(text, at)
        documents.append(document)
    state = documents[-1]  # the screens' view, last
    [timer] = state["timers"]
    assert (timer["label"], timer["status"]) == ("Keynote", "running")
