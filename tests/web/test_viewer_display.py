"""What the viewer screen shows of a timer through its life, and the ?timer and ?delay options."""

from typing import Any

from tests.support.app import Api
from tests.support.server import ServerProcess
from tests.web.browser import ViewerPage, open_viewer, shown_text

# Logs every change of the digits with the true time it was drawn at.
RECORD_DIGITS = """
() => {
  window.digitLog = [];
  const log = () => {
    const node = document.querySelector(".timer .digits");
    const text = node ? node.textContent : null;
    const last = window.digitLog.at(-1);
    if (!last || last.text !== text) {
      window.digitLog.push({ text, at: performance.timeOrigin + performance.now() });
    }
  };
  new MutationObserver(log).observe(document.getElementById("timers"),
    { subtree: true, childList: true, characterData: true });
  log();
}
"""


def row(timer: dict[str, Any]) -> tuple[str, str, str]:
    return timer["label"], timer["text"], timer["phase"]


async def digits(viewer: ViewerPage) -> list[str]:
    return await viewer.page.locator(".timer .digits").all_inner_texts()


async def test_idle_running_paused_adjusted_reset(
    server: ServerProcess, api: Api, browser: Any
) -> None:
    room = await api.room()
    keynote = await api.timer(room["id"], label="Keynote", durationMs=600_000)
    await api.timer(room["id"], label="Workshop", durationMs=5_400_000)
    viewer = await open_viewer(browser, f"{server.url}/v/{room['shareToken']}")

    shown = (await viewer.snapshot())["timers"]
    assert [row(t) for t in shown] == [
        ("Keynote", "10:00", "idle"),
        ("Workshop", "1:30:00", "idle"),
    ]
    assert [t["remainingMs"] for t in shown] == [600_000, 5_400_000]
    assert await digits(viewer) == ["10:00", "1:30:00"]
    assert await viewer.page.locator(".timer .tag").all_inner_texts() == ["READY", "READY"]

    started = (await api.command(keynote["id"], "start")).body
    await viewer.wait_timer("t.label === 'Keynote' && t.phase === 'running'")
    snapshot, at = await viewer.read()
    remaining = snapshot["timers"][0]["remainingMs"]
    assert abs(remaining - (started["endsAt"] - at)) < 20
    assert snapshot["timers"][0]["text"] == shown_text(remaining)
    # The first second shows the full duration; then the digits count down by themselves.
    await viewer.wait("() => document.querySelector('.timer .digits').textContent === '9:59'")

    paused = (await api.command(keynote["id"], "pause")).body
    held = await viewer.wait_timer("t.label === 'Keynote' && t.phase === 'paused'")
    assert held["remainingMs"] == paused["remainingMs"]
    assert held["text"] == shown_text(paused["remainingMs"])
    assert (await digits(viewer))[0] == held["text"]
    assert (await viewer.page.locator(".timer .tag").all_inner_texts())[0] == "PAUSED"

    adjusted = (await api.command(keynote["id"], "adjust", {"deltaMs": 60_000})).body
    more = await viewer.wait_timer(f"t.remainingMs === {adjusted['remainingMs']}")
    assert more["text"] == shown_text(adjusted["remainingMs"])
    assert more["text"].startswith("10:5")

    await api.command(keynote["id"], "start")
    ends_at = (await api.command(keynote["id"], "adjust", {"deltaMs": -120_000})).body["endsAt"]
    await viewer.wait_timer(f"t.phase === 'running' && t.remainingMs < {ends_at} - Date.now() + 50")
    snapshot, at = await viewer.read()
    assert abs(snapshot["timers"][0]["remainingMs"] - (ends_at - at)) < 20

    await api.command(keynote["id"], "reset")
    back = await viewer.wait_timer("t.label === 'Keynote' && t.phase === 'idle'")
    assert (back["text"], back["remainingMs"]) == ("10:00", 600_000)
    assert viewer.errors() == []


async def test_zero_then_overtime_counts_up(server: ServerProcess, api: Api, browser: Any) -> None:
    room = await api.room()
    timer = await api.timer(room["id"], label="Break", durationMs=2_000)
    viewer = await open_viewer(browser, f"{server.url}/v/{room['shareToken']}")
    await viewer.page.evaluate(RECORD_DIGITS)

    started = (await api.command(timer["id"], "start")).body
    ends_at = started["endsAt"]
    late = await viewer.wait_timer("t.text === '+0:01'", timeout_s=8)
    assert late["phase"] == "overtime"
    assert -2_000 < late["remainingMs"] <= -1_000

    # Each text appears at its true instant: 0:01 with one second left, +0:00 at zero.
    log = await viewer.page.evaluate("() => window.digitLog")
    first_seen = {entry["text"]: entry["at"] for entry in reversed(log)}
    texts = [entry["text"] for entry in log]
    assert texts[texts.index("0:02") :] == ["0:02", "0:01", "+0:00", "+0:01"]
    assert "0:00" not in texts  # zero is an instant, not a second
    for text, ideal in (("0:01", ends_at - 1_000), ("+0:00", ends_at), ("+0:01", ends_at + 1_000)):
        assert -10 <= first_seen[text] - ideal <= 60, (text, first_seen[text] - ideal)

    # The server has finished it by now; overtime keeps counting from its finishedAt.
    state = (await api.call("GET", f"/api/rooms/{room['shareToken']}", token=None)).body
    assert state["timers"][0]["status"] == "finished"
    snapshot, at = await viewer.read()
    shown = snapshot["timers"][0]
    assert abs(shown["remainingMs"] - (state["timers"][0]["finishedAt"] - at)) < 20
    assert shown["text"] == shown_text(shown["remainingMs"])
    overtime = viewer.page.locator(".timer[data-phase='overtime']")
    assert await overtime.locator(".tag").inner_text() == "OVERTIME"
    assert viewer.errors() == []


async def test_timer_option_shows_one_timer(server: ServerProcess, api: Api, browser: Any) -> None:
    room = await api.room()
    await api.timer(room["id"], label="Keynote")
    chosen = await api.timer(room["id"], label="Panel", durationMs=1_800_000)
    url = f"{server.url}/v/{room['shareToken']}?timer={chosen['id']}"
    viewer = await open_viewer(browser, url)
    snapshot = await viewer.snapshot()
    assert [(t["id"], t["text"]) for t in snapshot["timers"]] == [(chosen["id"], "30:00")]
    assert await digits(viewer) == ["30:00"]

    await api.call("DELETE", f"/api/timers/{chosen['id']}")
    await viewer.wait("() => window.roomtimer.snapshot().timers.length === 0")
    notice = viewer.page.locator("#notice .title")
    assert await notice.inner_text() == "Waiting for this timer…"
    assert viewer.errors() == []


async def test_delay_option_shows_the_room_late(
    server: ServerProcess, api: Api, browser: Any
) -> None:
    room = await api.room()
    timer = await api.timer(room["id"], label="Stream", durationMs=600_000)
    url = f"{server.url}/v/{room['shareToken']}"
    live = await open_viewer(browser, url)
    late = await open_viewer(browser, url + "?delay=1500")
    await late.wait_timer("t.phase === 'idle'")  # the state it joined with, 1.5 s later

    await api.command(timer["id"], "start")
    await live.wait_timer("t.phase === 'running'")
    (still,) = (await late.snapshot())["timers"]
    assert (still["phase"], still["text"]) == ("idle", "10:00")
    await late.wait_timer("t.phase === 'running'", timeout_s=5)
    (now_live, live_at), (now_late, late_at) = await live.read(), await late.read()
    # The late screen shows what the live one showed 1.5 s before.
    live_ends = now_live["timers"][0]["remainingMs"] + live_at
    late_ends = now_late["timers"][0]["remainingMs"] + late_at
    assert abs(late_ends - live_ends - 1_500) < 20

    paused = (await api.command(timer["id"], "pause")).body
    await live.wait_timer("t.phase === 'paused'")
    assert (await late.snapshot())["timers"][0]["phase"] == "running"
    held = await late.wait_timer("t.phase === 'paused'", timeout_s=5)
    assert held["remainingMs"] == paused["remainingMs"]
    assert (await late.snapshot())["connected"] is True
    assert live.errors() == [] and late.errors() == []
