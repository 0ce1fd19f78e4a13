"""Fixtures of the service tests."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio

from roomtimer import keys
from tests.support.app import Api, RunningApp, Viewer
from tests.support.frozen import FakeClock, Frozen


@pytest_asyncio.fixture
async def frozen(start_app: Callable[..., Any]) -> AsyncIterator[Frozen]:
    clock = FakeClock()
    app: RunningApp = await start_app(clock=clock)
    scheduler = app.app[keys.scheduler]
    await scheduler.stop()  # a deadline passes unseen until the test runs a pass
    async with Api(app.url, app.token()) as api:
        room = await api.room()
        viewer = await Viewer(app.url).connect()
        try:
            assert (await viewer.join(room["shareToken"]))["ok"] is True
            await viewer.next("room-state")
            yield Frozen(app, clock, scheduler, api, viewer, room)
        finally:
            await viewer.close()
