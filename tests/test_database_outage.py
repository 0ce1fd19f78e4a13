"""PostgreSQL stopped under load, then started again: roomtimer answers, loses nothing,
and recovers by itself.

The test runs its own PostgreSQL (tests/support/postgres.py; the shared one is never
touched) and stops it in both of PostgreSQL's abrupt modes: `fast` (open transactions
rolled back, sessions closed) and `immediate` (the server quits mid-transaction, as a
crash would, and recovers from its WAL on the next start). Then it cuts the network to it
(`partition`): nothing is refused, every byte just stops, as with a hung server or a lost
link, and only roomtimer's own timeouts (DATABASE_TIMEOUT) stand between a command and
a hang.
"""

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from functools import partial

import pytest_asyncio

from tests.support.app import Viewer
from tests.support.cluster import (
    SourcedApi,
    StartServer,
    admin,
    cluster_env,
    joined_viewers,
    versions,
    wait_until,
)
from tests.support.outage import (
    ANSWER_S,
    Driver,
    assert_unavailable_or_ok,
    assert_versions_match,
)
from tests.support.postgres import PostgresServer
from tests.support.proxy import Partition

# How long commands keep failing before PostgreSQL comes back (a finishing timer's
# deadline passes meanwhile).
OUTAGE_S = 1.5
# Each command and the webhook event it records.
COMMANDS = {"start": "started", "pause": "paused", "reset": "reset", "adjust": "adjusted"}
# From PostgreSQL taking connections again to every client loop's commands applying.
RECOVERY_S = 5.0


@pytest_asyncio.fixture
async def postgres() -> AsyncIterator[PostgresServer]:
    async with PostgresServer.running() as server:
        yield server


async def applied(drivers: list[Driver], since: float) -> bool:
    """Every client loop has had a command sent after `since` applied."""
    return all(d.ok(after=since) for d in drivers)


async def refused(viewer: Viewer, event: str, token: str) -> None:
    started = time.monotonic()
    ack = await viewer.client.call(event, {"shareToken": token}, timeout=2 * ANSWER_S)
    assert time.monotonic() - started < ANSWER_S, event
    assert ack["ok"] is False and ack["error"]["code"] == "unavailable", (event, ack)


async def fail(postgres: PostgresServer, link: Partition, mode: str) -> None:
    """PostgreSQL stopped in a shutdown mode, or the link to it cut (`partition`)."""
    if mode == "partition":
        link.cut()
    else:
        await postgres.stop(mode)


async def restore(postgres: PostgresServer, link: Partition, mode: str) -> None:
    if mode == "partition":
        link.heal()
    else:
        await postgres.start()


async def outage_checks(server_url: str, api: SourcedApi, viewer: Viewer, token: str) -> None:
    """/health and /health/ready 503, socket joins and syncs `unavailable`, all in time."""
    for path in ("/health", "/health/ready"):
        started = time.monotonic()
        health = await api.call("GET", path)
        assert time.monotonic() - started < ANSWER_S, path
        assert health.status == 503 and health.body["checks"]["database"] == "down", health
    late = await Viewer(server_url).connect()  # connecting needs no database
    try:
        await refused(late, "join-room", token)
    finally:
        await late.close()
    await refused(viewer, "request-sync", token)


async def test_postgres_stopped_under_load_gives_503_then_recovers_without_restart(
    postgres: PostgresServer, server_factory: StartServer
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        link = await stack.enter_async_context(Partition.running(postgres.port))
        url = postgres.url.replace(f":{postgres.port}/", f":{link.port}/")
        server = await server_factory(cluster_env(url, WEBHOOK_ALLOW_PRIVATE="true"))
        api = await stack.enter_async_context(admin(server.url))
        rooms = [await api.room(name=f"Hall {n}") for n in range(2)]
        drivers = []
        homes = [rooms[0], rooms[0], rooms[0], rooms[1]]
        for n, home in enumerate(homes):  # four client loops, each from its own address
            timer = await api.timer(home["id"], label=f"Talk {n}")
            client = await stack.enter_async_context(admin(server.url, f"127.0.0.{n + 2}"))
            drivers.append(Driver(client, timer["id"]))
        # Deliveries are recorded with the change that causes them (sent to a closed port).
        hook = await api.call(
            "POST",
            f"/api/rooms/{rooms[1]['id']}/webhooks",
            {"url": "http://127.0.0.1:9/hook", "events": [f"timer.{e}" for e in COMMANDS.values()]},
        )
        assert hook.status == 201, hook.body
        finishing = await api.timer(rooms[0]["id"], label="Ends in the outage", durationMs=1000)
        viewers = [
            v for room in rooms for v in await joined_viewers(stack, server.url, room["shareToken"])
        ]
        stop = asyncio.Event()
        loops = [asyncio.create_task(d.run(stop)) for d in drivers]
        for mode in ("fast", "immediate", "partition"):
            await wait_until(lambda: applied(drivers, time.monotonic() - 1), 5, "steady load")
            ends = await api.command(finishing["id"], "start")
            assert ends.status == 200, ends.body
            await fail(postgres, link, mode)
            down_at = time.monotonic()
            await outage_checks(server.url, api, viewers[0], rooms[0]["shareToken"])

            async def every_loop_refused(
                since: float = down_at, end: int = ends.body["endsAt"]
            ) -> bool:
                answers = [[a for a in d.answers if a.sent >= since] for d in drivers]
                return (
                    time.monotonic() - since > OUTAGE_S
                    and time.time() * 1000 > end + 100
                    and all(any(a.status == 503 for a in mine) for mine in answers)
                )

            await wait_until(every_loop_refused, 10, f"503s while PostgreSQL is down ({mode})")
            outage = [a for d in drivers for a in d.answers if a.sent >= down_at]
            restart = time.monotonic()
            await restore(postgres, link, mode)
            back_at = time.monotonic()
            took = await wait_until(partial(applied, drivers, back_at), RECOVERY_S, "recovery")
            print(
                f"{mode}: {len(outage)} commands in the outage, slowest answer"
                f" {max(a.took for a in outage):.2f} s; PostgreSQL back in"
                f" {back_at - restart:.2f} s, every loop's commands apply {took:.2f} s later"
            )

            async def finished(end: int = ends.body["endsAt"]) -> bool:
                found = viewers[0].events("timer-finished")
                return any(e["id"] == finishing["id"] and e["finishedAt"] == end for e in found)

            await wait_until(finished, 3, f"the timer that ended in the outage finishes ({mode})")
            assert (await api.command(finishing["id"], "reset")).status == 200
            assert (await api.call("GET", "/health")).status == 200

        stop.set()
        await asyncio.gather(*loops)
        for driver in drivers:
            assert_unavailable_or_ok(driver.answers, driver.timer_id)
        for room in rooms:
            state = await api.call("GET", f"/api/rooms/{room['shareToken']}")
            assert state.status == 200, state.body
            for timer in state.body["timers"]:
                for driver in drivers:
                    if driver.timer_id == timer["id"]:
                        assert_versions_match(driver, timer)
        applied_there = Counter(f"timer.{COMMANDS[a.command]}" for a in drivers[3].ok())
        reply = await api.call("GET", f"/api/webhooks/{hook.body['id']}/deliveries")
        recorded = Counter(d["event"] for d in reply.body["deliveries"])
        assert sum(recorded.values()) < 100, "the list shows the last 100 only: pace the load"
        assert recorded == applied_there, (recorded, applied_there)  # none more, none fewer
        finishes = [e for e in viewers[0].events("timer-finished") if e["id"] == finishing["id"]]
        assert len(finishes) == 3, finishes  # once per outage, never twice

        async def viewers_follow() -> bool:
            return all(
                d.ok()[-1].body["version"] in versions(v.received, d.timer_id)
                for v, room in zip(viewers, rooms, strict=True)
                for n, d in enumerate(drivers)
                if homes[n] is room
            )

        await wait_until(viewers_follow, 3, "viewers get the last command of each timer")
    assert "unhandled error" not in server.stderr(), server.stderr()[-3000:]
