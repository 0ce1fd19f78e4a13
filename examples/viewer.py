"""A minimal roomtimer viewer: one line a second with every timer of a room, counted down
locally on the server's clock. Needs `pip install "python-socketio[asyncio_client]"`.

    python examples/viewer.py http://127.0.0.1:3000 SHARE_TOKEN
"""

import asyncio
import sys
import time
from typing import Any

import socketio

timers: dict[str, dict[str, Any]] = {}
offset_ms = 0.0  # the server's clock minus this machine's


def now_ms() -> float:
    """The server's time, as this machine best knows it."""
    return time.time() * 1000 + offset_ms


def remaining_ms(timer: dict[str, Any]) -> float:
    """What is left of a timer now: from endsAt while running, else as sent."""
    if timer["status"] == "running":
        return max(0.0, timer["endsAt"] - now_ms())
    return float(timer["remainingMs"])


def line() -> str:
    """Every timer as `label status M:SS`, in room order."""
    shown = []
    for timer in sorted(timers.values(), key=lambda t: t["position"]):
        seconds = -int(-remaining_ms(timer) // 1000)  # rounded up, as countdowns are
        shown.append(f"{timer['label']} {timer['status']} {seconds // 60}:{seconds % 60:02d}")
    return " | ".join(shown) or "(no timers)"


def keep(timer: dict[str, Any]) -> None:
    """Holds a timer unless what is held is as new (messages may cross)."""
    held = timers.get(timer["id"])
    if held is None or timer["version"] > held["version"]:
        timers[timer["id"]] = timer


async def sync_clock(sio: socketio.AsyncClient) -> None:
    """Estimates the offset from the ping with the shortest round trip of five."""
    global offset_ms
    samples = []
    for _ in range(5):
        sent = time.time() * 1000
        reply = await sio.call("ping", timeout=5)
        received = time.time() * 1000
        samples.append((received - sent, reply["serverTime"] - (sent + received) / 2))
    offset_ms = min(samples)[1]


async def main(url: str, share_token: str) -> None:
    """Joins the room (again after every reconnect) and prints it once a second."""
    sio = socketio.AsyncClient()  # reconnects by itself, with backoff

    @sio.event
    async def connect() -> None:
        await sio.emit("join-room", {"shareToken": share_token})  # again after a reconnect
        sio.start_background_task(sync_clock, sio)

    @sio.on("room-state")
    def room_state(state: dict[str, Any]) -> None:
        timers.clear()
        for timer in state["timers"]:
            keep(timer)

    for name in ("timer-created", "timer-update", "timer-finished"):
        sio.on(name, keep)
    sio.on("timer-deleted", lambda gone: timers.pop(gone["id"], None))
    sio.on("error", lambda error: print("error:", error["code"], flush=True))

    # Websocket only: one connection, no stickiness needed behind a venue's NAT (README).
    await sio.connect(url, transports=["websocket"])
    while True:
        print(line(), flush=True)
        await asyncio.sleep(1)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
