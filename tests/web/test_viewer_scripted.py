"""The page against a scripted peer: phases, colours, message, blackout, stale versions.

The real server does not send thresholds or room messages yet (issue 11's API); these pin
the page to the contract's payloads meanwhile. test_viewer_api_parts.py checks the same
against the real server once the API lands.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from tests.web.browser import ViewerPage, open_viewer
from tests.web.scripted import TOKEN, ScriptedPeer, now_ms, scripted_peer, timer

COLOURS = {
    "running": "rgb(255, 255, 255)",
    "warning": "rgb(255, 197, 61)",
    "danger": "rgb(255, 77, 66)",
}
ROW = """() => {
  const row = document.querySelector(".timer");
  return row && [row.dataset.phase, getComputedStyle(row.querySelector(".digits")).color];
}"""


@pytest_asyncio.fixture
async def peer() -> AsyncIterator[ScriptedPeer]:
    async with scripted_peer() as running:
        yield running


async def row_is(viewer: ViewerPage, phase: str) -> None:
    await viewer.wait(
        f"() => {{ const r = ({ROW})(); return r && r[0] === '{phase}'"
        f" && r[1] === '{COLOURS[phase]}'; }}"
    )


async def test_thresholds_set_phase_and_colour(peer: ScriptedPeer, browser: Any) -> None:
    ends_at = now_ms() + 600_000
    peer.timers = [timer(status="running", endsAt=ends_at, warnAtMs=120_000, dangerAtMs=30_000)]
    viewer = await open_viewer(browser, f"{peer.url}/v/{TOKEN}")
    await row_is(viewer, "running")
    for version, left, phase in ((2, 90_000, "warning"), (3, 20_000, "danger")):
        update = timer(
            status="running",
            endsAt=now_ms() + left,
            version=version,
            warnAtMs=120_000,
            dangerAtMs=30_000,
        )
        await peer.emit("timer-update", update)
        await row_is(viewer, phase)
        shown = (await viewer.snapshot())["timers"][0]
        assert shown["phase"] == phase and shown["remainingMs"] <= left
    assert viewer.errors() == []


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


async def test_message_and_blackout(peer: ScriptedPeer, browser: Any) -> None:
    peer.timers = [timer(status="running", endsAt=now_ms() + 600_000)]
    peer.message = {"text": "Doors open", "visible": True, "blackout": False, "updatedAt": None}
    viewer = await open_viewer(browser, f"{peer.url}/v/{TOKEN}", viewport=(1280, 720))
    # The message in RoomState is shown from the start.
    assert await viewer.page.locator("#message-text").inner_text() == "Doors open"
    message = {
        "text": "Please wrap up",
        "visible": True,
        "blackout": False,
        "updatedAt": "2026-01-01T10:05:00.000Z",
    }
    await peer.emit("room-message", message)
    await viewer.wait(
        "() => document.getElementById('message-text').textContent === 'Please wrap up'"
    )
    assert len((await viewer.snapshot())["timers"]) == 1
    await peer.emit("room-message", {**message, "blackout": True})
    await viewer.wait("() => window.roomtimer.snapshot().timers.length === 0")
    assert await viewer.page.locator(".timer").count() == 0
    assert await viewer.page.locator("#message-text").is_visible()
    await peer.emit("room-message", {**message, "visible": False, "blackout": True})
    await viewer.wait("() => document.getElementById('message').hidden")
    assert not await viewer.page.locator("#notice").is_visible()  # a black screen, on purpose
    await peer.emit("room-message", {**message, "visible": False, "blackout": False})
    await viewer.wait_timer("t.phase === 'running'")
    assert viewer.errors() == []
