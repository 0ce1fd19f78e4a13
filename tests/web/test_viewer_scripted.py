"""The page against a scripted Socket.IO peer, for what no real server sends on cue.

A version older than the one held arrives after a reconnect to a worker that is behind;
the real server cannot be made to do that on demand, so a peer that speaks the contract's
payloads plays it. Everything else is tested against real servers.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from tests.web.browser import open_viewer
from tests.web.scripted import TOKEN, ScriptedPeer, now_ms, scripted_peer, timer


@pytest_asyncio.fixture
async def peer() -> AsyncIterator[ScriptedPeer]:
    async with scripted_peer() as running:
        yield running


async def test_older_versions_are_dropped(peer: ScriptedPeer, browser: Any) -> None:
    peer.timers = [timer(version=4)]
    viewer = await open_viewer(browser, f"{peer.url}/v/{TOKEN}")
    running = timer(status="running", endsAt=now_ms() + 300_000, version=6)
    await peer.emit("timer-update", running)
    await viewer.wait_timer("t.phase === 'running'")
    await peer.emit("timer-update", timer(status="paused", remainingMs=1_000, version=5))
    await peer.emit("timer-update", timer(status="paused", remainingMs=2_000, version=6))
    # A later event proves the two before it were handled (and dropped).
    await peer.emit("timer-created", timer(id="t-2", label="Marker", position=1))
    await viewer.wait_timer("t.label === 'Marker'")
    assert (await viewer.snapshot())["timers"][0]["phase"] == "running"
    assert viewer.errors() == []
