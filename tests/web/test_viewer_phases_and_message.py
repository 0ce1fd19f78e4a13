"""Phases, room message and blackout on the viewer screen, against the real server.

Saves docs/viewer-warning.png, docs/viewer-message.png and docs/viewer-blackout.png.
"""

from pathlib import Path
from typing import Any

from tests.support.app import Api
from tests.support.server import ServerProcess
from tests.web.browser import ViewerPage, open_viewer

COLOURS = {
    "idle": "rgb(170, 179, 194)",
    "running": "rgb(255, 255, 255)",
    "paused": "rgb(124, 196, 255)",
    "warning": "rgb(255, 197, 61)",
    "danger": "rgb(255, 77, 66)",
    "overtime": "rgb(255, 77, 66)",
}
# Logs every phase a row takes with the true time it was drawn at.
RECORD_PHASES = """
() => {
  window.phaseLog = [];
  const log = () => {
    const phase = document.querySelector(".timer")?.dataset.phase ?? null;
    if (window.phaseLog.at(-1)?.phase !== phase) {
      window.phaseLog.push({ phase, at: performance.timeOrigin + performance.now() });
    }
  };
  new MutationObserver(log).observe(document.getElementById("timers"),
    { subtree: true, childList: true, attributes: true, attributeFilter: ["data-phase"] });
  log();
}
"""


async def wait_colour(viewer: ViewerPage, phase: str) -> None:
    """Waits until the first row is in `phase` and its digits have that phase's colour."""
    await viewer.wait(
        """([phase, colour]) => {
          const row = document.querySelector(".timer");
          return row?.dataset.phase === phase
            && getComputedStyle(row.querySelector(".digits")).color === colour;
        }""",
        [phase, COLOURS[phase]],
    )


async def put_message(api: Api, room_id: str, **body: Any) -> dict[str, Any]:
    reply = await api.call("PUT", f"/api/rooms/{room_id}/message", body)
    assert reply.status == 200, reply.body
    return reply.body  # type: ignore[no-any-return]


async def test_phases_start_at_their_thresholds(
    server: ServerProcess, api: Api, browser: Any
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"], label="Talk", durationMs=3_000, warnAtMs=2_000)
    assert (timer["warnAtMs"], timer["dangerAtMs"], timer["finishedAt"]) == (2_000, None, None)
    reply = await api.call("PUT", f"/api/timers/{timer['id']}", {"dangerAtMs": 1_000})
    assert reply.body["dangerAtMs"] == 1_000
    viewer = await open_viewer(browser, f"{server.url}/v/{room['shareToken']}")
    await viewer.wait_timer("t.phase === 'idle' && t.remainingMs === 3000")
    await viewer.page.evaluate(RECORD_PHASES)

    ends_at = (await api.command(timer["id"], "start")).body["endsAt"]
    await viewer.wait_timer("t.phase === 'overtime' && t.remainingMs < -200", timeout_s=8)
    log = await viewer.page.evaluate("() => window.phaseLog")
    assert [entry["phase"] for entry in log] == ["idle", "running", "warning", "danger", "overtime"]
    seen = {entry["phase"]: entry["at"] for entry in log}
    for phase, ideal in (
        ("warning", ends_at - 2_000),
        ("danger", ends_at - 1_000),
        ("overtime", ends_at),
    ):
        assert -10 <= seen[phase] - ideal <= 60, (phase, seen[phase] - ideal)
    assert viewer.errors() == []


async def test_phase_colours(server: ServerProcess, api: Api, browser: Any, docs_dir: Path) -> None:
    room = await api.room(name="Main hall")
    timer = await api.timer(
        room["id"], label="Keynote", durationMs=1_200_000, warnAtMs=300_000, dangerAtMs=60_000
    )
    viewer = await open_viewer(
        browser, f"{server.url}/v/{room['shareToken']}?clock=1", viewport=(1920, 1080)
    )
    await wait_colour(viewer, "idle")
    await api.command(timer["id"], "start")
    await wait_colour(viewer, "running")
    await api.command(timer["id"], "adjust", {"deltaMs": -1_000_000})  # 3:20 left
    await wait_colour(viewer, "warning")
    await viewer.screenshot(docs_dir / "viewer-warning.png")
    await api.command(timer["id"], "adjust", {"deltaMs": -170_000})  # 0:30 left
    await wait_colour(viewer, "danger")
    await api.command(timer["id"], "pause")
    await wait_colour(viewer, "paused")
    # Thresholds removed: the same 0:30 is plain running time.
    await api.call("PUT", f"/api/timers/{timer['id']}", {"warnAtMs": None, "dangerAtMs": None})
    await api.command(timer["id"], "start")
    await wait_colour(viewer, "running")
    await api.command(timer["id"], "adjust", {"deltaMs": -40_000})  # finishes it at once
    await wait_colour(viewer, "overtime")
    assert viewer.errors() == []


async def test_message_and_blackout(
    server: ServerProcess, api: Api, browser: Any, docs_dir: Path
) -> None:
    room = await api.room(name="Main hall")
    timer = await api.timer(room["id"], label="Keynote", durationMs=1_500_000)
    await api.command(timer["id"], "start")
    url = f"{server.url}/v/{room['shareToken']}"
    viewer = await open_viewer(browser, url, viewport=(1920, 1080))
    state = (await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)).body
    assert state["message"] == {"text": "", "visible": False, "blackout": False, "updatedAt": None}

    sent = await put_message(api, room["id"], text="Please wrap up", visible=True)
    assert {k: sent[k] for k in ("text", "visible", "blackout")} == {
        "text": "Please wrap up",
        "visible": True,
        "blackout": False,
    }
    await viewer.wait(
        "() => document.getElementById('message-text').textContent === 'Please wrap up'"
    )
    assert await viewer.page.locator("#message").is_visible()
    assert len((await viewer.snapshot())["timers"]) == 1  # the message does not hide the timer
    await viewer.screenshot(docs_dir / "viewer-message.png")
    # A screen that joins now gets the message with the room's state.
    late = await open_viewer(browser, url)
    assert await late.page.locator("#message-text").inner_text() == "Please wrap up"

    await put_message(api, room["id"], text="Please wrap up", visible=False)
    await viewer.wait("() => document.getElementById('message').hidden")

    await put_message(api, room["id"], text="", visible=False, blackout=True)
    await viewer.wait("() => window.roomtimer.snapshot().timers.length === 0")
    assert await viewer.page.locator(".timer").count() == 0
    assert not await viewer.page.locator("#notice").is_visible()
    await put_message(api, room["id"], text="Back in 5 minutes", visible=True, blackout=True)
    await viewer.wait("() => !document.getElementById('message').hidden")
    await viewer.screenshot(docs_dir / "viewer-blackout.png")

    await put_message(api, room["id"], text="", visible=False, blackout=False)
    await viewer.wait_timer("t.phase === 'running'")
    assert await viewer.page.locator("#message").is_hidden()
    assert viewer.errors() == [] and late.errors() == []
