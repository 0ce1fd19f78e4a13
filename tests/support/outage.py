"""Steady command load on a real server while its database fails, every answer recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support.cluster import SourcedApi

# The bound: an answer, 2xx or 503, within this long of the request being sent.
ANSWER_S = 5.0
# Between one loop's commands: a steady load that leaves the 2 cores to the server.
PACE_S = 0.02


@dataclass
class Answer:
    sent: float  # time.monotonic() when sent
    took: float  # seconds until answered (or until the client gave up)
    command: str
    status: int  # 0: no HTTP answer at all (reset, or none within SourcedApi's 10 s)
    body: Any


@dataclass
class Driver:
    """One client loop commanding one timer, each command chosen from the last 2xx reply,
    so that a 409 can only mean a refused (503) command was applied after all."""

    api: SourcedApi
    timer_id: str
    answers: list[Answer] = field(default_factory=list)
    status: str = "idle"
    turn: int = 0

    def next_command(self) -> tuple[str, Any]:
        self.turn += 1
        if self.status == "running":  # adjusted twice, then paused
            return ("pause", None) if self.turn % 3 == 0 else ("adjust", {"deltaMs": 1000})
        if self.status == "paused":  # started again or reset, in turn
            return ("reset", None) if self.turn % 2 == 0 else ("start", None)
        return "start", None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            name, body = self.next_command()
            sent = time.monotonic()
            try:
                reply = await self.api.command(self.timer_id, name, body)
                status, payload = reply.status, reply.body
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, payload = 0, repr(exc)
            self.answers.append(Answer(sent, time.monotonic() - sent, name, status, payload))
            if 200 <= status < 300:
                self.status = payload["status"]
            await asyncio.sleep(PACE_S)

    def ok(self, after: float = 0.0) -> list[Answer]:
        """The 2xx answers to commands sent after `after`."""
        return [a for a in self.answers if 200 <= a.status < 300 and a.sent >= after]


def assert_unavailable_or_ok(answers: Sequence[Answer], what: str) -> None:
    """Every answer 2xx or the contract's 503 `unavailable`, each within ANSWER_S."""
    for answer in answers:
        assert answer.took < ANSWER_S, (what, "answered late", answer)
        if 200 <= answer.status < 300:
            continue
        assert answer.status == 503, (what, answer)
        error = answer.body["error"]
        assert error["code"] == "unavailable" and isinstance(error["message"], str), answer


def assert_versions_match(driver: Driver, final: dict[str, Any]) -> None:
    """The 2xx replies' versions only grow and the final state is the last of them: no
    refused command left a write behind, no acknowledged one was lost."""
    seen = [a.body["version"] for a in driver.ok()]
    assert seen == sorted(set(seen)), (driver.timer_id, seen)
    assert final["version"] == seen[-1], (driver.timer_id, final, seen[-3:])
    assert final["status"] == driver.ok()[-1].body["status"]
