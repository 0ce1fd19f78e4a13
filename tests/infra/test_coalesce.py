"""Coalescer: a crowd asking for one key shares queries, and never reads older data."""

import asyncio

import pytest

from roomtimer.infra.coalesce import Coalescer


class Source:
    """A load function whose every query waits until the test releases it."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release: list[asyncio.Event] = []
        self.begun = asyncio.Condition()
        self.fail = False

    async def load(self, key: str) -> int:
        gate = asyncio.Event()
        self.release.append(gate)
        self.started.append(key)
        number = len(self.started)  # the data as of this query's start
        async with self.begun:
            self.begun.notify_all()
        await gate.wait()
        if self.fail:
            raise LookupError(f"query {number} failed")
        return number

    async def until_started(self, count: int) -> None:
        async with asyncio.timeout(5), self.begun:
            await self.begun.wait_for(lambda: len(self.started) >= count)


async def test_callers_during_a_query_share_the_next_one_which_starts_after_them() -> None:
    source = Source()
    shared = Coalescer(source.load)
    first = asyncio.create_task(shared.get("k"))
    await source.until_started(1)
    crowd = [asyncio.create_task(shared.get("k")) for _ in range(50)]
    other_key = asyncio.create_task(shared.get("other"))
    await source.until_started(2)  # "other" does not wait for "k"
    assert source.started == ["k", "other"]
    source.release[0].set()
    assert await first == 1
    await source.until_started(3)  # the crowd's one query, started after all of them
    late = asyncio.create_task(shared.get("k"))
    source.release[2].set()
    assert await asyncio.gather(*crowd) == [3] * 50
    await source.until_started(4)
    source.release[3].set()
    assert await late == 4  # arrived while query 3 ran: it needs a newer one
    source.release[1].set()
    assert await other_key == 2
    assert source.started == ["k", "other", "k", "k"]


async def test_a_failed_query_fails_its_callers_and_the_next_one_runs_afresh() -> None:
    source = Source()
    shared = Coalescer(source.load)
    source.fail = True
    callers = [asyncio.create_task(shared.get("k")) for _ in range(3)]
    await source.until_started(1)
    source.release[0].set()
    for caller in callers:
        with pytest.raises(LookupError, match="query 1 failed"):
            await caller
    source.fail = False
    again = asyncio.create_task(shared.get("k"))
    await source.until_started(2)
    source.release[1].set()
    assert await again == 2


async def test_a_caller_that_gives_up_leaves_the_query_to_the_others() -> None:
    source = Source()
    shared = Coalescer(source.load)
    leaving = asyncio.create_task(shared.get("k"))
    staying = asyncio.create_task(shared.get("k"))
    await source.until_started(1)
    leaving.cancel()
    source.release[0].set()
    assert await staying == 1
    assert leaving.cancelled()
