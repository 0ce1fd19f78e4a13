"""Headless Chromium pages of the viewer screen, with their console and a shifted clock."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, ConsoleMessage, Page, WebSocket

# The device clock of a page, off by `shift` ms: Date.now and performance.timeOrigin both
# move, as they do on a screen whose clock is wrong (performance.now() stays monotonic).
SHIFT_CLOCK = """
(() => {
  const shift = %d;
  const realNow = Date.now;
  Date.now = () => realNow.call(Date) + shift;
  const origin = performance.timeOrigin + shift;
  Object.defineProperty(Performance.prototype, "timeOrigin", {
    get: () => origin, configurable: true,
  });
})();
"""

# One snapshot and the true epoch time it was taken at (the page's clock minus its shift).
READ = """
(shift) => {
  const snapshot = window.roomtimer.snapshot();
  return { snapshot, at: performance.timeOrigin + performance.now() - shift };
}
"""

LIVE = "() => window.roomtimer?.snapshot().connected === true"
TWO_FRAMES = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
# Sizes fitted and fonts in: what a screenshot should wait for.
SETTLED = """() => document.fonts.status === "loaded"
  && [...document.querySelectorAll(".timer .digits")].every((d) => d.style.fontSize)"""


@dataclass
class ViewerPage:
    """A page and everything it logged."""

    page: Page
    shift_ms: int = 0
    console: list[str] = field(default_factory=list)
    websockets: list[WebSocket] = field(default_factory=list)

    async def snapshot(self) -> dict[str, Any]:
        """window.roomtimer.snapshot()."""
        return await self.page.evaluate("() => window.roomtimer.snapshot()")  # type: ignore[no-any-return]

    async def read(self) -> tuple[dict[str, Any], float]:
        """A snapshot and the true epoch ms at which it was taken."""
        found = await self.page.evaluate(READ, self.shift_ms)
        return found["snapshot"], found["at"]

    async def wait(self, predicate: str, arg: Any = None, timeout_s: float = 10) -> Any:
        """Waits until the JS function `predicate(arg)` returns something truthy, then until
        the screen has drawn it (snapshot() answers for the instant, the DOM at each frame)."""
        handle = await self.page.wait_for_function(predicate, arg=arg, timeout=timeout_s * 1000)
        found = await handle.json_value()
        await self.page.evaluate(TWO_FRAMES)
        return found

    async def wait_live(self, timeout_s: float = 10) -> None:
        """Waits until the page is connected, joined and clock-synced."""
        await self.wait(LIVE, timeout_s=timeout_s)

    async def wait_timer(self, check: str, timeout_s: float = 10) -> dict[str, Any]:
        """Waits until a shown timer `t` satisfies the JS expression `check`; returns it."""
        found: dict[str, Any] = await self.wait(
            f"() => window.roomtimer?.snapshot().timers.find((t) => {check}) ?? false",
            timeout_s=timeout_s,
        )
        return found

    async def screenshot(self, path: Path) -> None:
        """Saves what the screen shows once its fonts are in and its sizes fitted."""
        await self.wait(SETTLED)
        await self.page.screenshot(path=path)

    def errors(self, ignore: tuple[str, ...] = ()) -> list[str]:
        """Console errors and uncaught exceptions, but those containing an `ignore` string."""
        return [line for line in self.console if not any(part in line for part in ignore)]


async def open_viewer(
    browser: Browser,
    url: str,
    *,
    shift_ms: int = 0,
    viewport: tuple[int, int] = (1280, 720),
    scale: float = 1,
    wait_live: bool = True,
    **context_options: Any,
) -> ViewerPage:
    """A new page in its own context (own clock) at url, live unless told otherwise."""
    context = await browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]},
        device_scale_factor=scale,
        **context_options,
    )
    if shift_ms:
        await context.add_init_script(SHIFT_CLOCK % shift_ms)
    page = await context.new_page()
    viewer = ViewerPage(page, shift_ms)

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            viewer.console.append(f"console.{message.type}: {message.text} {message.location}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: viewer.console.append(f"pageerror: {exc}"))
    page.on("websocket", lambda socket: viewer.websockets.append(socket))
    await page.goto(url)
    if wait_live:
        await viewer.wait_live()
    return viewer


def server_remaining(timer: dict[str, Any], at_ms: float) -> float:
    """The server's remaining time of a running timer at true epoch ms `at_ms`."""
    return float(timer["endsAt"]) - at_ms


def now_ms() -> float:
    """True epoch ms (the server's clock: same machine)."""
    return time.time() * 1000


def dumps(value: Any) -> str:
    """JSON for messages."""
    return json.dumps(value, indent=1)


def shown_text(remaining_ms: float) -> str:
    """The digits the screen must show: seconds rounded up counting down, down in overtime."""
    if remaining_ms >= 0:
        total, sign = math.ceil(remaining_ms / 1000), ""
    else:
        total, sign = math.floor(-remaining_ms / 1000), "+"
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m}:{s:02d}"
