"""Timer commands through the real app: missed deadlines, versions, parallel commands."""

import asyncio
from typing import Any

import pytest

from tests.support.app import Reply
from tests.support.frozen import MINUTE, Frozen


@pytest.mark.parametrize(
    ("command", "body", "status"),
    [("start", None, 409), ("pause", None, 409), ("adjust", {"deltaMs": MINUTE}, 409)],
)
async def test_a_command_after_a_missed_deadline_finishes_first_then_refuses(
    frozen: Frozen, command: str, body: Any, status: int
) -> None:
    timer = await frozen.api.timer(frozen.room["id"])
    ends_at = (await frozen.api.command(timer["id"], "start")).body["endsAt"]
    frozen.clock.now = ends_at + 1_234
    reply = await frozen.api.command(timer["id"], command, body)
    assert (reply.status, reply.body["error"]["code"]) == (status, "invalid_transition")
    finished = await frozen.viewer.next("timer-finished")
    assert (finished["finishedAt"], finished["version"]) == (ends_at, 3)
    assert await frozen.scheduler.finish_due() == 0
    assert len(await frozen.received("timer-finished")) == 1
    assert [u["version"] for u in frozen.viewer.events("timer-update")] == [2]
    stored = await frozen.stored(timer["id"])
    assert (stored["status"], stored["finishedAt"], stored["version"]) == ("finished", ends_at, 3)


async def test_a_reset_after_a_missed_deadline_finishes_first_then_resets(frozen: Frozen) -> None:
    timer = await frozen.api.timer(frozen.room["id"], durationMs=5 * MINUTE)
    ends_at = (await frozen.api.command(timer["id"], "start")).body["endsAt"]
    frozen.clock.now = ends_at + 1
    reply = await frozen.api.command(timer["id"], "reset")
    assert reply.status == 200
    assert (reply.body["status"], reply.body["remainingMs"]) == ("idle", 5 * MINUTE)
    assert (reply.body["version"], reply.body["finishedAt"]) == (4, None)
    finished = await frozen.viewer.next("timer-finished")
    assert (finished["finishedAt"], finished["version"]) == (ends_at, 3)
    updates = await frozen.received("timer-update")
    assert [(u["status"], u["version"]) for u in updates] == [("running", 2), ("idle", 4)]
    assert await frozen.scheduler.finish_due() == 0
    assert len(await frozen.received("timer-finished")) == 1


async def test_no_op_commands_keep_the_version_and_announce_nothing(frozen: Frozen) -> None:
    timer = await frozen.api.timer(frozen.room["id"])
    versions = []
    for command in ("start", "start", "pause", "pause", "start", "start"):
        reply = await frozen.api.command(timer["id"], command)
        assert reply.status == 200
        versions.append(reply.body["version"])
    assert versions == [2, 2, 3, 3, 4, 4]
    updates = await frozen.received("timer-update")
    assert [(u["status"], u["version"]) for u in updates] == [
        ("running", 2),
        ("paused", 3),
        ("running", 4),
    ]


async def test_refused_commands_change_nothing(frozen: Frozen) -> None:
    timer = await frozen.api.timer(frozen.room["id"])
    reply = await frozen.api.command(timer["id"], "pause")
    assert (reply.status, reply.body["error"]["code"]) == (409, "invalid_transition")
    assert (await frozen.stored(timer["id"]))["version"] == 1
    assert await frozen.received("timer-update") == []


async def test_duration_change_applies_to_idle_now_and_otherwise_at_reset(frozen: Frozen) -> None:
    timer = await frozen.api.timer(frozen.room["id"], durationMs=10 * MINUTE)
    put = await frozen.api.call("PUT", f"/api/timers/{timer['id']}", {"durationMs": 5 * MINUTE})
    assert (put.body["durationMs"], put.body["remainingMs"], put.body["version"]) == (
        5 * MINUTE,
        5 * MINUTE,
        2,
    )
    start = await frozen.api.command(timer["id"], "start")
    put = await frozen.api.call("PUT", f"/api/timers/{timer['id']}", {"durationMs": 7 * MINUTE})
    assert (put.body["remainingMs"], put.body["endsAt"]) == (5 * MINUTE, start.body["endsAt"])
    reset = await frozen.api.command(timer["id"], "reset")
    assert (reset.body["remainingMs"], reset.body["version"]) == (7 * MINUTE, 5)


async def test_parallel_starts_change_the_timer_once(frozen: Frozen) -> None:
    timer = await frozen.api.timer(frozen.room["id"])
    replies = await asyncio.gather(*(frozen.api.command(timer["id"], "start") for _ in range(20)))
    assert {(r.status, r.body["version"], r.body["status"]) for r in replies} == {
        (200, 2, "running")
    }
    assert [u["version"] for u in await frozen.received("timer-update")] == [2]


async def test_parallel_starts_and_pauses_lose_no_update(frozen: Frozen) -> None:
    timer = await frozen.api.timer(frozen.room["id"])
    commands = ["start", "pause"] * 10
    replies: list[Reply] = await asyncio.gather(
        *(frozen.api.command(timer["id"], name) for name in commands)
    )
    assert {r.status for r in replies} <= {200, 409}, [r.body for r in replies]
    updates = sorted(await frozen.received("timer-update"), key=lambda u: u["version"])
    assert updates, "at least the first start changes the timer"
    # One broadcast per real change, each with the next version: none lost, none doubled.
    assert [u["version"] for u in updates] == list(range(2, 2 + len(updates)))
    # A consistent history alternates: only a start changes a paused timer, only a pause a
    # running one.
    expected = ["running", "paused"] * len(updates)
    assert [u["status"] for u in updates] == expected[: len(updates)]
    # Every change answered its own request; a no-op answered with a version reached.
    assert {r.body["version"] for r in replies if r.status == 200} == {
        u["version"] for u in updates
    }
    stored = await frozen.stored(timer["id"])
    assert stored["version"] == 1 + len(updates)
    assert stored["status"] == updates[-1]["status"]
