"""Two workers lose their Redis and get it back: the database stays the truth throughout.

Each test runs its own redis-server on a free port (the shared test Redis is never touched)
and kills it as a crash would, then restarts it on the same port.
"""

import contextlib
import time
from typing import Any

from tests.support.app import Viewer
from tests.support.cluster import (
    RedisServer,
    SourcedApi,
    StartServer,
    admin,
    cluster_env,
    joined_viewers,
    start_workers,
    stop_all,
    versions,
    wait_until,
)
from tests.support.server import ServerProcess

# /health waits at most 2 s per dependency; anything slower than this is a hang.
PROMPT_S = 3.0


async def timed(api: SourcedApi, method: str, path: str, body: Any = None) -> Any:
    """One request that must be answered within PROMPT_S, Redis down or not."""
    started = time.monotonic()
    reply = await api.call(method, path, body)
    elapsed = time.monotonic() - started
    assert elapsed < PROMPT_S, f"{method} {path} took {elapsed:.1f} s"
    return reply


async def assert_health(worker: ServerProcess, status: int, redis_check: str) -> None:
    async with admin(worker.url) as api:
        reply = await timed(api, "GET", "/health")
    assert reply.status == status, reply.body
    assert reply.body["checks"] == {"database": "ok", "redis": redis_check}


async def test_while_redis_is_down_commands_apply_and_local_viewers_follow(
    postgres_url: str, redis: RedisServer, server_factory: StartServer
) -> None:
    a, b = await start_workers(server_factory, 2, cluster_env(postgres_url, redis.url))
    async with contextlib.AsyncExitStack() as stack:
        api_a = await stack.enter_async_context(admin(a.url))
        api_b = await stack.enter_async_context(admin(b.url))
        room = await api_a.room()
        timer = await api_a.timer(room["id"])
        (on_a,) = await joined_viewers(stack, a.url, room["shareToken"])
        (on_b,) = await joined_viewers(stack, b.url, room["shareToken"])
        await redis.stop()

        await assert_health(a, 503, "down")
        await assert_health(b, 503, "down")
        started = await timed(api_a, "POST", f"/api/timers/{timer['id']}/start")
        assert started.status == 200, started.body
        paused = await timed(api_b, "POST", f"/api/timers/{timer['id']}/pause")
        assert paused.status == 200, paused.body
        assert paused.body["version"] == started.body["version"] + 1  # one truth: the database

        async def local_viewers_follow() -> bool:
            return started.body["version"] in versions(on_a.received, timer["id"]) and paused.body[
                "version"
            ] in versions(on_b.received, timer["id"])

        await wait_until(local_viewers_follow, 2, "viewers on the commanding worker")
        state = await timed(api_b, "GET", f"/api/rooms/{room['shareToken']}")
        assert state.status == 200 and state.body["timers"][0]["status"] == "paused"
        assert (await timed(api_a, "GET", "/api/stats/socket")).status == 200
        (late,) = await joined_viewers(stack, a.url, room["shareToken"])  # joining still works
        assert (await late.next("room-state", timeout=PROMPT_S))["timers"][0]["status"] == "paused"
    await stop_all([a, b])


def room_states(viewer: Viewer) -> list[Any]:
    return viewer.events("room-state")


async def test_when_redis_returns_every_worker_resyncs_its_rooms_within_2_s(
    postgres_url: str, redis: RedisServer, server_factory: StartServer
) -> None:
    a, b = await start_workers(server_factory, 2, cluster_env(postgres_url, redis.url))
    async with contextlib.AsyncExitStack() as stack:
        api = await stack.enter_async_context(admin(a.url))
        room = await api.room()
        timer = await api.timer(room["id"])
        viewers = [
            v for w in (a, b) for v in await joined_viewers(stack, w.url, room["shareToken"], 2)
        ]
        await redis.stop()
        started = await timed(api, "POST", f"/api/timers/{timer['id']}/start")
        assert started.status == 200, started.body  # viewers on b cannot hear of it yet
        seen = {id(v): len(room_states(v)) for v in viewers}

        await redis.start()
        back_at = time.monotonic()

        async def resynced() -> bool:
            return all(len(room_states(v)) > seen[id(v)] for v in viewers)

        await wait_until(resynced, 2, "room-state resent to every viewer on every worker")
        assert time.monotonic() - back_at <= 2
        for viewer in viewers:  # nobody is left showing the timer idle
            (resent,) = room_states(viewer)[seen[id(viewer)] :]
            assert resent["timers"][0]["version"] == started.body["version"]
            assert resent["timers"][0]["endsAt"] == started.body["endsAt"]

        paused = await timed(api, "POST", f"/api/timers/{timer['id']}/pause")
        assert paused.status == 200, paused.body

        async def cross_worker_again() -> bool:
            return all(paused.body["version"] in versions(v.received, timer["id"]) for v in viewers)

        await wait_until(cross_worker_again, 2, "a command on a reaches the viewers on b")
        for worker in (a, b):

            async def healthy(worker: ServerProcess = worker) -> bool:
                async with admin(worker.url) as api:
                    return (await timed(api, "GET", "/health")).status == 200

            await wait_until(healthy, PROMPT_S, "/health is 200 again")
    await stop_all([a, b])
