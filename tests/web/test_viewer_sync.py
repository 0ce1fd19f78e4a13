"""Screens with wrong clocks agree with the server; a lost server is shown, then recovered."""

import asyncio
import time
from pathlib import Path
from typing import Any

from tests.support.app import Api, make_token
from tests.support.server import ServerProcess
from tests.web.browser import open_viewer

SHIFTS_MS = (0, 7_000, -3_000)
# A network failure while the server is down is logged by Chromium itself, not the page.
NETWORK_NOISE = ("net::ERR_CONNECTION_REFUSED", "WebSocket connection to")
# The time of day shown, and the true one now and a second ago (the last frame may be older).
TIME_OF_DAY = """(shift) => {
  const at = performance.timeOrigin + performance.now() - shift;
  const hms = (ms) => new Date(ms).toTimeString().slice(0, 8);
  return [document.getElementById("time-of-day").textContent, hms(at), hms(at - 1000)];
}"""
DOWN = """() => {
  const snapshot = window.roomtimer.snapshot();
  return !snapshot.connected && !document.getElementById("connection").hidden
    && document.getElementById("screen").classList.contains("stale")
    && snapshot.timers.length === 1;
}"""


async def test_three_shifted_clocks_agree_with_the_server(
    server: ServerProcess, api: Api, browser: Any
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"], label="Keynote", durationMs=600_000)
    url = f"{server.url}/v/{room['shareToken']}"
    viewers = [await open_viewer(browser, url + "?clock=1", shift_ms=s) for s in SHIFTS_MS]
    for viewer in viewers:
        # Each page measured its own clock's error against the server's.
        offset = (await viewer.snapshot())["offsetMs"]
        assert abs(offset + viewer.shift_ms) < 5, (viewer.shift_ms, offset)

        # ?clock=1 shows the server's time of day, not the device's wrong one.
        shown, *true_times = await viewer.page.evaluate(TIME_OF_DAY, viewer.shift_ms)
        assert shown in true_times, (viewer.shift_ms, shown, true_times)

    ends_at = (await api.command(timer["id"], "start")).body["endsAt"]
    for viewer in viewers:
        await viewer.wait_timer("t.phase === 'running'")
    for _ in range(5):
        reads = await asyncio.gather(*(viewer.read() for viewer in viewers))
        for viewer, (snapshot, at) in zip(viewers, reads, strict=True):
            remaining = snapshot["timers"][0]["remainingMs"]
            assert abs(remaining - (ends_at - at)) < 20, (viewer.shift_ms, remaining, ends_at - at)
        # Away from a second's edge, the three screens show the same digits.
        if all(25 < (ends_at - at) % 1000 < 975 for _, at in reads):
            assert len({snapshot["timers"][0]["text"] for snapshot, _ in reads}) == 1
    for viewer in viewers:
        assert viewer.errors() == []


async def test_server_restart_is_shown_then_recovered(
    server: ServerProcess, api: Api, browser: Any, docs_dir: Path
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"], label="Keynote", durationMs=600_000)
    await api.command(timer["id"], "start")
    viewer = await open_viewer(browser, f"{server.url}/v/{room['shareToken']}")
    await viewer.wait_timer("t.phase === 'running'")

    await server.stop()
    # Within 3 s: the indicator shows and the countdown is marked stale, not shown as live.
    await viewer.wait(DOWN, timeout_s=3)
    assert await viewer.page.locator(".timer .tag").inner_text() == "NOT LIVE"
    assert await viewer.page.locator("#connection").is_visible()
    await viewer.page.screenshot(path=docs_dir / "viewer-offline.png")

    await server.start()
    up = time.monotonic()
    # Changed while the page may still be away: the page must learn it by resyncing.
    async with Api(server.url, make_token("alice")) as fresh:
        paused = (await fresh.command(timer["id"], "pause")).body
    wanted = f"""() => {{
      const s = window.roomtimer.snapshot();
      return s.connected && s.timers[0]?.phase === "paused"
        && s.timers[0].remainingMs === {paused["remainingMs"]}
        && document.getElementById("connection").hidden
        && !document.getElementById("screen").classList.contains("stale");
    }}"""
    await viewer.wait(wanted, timeout_s=5 - (time.monotonic() - up))
    assert await viewer.page.locator(".timer .tag").inner_text() == "PAUSED"
    assert viewer.errors(ignore=NETWORK_NOISE) == []
