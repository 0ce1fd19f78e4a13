"""Several real `roomtimer serve` workers on one PostgreSQL and one Redis behave as one server.

Each test starts its workers as subprocesses (tests/support/server.py) against a throwaway
PostgreSQL database and a private redis-server, and talks to each worker directly; the same
topology behind the shipped Nginx is tests/test_nginx.py.
"""

import asyncio
import contextlib
import time
from typing import Any

from tests.support.app import Viewer
from tests.support.clock import now_ms
from tests.support.cluster import (
    RedisServer,
    SourcedApi,
    StartServer,
    admin,
    cluster_env,
    joined_viewers,
    metric,
    socket_stats,
    start_workers,
    stop_all,
    versions,
    wait_until,
)
from tests.support.server import ServerProcess

COMMANDS: list[tuple[str, dict[str, Any] | None]] = [
    ("start", None),
    ("pause", None),
    ("start", None),
    ("adjust", {"deltaMs": 1000}),
    ("pause", None),
    ("adjust", {"deltaMs": -1000}),
    ("reset", None),
    ("start", None),
    ("adjust", {"deltaMs": 5000}),
    ("pause", None),
    ("reset", None),
]


async def test_viewers_on_every_worker_get_every_command_in_version_order(
    postgres_url: str, redis: RedisServer, server_factory: StartServer
) -> None:
    workers = await start_workers(server_factory, 3, cluster_env(postgres_url, redis.url))
    async with contextlib.AsyncExitStack() as stack:
        apis = [await stack.enter_async_context(admin(w.url)) for w in workers]
        room = await apis[0].room()
        timer = await apis[1].timer(room["id"])
        viewers = [
            v for w in workers for v in await joined_viewers(stack, w.url, room["shareToken"], 2)
        ]
        expected = []
        for index, (name, body) in enumerate(COMMANDS):  # each through the next worker
            reply = await apis[index % 3].command(timer["id"], name, body)
            assert reply.status == 200, reply.body
            expected.append(reply.body["version"])
        assert expected == list(range(2, 2 + len(COMMANDS)))

        async def all_delivered() -> bool:
            return all(len(versions(v.received, timer["id"])) >= len(expected) for v in viewers)

        await wait_until(all_delivered, 5, "every viewer got every timer-update")
        for viewer in viewers:
            assert versions(viewer.received, timer["id"]) == expected
    await stop_all(workers)


# Viewers per worker after each round; a round only joins or only leaves, so no count on
# the way equals the round's total, and each total differs from the one before.
ROUNDS = [(1, 2, 3), (1, 1, 2), (2, 2, 3), (1, 1, 1), (2, 3, 2)]


async def test_user_count_and_every_workers_stats_tell_one_truth_and_a_killed_worker_drops_out(
    postgres_url: str, redis: RedisServer, server_factory: StartServer
) -> None:
    workers = await start_workers(server_factory, 3, cluster_env(postgres_url, redis.url))
    async with contextlib.AsyncExitStack() as stack:
        api = await stack.enter_async_context(admin(workers[0].url))
        token = (await api.room())["shareToken"]
        on: list[list[Viewer]] = [[], [], []]

        async def all_saw(viewers: list[Viewer], total: int) -> None:
            async def check() -> bool:
                return all(
                    (v.events("user-count") or [{}])[-1].get("count") == total for v in viewers
                )

            await wait_until(check, 5, f"user-count {total} on every worker")

        async def stats_say(live: list[ServerProcess], total: int) -> None:
            # At once, no polling: a viewer has seen the count, so every worker must say it too.
            found = await asyncio.gather(*(socket_stats(w.url) for w in live))
            assert [(s["connectedClients"], s["activeRooms"]) for s in found] == [(total, 1)] * len(
                live
            ), f"user-count said {total}"

        for sizes in ROUNDS:
            joins = []
            for n, (worker, size) in enumerate(zip(workers, sizes, strict=True)):
                for viewer in on[n][size:]:
                    await viewer.close()
                on[n] = on[n][:size]
                joins.append(joined_viewers(stack, worker.url, token, size - len(on[n])))
            for n, joined in enumerate(await asyncio.gather(*joins)):
                on[n] += joined
            await all_saw([v for vs in on for v in vs], sum(sizes))
            await stats_say(workers, sum(sizes))

        a, b, c = workers
        c.kill()
        killed_at = time.monotonic()
        await all_saw([*on[0], *on[1]], len(on[0]) + len(on[1]))
        await stats_say([a, b], len(on[0]) + len(on[1]))
        assert time.monotonic() - killed_at < 5
        # Prometheus sums a gauge over instances: each worker reports its own sockets only.
        gauge = "roomtimer_socket_connected_clients"
        assert (await metric(a.url, gauge), await metric(b.url, gauge)) == (2, 3)
    await stop_all(workers)


async def run_spread(apis: list[Any], timer_ids: list[str], name: str, body: Any) -> list[Any]:
    """One command per timer, 30 at a time, spread over the workers; returns the Timers."""

    async def lane(lane_no: int) -> list[tuple[int, Any]]:
        done = []
        for index in range(lane_no, len(timer_ids), 30):
            payload = body(timer_ids[index]) if callable(body) else body
            reply = await apis[index % len(apis)].command(timer_ids[index], name, payload)
            assert reply.status == 200, reply.body
            done.append((index, reply.body))
        return done

    lanes = await asyncio.gather(*(lane(n) for n in range(30)))
    return [timer for _, timer in sorted(pair for pairs in lanes for pair in pairs)]


async def test_200_timers_ending_at_one_instant_finish_once_each_on_3_workers(
    postgres_url: str, redis: RedisServer, server_factory: StartServer
) -> None:
    workers = await start_workers(server_factory, 3, cluster_env(postgres_url, redis.url))
    async with contextlib.AsyncExitStack() as stack:
        apis = [await stack.enter_async_context(admin(w.url)) for w in workers]
        rooms = [await apis[0].room(name=f"Hall {n}") for n in (1, 2)]
        timers: dict[str, list[str]] = {}
        for room in rooms:
            created = await asyncio.gather(
                *(apis[i % 3].timer(room["id"], label=f"T{i}") for i in range(100))
            )
            timers[room["id"]] = [t["id"] for t in created]
        viewers = {
            room["id"]: [
                v for w in workers for v in await joined_viewers(stack, w.url, room["shareToken"])
            ]
            for room in rooms
        }
        every = [t for ids in timers.values() for t in ids]
        begun = now_ms()
        started = await run_spread(apis, every, "start", None)
        # Then every deadline moved to one instant, far enough ahead for the moves themselves.
        ends_at = now_ms() + 2 * (now_ms() - begun) + 1000
        first_ends = {t["id"]: t["endsAt"] for t in started}
        moved = await run_spread(
            apis, every, "adjust", lambda timer_id: {"deltaMs": ends_at - first_ends[timer_id]}
        )
        assert {t["endsAt"] for t in moved} == {ends_at}
        assert now_ms() < ends_at, "moving the deadlines took longer than planned"

        async def all_finished() -> bool:
            return all(
                len(v.events("timer-finished")) >= 100 for vs in viewers.values() for v in vs
            )

        await wait_until(all_finished, (ends_at - now_ms()) / 1000 + 3, "200 timer-finished")
        # Barrier: past every worker's next scheduler pass, then one event through each worker.
        await wait_until(lambda: _past(ends_at + 1500), 3, "1.5 s past the deadline")
        for n, (api, room) in enumerate(zip(apis, [*rooms, rooms[0]], strict=True)):
            renamed = await api.call("PUT", f"/api/rooms/{room['id']}", {"name": f"Renamed {n}"})
            assert renamed.status == 200, renamed.body
        await wait_until(_all_got(viewers, rooms), 5, "room-updated barrier")
        for room_id, room_viewers in viewers.items():
            for viewer in room_viewers:
                finished = viewer.events("timer-finished")
                assert sorted(f["id"] for f in finished) == sorted(timers[room_id])
                assert {f["finishedAt"] for f in finished} == {ends_at}
                assert max(f["serverTime"] for f in finished) - ends_at <= 1000
    await stop_all(workers)


async def _past(deadline_ms: int) -> bool:
    return now_ms() >= deadline_ms


def _all_got(viewers: dict[str, list[Viewer]], rooms: list[dict[str, Any]]) -> Any:
    wanted = {rooms[0]["id"]: 2, rooms[1]["id"]: 1}

    async def check() -> bool:
        return all(
            len(v.events("room-updated")) >= wanted[room_id]
            for room_id, vs in viewers.items()
            for v in vs
        )

    return check


async def test_rate_limits_are_shared_by_workers_and_trust_only_trusted_proxies(
    postgres_url: str, redis: RedisServer, server_factory: StartServer
) -> None:
    env = cluster_env(postgres_url, redis.url, RATE_LIMIT_MAX_REQUESTS="4")
    workers = await start_workers(server_factory, 2, env)

    async def statuses(source: str, forwarded: list[str]) -> list[int]:
        """One request per X-Forwarded-For value, alternating between the two workers."""
        found = []
        for n, hop in enumerate(forwarded):
            async with SourcedApi(workers[n % 2].url, None, source) as api:
                headers = {"X-Forwarded-For": hop}
                reply = await api.call("GET", "/api/rooms/no-such-token", headers=headers)
            if reply.status == 429:
                assert reply.body["error"]["code"] == "rate_limited"
                assert int(reply.headers["Retry-After"]) >= 1
            found.append(reply.status)
        return found

    # Straight from a client: a forged X-Forwarded-For changes nothing.
    forged = [f"203.0.113.{n}" for n in range(6)]
    assert await statuses("127.0.0.2", forged) == [404] * 4 + [429] * 2
    # From the trusted proxy: the forwarded address is the client, counted across workers.
    assert await statuses("127.0.0.1", ["198.51.100.7"] * 6) == [404] * 4 + [429] * 2
    assert await statuses("127.0.0.1", ["127.0.0.2", "198.51.100.8"]) == [429, 404]
    await stop_all(workers)
