"""examples/webhook_receiver.py, the README's receiver, against real deliveries."""

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.support.app import Api, RunningApp
from tests.support.services import REPO_ROOT, free_port, stop_process, wait_for_port

EXAMPLE = REPO_ROOT / "examples" / "webhook_receiver.py"
SECRET = "the-example-receivers-secret"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite only: the subject is the example, not the database."""
    return sqlite_url


@pytest_asyncio.fixture
async def example(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """The example receiver as its README runs it; yields its URL and its stdout file."""
    port = free_port()
    out = tmp_path / "receiver.out"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLE), "--port", str(port)],
            env={"WEBHOOK_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        await wait_for_port(port, deadline_s=10, alive=proc)
        yield f"http://127.0.0.1:{port}/hook", out
    finally:
        await stop_process(proc, 15, 5)


async def until(api: Api, hook_id: str, check: Any) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            log = (await api.call("GET", f"/api/webhooks/{hook_id}/deliveries")).body
            if log["deliveries"] and check(log["deliveries"][0]):
                return log["deliveries"][0]  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def test_the_example_receiver_accepts_signed_deliveries_and_refuses_others(
    start_app: Any, example: tuple[str, Path]
) -> None:
    url, out = example
    app: RunningApp = await start_app(WEBHOOK_ALLOW_PRIVATE="true")
    async with Api(app.url, app.token()) as api:
        room = await api.room()
        good = {"url": url, "events": ["timer.created"], "secret": SECRET}
        hook = (await api.call("POST", f"/api/rooms/{room['id']}/webhooks", good)).body
        timer = await api.timer(room["id"])
        entry = await until(api, hook["id"], lambda d: d["status"] == "delivered")
        assert entry["responseStatus"] == 204
        [line] = out.read_text().splitlines()
        assert json.loads(line) == {
            "delivery": entry["id"],
            "event": "timer.created",
            "roomId": room["id"],
        }
        assert timer["roomId"] == room["id"]
        wrong = {"url": url, "events": ["timer.started"], "secret": "not-the-receivers-secret"}
        forged = (await api.call("POST", f"/api/rooms/{room['id']}/webhooks", wrong)).body
        await api.command(timer["id"], "start")
        refused = await until(api, forged["id"], lambda d: d["responseStatus"] is not None)
        assert (refused["responseStatus"], refused["status"]) == (401, "pending")
        assert len(out.read_text().splitlines()) == 1  # nothing acted on
