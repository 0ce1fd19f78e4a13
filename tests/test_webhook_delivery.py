"""Webhook deliveries across crashes and workers: real server processes, a real receiver."""

import asyncio
import collections
import re
from pathlib import Path
from typing import Any

import aiohttp

from roomtimer import keys
from tests.support.app import Api, RunningApp
from tests.support.cluster import admin, cluster_env, start_workers
from tests.support.frozen import FakeClock
from tests.support.plugin import StartServer
from tests.support.receiver import Received, receiving, signature_ok

SECRET = "a-long-shared-secret-for-tests"
HOOKED = {"WEBHOOK_ALLOW_PRIVATE": "true"}


async def deliveries(api: Api, hook_id: str) -> list[dict[str, Any]]:
    reply = await api.call("GET", f"/api/webhooks/{hook_id}/deliveries")
    assert reply.status == 200, reply.body
    return reply.body["deliveries"]  # type: ignore[no-any-return]


async def until_logged(api: Api, hook_id: str, check: Any, timeout: float = 10) -> list[Any]:
    """Polls the delivery log until `check(log)` holds."""
    async with asyncio.timeout(timeout):
        while not check(log := await deliveries(api, hook_id)):
            await asyncio.sleep(0.02)
    return log


async def test_a_delivery_survives_sigkill_between_attempts(
    server_factory: StartServer, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    env = cluster_env(database, **HOOKED)
    answers = iter([500, 200])

    async def fail_once(_: Received) -> int:
        return next(answers)

    async with receiving() as receiver:
        receiver.behaviour = fail_once
        first = await server_factory(env)
        async with admin(first.url) as api:
            room = await api.room()
            body = {"url": receiver.url, "events": ["timer.started"], "secret": SECRET}
            hook = (await api.call("POST", f"/api/rooms/{room['id']}/webhooks", body)).body
            timer = await api.timer(room["id"])
            assert (await api.command(timer["id"], "start")).status == 200
            await receiver.wait_for(1)
            [entry] = await until_logged(api, hook["id"], lambda log: log[0]["lastError"])
            assert (entry["attempts"], entry["status"], entry["responseStatus"]) == (
                1,
                "pending",
                500,
            )
        first.kill()  # SIGKILL: between the first attempt and the second (due 1 s later)
        second = await server_factory(env)  # the same database, a new process
        [attempt_1, attempt_2] = await receiver.wait_for(2, timeout=15)
        assert attempt_1.delivery == attempt_2.delivery == entry["id"]
        assert signature_ok(SECRET, attempt_2) and attempt_2.json["event"] == "timer.started"
        async with admin(second.url) as api:
            [entry] = await until_logged(
                api, hook["id"], lambda log: log[0]["status"] == "delivered"
            )
        assert (entry["attempts"], entry["responseStatus"], entry["lastError"]) == (2, 200, None)


async def test_two_workers_on_one_postgres_never_both_send_a_delivery(
    postgres_url: str, server_factory: StartServer
) -> None:
    env = cluster_env(postgres_url, **HOOKED)
    a, b = await start_workers(server_factory, 2, env)

    async def a_little_slow(_: Received) -> int:
        await asyncio.sleep(0.02)  # sends overlap the other worker's claims
        return 200

    async with receiving() as receiver, admin(a.url) as on_a, admin(b.url) as on_b:
        receiver.behaviour = a_little_slow
        room = await on_a.room()
        hooks = []
        for n in range(10):
            body = {"url": f"{receiver.url}/{n}", "events": ["timer.adjusted"]}
            reply = await on_a.call("POST", f"/api/rooms/{room['id']}/webhooks", body)
            hooks.append(reply.body["id"])
        timer = await on_a.timer(room["id"])
        commands = 30
        for n in range(commands):  # each change records 10 deliveries, on either worker
            api = on_a if n % 2 else on_b
            reply = await api.command(timer["id"], "adjust", {"deltaMs": 1_000})
            assert reply.status == 200
        total = commands * len(hooks)
        got = await receiver.wait_for(total, timeout=60)
        for hook_id in hooks:
            await until_logged(
                on_a, hook_id, lambda log: all(d["status"] == "delivered" for d in log)
            )
        sent = collections.Counter(r.delivery for r in receiver.requests)
        assert len(sent) == total and len(got) == total
        assert max(sent.values()) == 1, [d for d, n in sent.items() if n > 1]
        logs = [await deliveries(on_b, hook_id) for hook_id in hooks]
        assert all(d["attempts"] == 1 for log in logs for d in log)
        by_worker = [await sent_by(worker.url) for worker in (a, b)]
        assert sum(by_worker) == total and min(by_worker) > 0, by_worker  # both sent some


async def sent_by(url: str) -> float:
    """roomtimer_webhook_attempts_total{outcome="delivered"} of one worker."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/metrics") as resp:
            text = await resp.text()
    found = re.search(
        r'^roomtimer_webhook_attempts_total\{outcome="delivered"\} (\S+)$', text, re.M
    )
    return float(found[1]) if found else 0.0


async def test_a_claim_whose_worker_died_is_sent_again_once_its_lease_runs_out(
    start_app: Any,
) -> None:
    clock = FakeClock()
    app: RunningApp = await start_app(clock=clock, **HOOKED)
    worker = app.app[keys.deliveries]
    await worker.stop()  # the test plays the worker: claims, then "dies" mid-send
    async with receiving() as receiver, Api(app.url, app.token()) as api:
        room = await api.room()
        body = {"url": receiver.url, "events": ["timer.created"]}
        hook = (await api.call("POST", f"/api/rooms/{room['id']}/webhooks", body)).body
        await api.timer(room["id"])
        [claimed] = await worker.claim(10)
        assert claimed.attempts == 1
        clock.now += worker.lease_ms - 1
        assert await worker.claim(10) == []  # still held by the "dead" worker
        clock.now += 1
        [again] = await worker.claim(10)
        assert (again.id, again.attempts) == (claimed.id, 2)
        assert await worker.attempt(again) is True
        assert (await receiver.wait_for(1))[0].delivery == claimed.id
        assert await worker.attempt(claimed) is True  # the late first sender: lease lost
        [entry] = await deliveries(api, hook["id"])
        assert (entry["status"], entry["attempts"]) == ("delivered", 2)


async def test_backoff_doubles_from_1_s_and_a_delivery_fails_after_8_attempts(
    start_app: Any,
) -> None:
    clock = FakeClock()
    app: RunningApp = await start_app(clock=clock, **HOOKED)
    worker = app.app[keys.deliveries]
    await worker.stop()  # the test runs each attempt when the clock says it is due

    async def down(_: Received) -> int:
        return 503

    async with receiving() as receiver, Api(app.url, app.token()) as api:
        receiver.behaviour = down
        room = await api.room()
        body = {"url": receiver.url, "events": ["timer.created"]}
        hook = (await api.call("POST", f"/api/rooms/{room['id']}/webhooks", body)).body
        await api.timer(room["id"])
        waits = []
        for attempt in range(1, 9):
            [row] = await worker.claim(10)
            assert row.attempts == attempt
            assert await worker.attempt(row) is False
            [entry] = await deliveries(api, hook["id"])
            if entry["nextAttemptAt"] is None:
                break
            assert await worker.claim(10) == []  # not before it is due
            due = await _due_at(app, entry["id"])
            waits.append(due - clock.now)
            clock.now = due
        assert waits == [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000]
        assert (entry["status"], entry["attempts"], entry["lastError"]) == ("failed", 8, "HTTP 503")
        clock.now += 3_600_000
        assert await worker.claim(10) == []  # never again
        assert len(receiver.requests) == 8


async def _due_at(app: RunningApp, delivery_id: str) -> int:
    from sqlalchemy import select

    from roomtimer.models.tables import Delivery

    async with app.app[keys.db]() as session:
        due = await session.scalar(
            select(Delivery.next_attempt_at).where(Delivery.id == delivery_id)
        )
    assert due is not None
    return int(due)
