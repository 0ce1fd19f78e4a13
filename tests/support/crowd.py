"""Crowd: hundreds of stock JS viewers in one node process (tests/js/crowd.js), and
CommandLoop: an admin sending commands through Nginx, every answer kept."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support.cluster import admin
from tests.support.jsclient import JsViewer
from tests.support.services import JS_DIR

CROWD_JS = JS_DIR / "crowd.js"


class Crowd:
    """`count` viewers of one room, viewer i leaving from addresses[i % len(addresses)]."""

    def __init__(self, process: JsViewer) -> None:
        self.process = process
        self._ids = itertools.count(1)

    @classmethod
    async def start(
        cls,
        url: str,
        share_token: str,
        count: int,
        addresses: list[str],
        *,
        default_every: int = 10,
        timeout: float = 30,
    ) -> Crowd:
        """Starts them and waits until every one has joined once; every `default_every`-th
        uses the default transports (polling, then upgrade), the others websocket only."""
        argv = ["node", str(CROWD_JS), "--url", url, "--share-token", share_token]
        argv += ["--count", str(count), "--addresses", ",".join(addresses)]
        argv += ["--default-every", str(default_every)]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # a report is one long line
        )
        crowd = cls(JsViewer(proc, argv))
        try:
            await crowd.process.wait_for("ready", timeout)
        except BaseException:
            await crowd.close()
            raise
        return crowd

    async def _ask(self, kind: str) -> dict[str, Any]:
        request = next(self._ids)
        await self.process.send({kind: request})
        return await self.process.wait_for(
            lambda line: line.get("type") == kind and line.get("id") == request, 20
        )

    async def status(self) -> dict[str, Any]:
        """{count, connected, synced (joined since their last connect), latest: {timer id:
        [lowest, highest latest version over the viewers, viewers that hold it]}}"""
        return await self._ask("status")

    async def report(self) -> list[dict[str, Any]]:
        """Per viewer: addr, conns, drops, joins and seq (see tests/js/crowd.js)."""
        return (await self._ask("report"))["viewers"]  # type: ignore[no-any-return]

    async def holding(self, versions: dict[str, int]) -> bool:
        """Whether every viewer holds exactly these latest versions."""
        latest = (await self.status())["latest"]
        return all(latest.get(t, [0, 0])[:2] == [v, v] for t, v in versions.items())

    async def close(self) -> None:
        """Disconnects them all and waits for node to exit."""
        await self.process.close(timeout=10)


@dataclass
class Sent:
    """One command: when it left and came back (epoch s), the status (None: no HTTP
    answer at all) and the version a 2xx answer carried."""

    timer_id: str
    address: str
    sent: float
    done: float
    status: int | None
    version: int | None


@dataclass
class CommandLoop:
    """Adjusts one idle timer by +1 s, -1 s… through url from address, one command every
    `spacing` s, until stopped; the last answer it keeps is a 2xx."""

    url: str
    address: str
    timer_id: str
    spacing: float
    log: list[Sent] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> CommandLoop:
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        delta = 1000
        async with admin(self.url, self.address) as api:
            while not self._stop.is_set() or not self.ok or self.log[-1].status != 200:
                sent = time.time()
                try:
                    reply = await api.command(self.timer_id, "adjust", {"deltaMs": delta})
                    status, version = reply.status, (reply.body or {}).get("version")
                except (aiohttp.ClientError, TimeoutError):
                    status, version = None, None
                self.log.append(
                    Sent(self.timer_id, self.address, sent, time.time(), status, version)
                )
                delta = -delta
                await asyncio.sleep(max(0.0, sent + self.spacing - time.time()))

    @property
    def ok(self) -> list[Sent]:
        """The commands answered 2xx, in order."""
        return [s for s in self.log if s.status is not None and 200 <= s.status < 300]

    async def stop(self, timeout: float = 10) -> None:
        """Stops after the next 2xx."""
        self._stop.set()
        assert self._task is not None
        await asyncio.wait_for(self._task, timeout)
