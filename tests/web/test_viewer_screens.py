"""The screen fills any viewport, and the pictures of it in docs/ (taken here, not drawn)."""

import base64
from pathlib import Path
from typing import Any

from tests.support.app import Api
from tests.support.server import ServerProcess
from tests.web.browser import SETTLED, open_viewer

# A page of its own, so the overlay is shown over a checkerboard without touching the viewer.
CHECKERBOARD = """<!doctype html><html><body style="margin:0;
background: repeating-conic-gradient(#6b7079 0 25%, #8d929b 0 50%) 0 0 / 40px 40px">
<img style="display:block" src="data:image/png;base64,{png}"></body></html>"""
BOXES = """() => [...document.querySelectorAll(".timer .digits, .timer .head")].map((node) => {
  const box = node.getBoundingClientRect();
  return { cls: node.className, left: box.left, right: box.right, top: box.top,
           bottom: box.bottom, width: box.width, height: box.height };
})"""
VIEWPORTS = [(1920, 1080), (390, 844), (844, 390), (320, 240), (3840, 600), (600, 1600)]


async def test_longest_text_fits_any_viewport(
    server: ServerProcess, api: Api, browser: Any
) -> None:
    room = await api.room()
    await api.timer(
        room["id"], label="Opening remarks by the festival director", durationMs=600_000
    )
    await api.timer(room["id"], label="Workshop", durationMs=36_000_000)
    viewer = await open_viewer(browser, f"{server.url}/v/{room['shareToken']}")
    for width, height in VIEWPORTS:
        await viewer.page.set_viewport_size({"width": width, "height": height})
        await viewer.wait(f"() => window.innerWidth === {width}")
        await viewer.wait(SETTLED)
        boxes = await viewer.page.evaluate(BOXES)
        for box in boxes:
            assert box["left"] >= 0 and box["right"] <= width, (width, height, box)
            assert box["top"] >= 0 and box["bottom"] <= height, (width, height, box)
        digits = [box for box in boxes if box["cls"] == "digits"]
        # Large: the widest text ("10:00:00") spans most of the width, or the rows' height.
        assert (
            max(d["width"] for d in digits) > 0.6 * width
            or min(d["height"] for d in digits) > 0.25 * height
        ), (width, height, digits)
    assert viewer.errors() == []


async def test_screenshots_for_the_readme(
    server: ServerProcess, api: Api, browser: Any, docs_dir: Path
) -> None:
    room = await api.room(name="Main hall")
    url = f"{server.url}/v/{room['shareToken']}"
    keynote = await api.timer(room["id"], label="Keynote", durationMs=1_200_000)
    await api.command(keynote["id"], "start")
    await api.command(keynote["id"], "adjust", {"deltaMs": -77_600})
    panel = await api.timer(room["id"], label="Panel", durationMs=2_700_000)
    for command in ("start", "pause"):
        await api.command(panel["id"], command)
    await api.command(panel["id"], "adjust", {"deltaMs": -1_362_000})
    await api.timer(room["id"], label="Q&A", durationMs=900_000)
    over = await api.timer(room["id"], label="Speaker 3", durationMs=1_000)
    await api.command(over["id"], "start")

    main = await open_viewer(browser, f"{url}?timer={keynote['id']}&clock=1", viewport=(1920, 1080))
    await main.screenshot(docs_dir / "viewer.png")

    grid = await open_viewer(browser, url, viewport=(1920, 1080))
    # Into overtime (its first ten seconds: a window a slow page load cannot miss).
    await grid.wait_timer("t.label === 'Speaker 3' && t.text.startsWith('+0:0')")
    await grid.screenshot(docs_dir / "viewer-grid.png")
    # Four timers on a wide screen: two columns give larger digits than four rows.
    columns = "() => getComputedStyle(document.getElementById('timers')).gridTemplateColumns"
    assert len((await grid.page.evaluate(columns)).split()) == 2

    for gone in (over, panel):
        await api.call("DELETE", f"/api/timers/{gone['id']}")
    await grid.wait("() => window.roomtimer.snapshot().timers.length === 2")
    phone = await open_viewer(browser, url, viewport=(390, 844), scale=2)
    await phone.screenshot(docs_dir / "viewer-phone.png")

    overlay = await open_viewer(
        browser, f"{url}?transparent=1&timer={keynote['id']}", viewport=(1280, 720)
    )
    await overlay.wait(SETTLED)
    png = await overlay.page.screenshot(omit_background=True)
    board = await browser.new_page(viewport={"width": 1280, "height": 720})
    await board.set_content(CHECKERBOARD.format(png=base64.b64encode(png).decode()))
    await board.screenshot(path=docs_dir / "viewer-overlay.png")
    await board.close()

    late = await api.timer(room["id"], label="Speaker 4", durationMs=1_000)
    await api.command(late["id"], "start")
    alone = await open_viewer(browser, f"{url}?timer={late['id']}", viewport=(1280, 720))
    await alone.wait_timer("t.text.startsWith('+0:0')")
    await alone.screenshot(docs_dir / "viewer-overtime.png")

    missing = await open_viewer(
        browser, f"{server.url}/v/no-such-room", viewport=(1280, 720), wait_live=False
    )
    await missing.wait("() => document.fonts.status === 'loaded'")
    assert await missing.page.locator("h1").inner_text() == "This room doesn’t exist (any more)"
    # Styled by the shipped stylesheet and font, not the browser's defaults.
    style = await missing.page.evaluate(
        """() => [getComputedStyle(document.body).backgroundColor,
                  [...document.fonts].some((f) => f.weight === "700" && f.status === "loaded")]"""
    )
    assert style == ["rgb(0, 0, 0)", True]
    await missing.page.screenshot(path=docs_dir / "viewer-404.png")
    for viewer in (main, grid, phone, overlay, alone):
        assert viewer.errors() == []
    # The document's own 404 is the only thing Chromium reports there.
    assert all("status of 404" in line for line in missing.errors())
