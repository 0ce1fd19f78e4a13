"""State survives a restart of the real server, on an SQLite file and on PostgreSQL."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.app import JWT_SECRET, Api, make_token
from tests.support.clock import now_ms
from tests.support.server import ServerProcess

StartServer = Callable[..., Awaitable[ServerProcess]]
MINUTE = 60_000


def env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET, "LOG_LEVEL": "WARNING"}


def api(server: ServerProcess) -> Api:
    return Api(server.url, make_token("alice"))


async def finished_broadcasts(client: Api) -> float:
    """roomtimer_broadcasts_total{event="timer-finished"} from GET /metrics."""
    async with client.session.get(client.base_url + "/metrics") as resp:
        text = await resp.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "roomtimer_broadcasts_total" and sample.labels == {
                "event": "timer-finished"
            }:
                return sample.value
    return 0.0


async def wait_for_broadcasts(client: Api, count: float, timeout: float = 5.0) -> None:
    """Polls /metrics until `count` timer-finished were announced."""
    deadline = time.monotonic() + timeout
    while (seen := await finished_broadcasts(client)) < count:
        assert time.monotonic() < deadline, f"{seen} timer-finished, waited for {count}"
        await asyncio.sleep(0.05)
    assert seen == count


async def scheduler_pass(client: Api, room_id: str, announced: float) -> None:
    """Runs a 1 s timer to its end: every pass before it has announced what it would."""
    timer = await client.timer(room_id, label="Barrier", durationMs=1_000)
    assert (await client.command(timer["id"], "start")).status == 200
    await wait_for_broadcasts(client, announced + 1)


def comparable(rooms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rooms without what moves with the clock (a running timer's remainingMs)."""
    return [
        {
            **room,
            "timers": [
                {k: v for k, v in t.items() if t["status"] != "running" or k != "remainingMs"}
                for t in room["timers"]
            ],
        }
        for room in rooms
    ]


async def make_every_state(client: Api) -> None:
    """Two rooms; timers idle (adjusted), running, paused and finished."""
    room = await client.room(name="Main hall", description="Stage A")
    idle = await client.timer(room["id"], label="Idle", durationMs=5 * MINUTE)
    await client.command(idle["id"], "adjust", {"deltaMs": 30_000})
    running = await client.timer(room["id"], label="Running", durationMs=10 * MINUTE)
    await client.command(running["id"], "start")
    paused = await client.timer(room["id"], label="Paused", position=7)
    await client.command(paused["id"], "start")
    await client.command(paused["id"], "pause")
    finished = await client.timer(room["id"], label="Finished", durationMs=2_000)
    reply = await client.command(finished["id"], "adjust", {"deltaMs": -2_000})
    assert reply.body["status"] == "finished"
    other = await client.room(name="Side room")
    await client.call("PUT", f"/api/rooms/{other['id']}", {"name": "Renamed"})


async def test_state_survives_a_restart_exactly(
    server_factory: StartServer, database_url: str
) -> None:
    server = await server_factory(env(database_url))
    async with api(server) as client:
        await make_every_state(client)
        before = (await client.call("GET", "/api/rooms")).body["rooms"]
        token = before[0]["shareToken"]
        viewed = (await client.call("GET", f"/api/rooms/{token}", token=None)).body
    statuses = [t["status"] for t in before[0]["timers"]]
    assert sorted(statuses) == ["finished", "idle", "paused", "running"]
    assert await server.stop() == 0
    await server.start()
    async with api(server) as client:
        after = (await client.call("GET", "/api/rooms")).body["rooms"]
        assert comparable(after) == comparable(before)
        again = (await client.call("GET", f"/api/rooms/{token}", token=None)).body
        assert comparable([again])[0] | {"serverTime": 0} == comparable([viewed])[0] | {
            "serverTime": 0
        }
        running = next(t for t in after[0]["timers"] if t["status"] == "running")
        paused = (await client.command(running["id"], "pause")).body
        assert (paused["status"], paused["version"]) == ("paused", running["version"] + 1)


async def test_a_deadline_passed_while_down_is_finished_at_start_up_once(
    server_factory: StartServer, database_url: str
) -> None:
    server = await server_factory(env(database_url))
    async with api(server) as client:
        room = await client.room()
        timer = await client.timer(room["id"], durationMs=2_000)
        ends_at = (await client.command(timer["id"], "start")).body["endsAt"]
    server.kill()  # a crash: nothing is finished on the way down
    assert now_ms() < ends_at, "the server died after the deadline: the test proves nothing"
    while now_ms() <= ends_at:  # the deadline passes while no server runs
        await asyncio.sleep(0.05)

    await server.start()
    async with api(server) as client:
        await wait_for_broadcasts(client, 1)
        stored = (await client.call("GET", "/api/rooms")).body["rooms"][0]["timers"][0]
        assert (stored["status"], stored["remainingMs"], stored["endsAt"]) == ("finished", 0, None)
        assert (stored["finishedAt"], stored["version"]) == (ends_at, 3)
        await scheduler_pass(client, room["id"], announced=1)
    assert await server.stop() == 0

    await server.start()
    async with api(server) as client:
        assert await finished_broadcasts(client) == 0
        await scheduler_pass(client, room["id"], announced=0)
        timers = (await client.call("GET", "/api/rooms")).body["rooms"][0]["timers"]
        assert (timers[0]["finishedAt"], timers[0]["version"]) == (ends_at, 3)
