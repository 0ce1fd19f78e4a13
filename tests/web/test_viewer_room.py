"""The viewer screen follows the room itself: timers come and go, renames, deletion, a new link."""

from typing import Any

from tests.support.app import Api
from tests.support.server import ServerProcess
from tests.web.browser import open_viewer

NOTICE = "() => document.querySelector('#notice .title').textContent"


async def test_follows_timers_and_room_changes(
    server: ServerProcess, api: Api, browser: Any
) -> None:
    room = await api.room(name="Main hall")
    viewer = await open_viewer(browser, f"{server.url}/v/{room['shareToken']}")
    assert await viewer.page.evaluate(NOTICE) == "No timers yet"

    first = await api.timer(room["id"], label="Keynote", durationMs=300_000, position=1)
    await viewer.wait_timer("t.label === 'Keynote' && t.text === '5:00'")
    await api.timer(room["id"], label="Intro", durationMs=60_000, position=0)
    await viewer.wait("() => window.roomtimer.snapshot().timers.length === 2")
    labels = await viewer.page.locator(".timer .label").all_inner_texts()
    assert labels == ["Intro", "Keynote"]  # by position, as the room orders them
    assert not await viewer.page.locator("#notice").is_visible()

    await api.call("PUT", f"/api/timers/{first['id']}", {"label": "Opening keynote"})
    await viewer.wait_timer("t.label === 'Opening keynote'")
    await api.call("PUT", f"/api/rooms/{room['id']}", {"name": "Hall B"})
    await viewer.wait("() => document.getElementById('room-name').textContent === 'Hall B'")
    await api.call("DELETE", f"/api/timers/{first['id']}")
    await viewer.wait("() => window.roomtimer.snapshot().timers.length === 1")

    await api.call("DELETE", f"/api/rooms/{room['id']}")
    await viewer.wait(f"() => {NOTICE}() === 'This room has been closed'")
    snapshot = await viewer.snapshot()
    assert (snapshot["connected"], snapshot["timers"]) == (False, [])
    # Closed is not an outage: no reconnecting indicator, no reconnect attempts.
    assert await viewer.page.locator("#connection").is_hidden()
    assert await viewer.page.evaluate("() => document.querySelectorAll('.timer').length") == 0
    assert viewer.errors() == []


async def test_replaced_share_link_stops_the_screen(
    server: ServerProcess, api: Api, browser: Any
) -> None:
    room = await api.room()
    await api.timer(room["id"])
    viewer = await open_viewer(browser, f"{server.url}/v/{room['shareToken']}")
    await api.call("POST", f"/api/rooms/{room['id']}/share-token")
    await viewer.wait(f"() => {NOTICE}() === 'This screen’s link no longer works'")
    snapshot = await viewer.snapshot()
    assert (snapshot["connected"], snapshot["timers"]) == (False, [])
    assert await viewer.page.locator("#connection").is_hidden()
    assert viewer.errors() == []
