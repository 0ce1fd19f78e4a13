"""Idempotency keys across workers and restarts: real server processes."""

import asyncio
from pathlib import Path

from tests.support.cluster import admin, cluster_env, start_workers
from tests.support.plugin import StartServer


async def test_two_identical_requests_to_two_workers_at_once_apply_once(
    postgres_url: str, server_factory: StartServer
) -> None:
    a, b = await start_workers(server_factory, 2, cluster_env(postgres_url))
    async with admin(a.url) as on_a, admin(b.url) as on_b:
        room = await on_a.room()
        timer = await on_a.timer(room["id"])
        path = f"/api/timers/{timer['id']}/adjust"
        for n in range(10):  # ten double presses, each landing on both workers at once
            headers = {"Idempotency-Key": f"press-{n}"}
            replies = await asyncio.gather(
                on_a.call("POST", path, {"deltaMs": 1_000}, headers=headers),
                on_b.call("POST", path, {"deltaMs": 1_000}, headers=headers),
            )
            assert [r.status for r in replies] == [200, 200], [r.body for r in replies]
            assert replies[0].body == replies[1].body  # both get the one answer
            assert replies[0].body["version"] == n + 2  # applied once
            replayed = [r.headers.get("Idempotency-Replayed") for r in replies]
            assert sorted(replayed, key=str) == [None, "true"]  # one ran, one replayed
        state = (await on_b.call("GET", f"/api/rooms/{room['shareToken']}")).body
        assert state["timers"][0]["remainingMs"] == 600_000 + 10 * 1_000


async def test_a_key_survives_a_restart(server_factory: StartServer, tmp_path: Path) -> None:
    env = cluster_env(f"sqlite:///{tmp_path / 'keys.db'}")
    first = await server_factory(env)
    headers = {"Idempotency-Key": "create-hall"}
    async with admin(first.url) as api:
        created = await api.call("POST", "/api/rooms", {"name": "Hall"}, headers=headers)
        assert created.status == 201
    first.kill()
    second = await server_factory(env)
    async with admin(second.url) as api:
        again = await api.call("POST", "/api/rooms", {"name": "Hall"}, headers=headers)
        assert (again.status, again.body) == (201, created.body)
        assert again.headers["Idempotency-Replayed"] == "true"
        assert len((await api.call("GET", "/api/rooms")).body["rooms"]) == 1
