"""How the viewer screen connects: a websocket (through the shipped Nginx too), else polling."""

import asyncio
import time
from pathlib import Path
from typing import Any

import socketio

from tests.support import free_port
from tests.support.app import Api
from tests.support.cluster import write_nginx_files
from tests.support.plugin import StartNginx
from tests.support.server import ServerProcess
from tests.web.browser import open_viewer

# A proxy that passes HTTP but answers every websocket handshake with 403.
REFUSING_PROXY = """
events {{}}
http {{
  server {{
    listen 127.0.0.1:{port};
    location / {{
      if ($http_upgrade) {{ return 403; }}
      proxy_pass http://127.0.0.1:{upstream};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
    }}
  }}
}}
"""


async def shows_the_start(viewer: Any, api: Api, timer_id: str) -> None:
    """Starts the timer; the page shows it running, within 20 ms of the server's time left."""
    ends_at = (await api.command(timer_id, "start")).body["endsAt"]
    await viewer.wait_timer("t.phase === 'running'")
    snapshot, at = await viewer.read()
    assert abs(snapshot["timers"][0]["remainingMs"] - (ends_at - at)) < 20


async def test_page_works_behind_the_shipped_nginx(
    server: ServerProcess, api: Api, browser: Any, nginx_factory: StartNginx, tmp_path: Path
) -> None:
    port = free_port()
    conf = write_nginx_files(tmp_path / "nginx", port, [server.port])
    await nginx_factory(conf, workdir=tmp_path / "nginx")
    room = await api.room()
    timer = await api.timer(room["id"], label="Keynote")

    viewer = await open_viewer(browser, f"http://127.0.0.1:{port}/v/{room['shareToken']}")
    await shows_the_start(viewer, api, timer["id"])
    # The page's policy let it upgrade to a websocket through Nginx, and it stays open.
    upgraded = [ws for ws in viewer.websockets if "transport=websocket" in ws.url]
    assert upgraded and upgraded[0].url.startswith(f"ws://127.0.0.1:{port}/socket.io/")
    assert not upgraded[0].is_closed()
    assert viewer.errors() == []


async def test_falls_back_to_polling_where_websockets_are_refused(
    server: ServerProcess, api: Api, browser: Any, nginx_factory: StartNginx
) -> None:
    port = free_port()
    await nginx_factory(REFUSING_PROXY.format(port=port, upstream=server.port))
    room = await api.room()
    timer = await api.timer(room["id"], label="Keynote")
    viewer = await open_viewer(browser, f"http://127.0.0.1:{port}/v/{room['shareToken']}")
    await shows_the_start(viewer, api, timer["id"])
    polled = await viewer.page.evaluate(
        "() => performance.getEntriesByType('resource')"
        ".some((e) => e.name.includes('/socket.io/?EIO=4&transport=polling'))"
    )
    assert polled
    # Chromium reports the refused handshake itself; the page logs nothing.
    assert viewer.errors(ignore=("WebSocket connection to",)) == []


async def test_a_page_refused_while_its_address_is_barred_connects_when_the_bar_lifts(
    server: ServerProcess, api: Api, browser: Any
) -> None:
    room = await api.room()
    await api.timer(room["id"], label="Keynote")
    # A client from the page's address (127.0.0.1) floods and is cut: the address is barred
    # from new connections for 2 s. The page's connection is refused `rate_limited`.
    flooder = socketio.AsyncClient(reconnection=False)
    cut = asyncio.Event()
    flooder.on("disconnect", lambda *reason: cut.set())
    await flooder.connect(server.url, transports=["websocket"], wait_timeout=10)
    try:
        for _ in range(130):
            await flooder.emit("ping")
        async with asyncio.timeout(10):
            await cut.wait()
    finally:
        await flooder.shutdown()
    cut_at = time.monotonic()
    viewer = await open_viewer(browser, f"{server.url}/v/{room['shareToken']}", wait_live=False)
    await viewer.wait_live(timeout_s=15)  # it tried again by itself
    assert time.monotonic() - cut_at > 1.5  # not before the bar lifted
    await viewer.wait_timer("t.label === 'Keynote'")
    assert viewer.errors() == []
