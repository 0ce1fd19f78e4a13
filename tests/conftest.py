"""Shared fixtures: the real app on a real port, on SQLite and on PostgreSQL."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from roomtimer.clock import Clock
from tests.support.app import Api, RunningApp, run_app, settings_for

pytest_plugins = ["tests.support.plugin"]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: an SQLite file, then a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'roomtimer.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An SQLite file, for tests whose subject is not the database."""
    return f"sqlite:///{tmp_path / 'roomtimer.db'}"


AppFactory = Callable[..., "AsyncIterator[RunningApp]"]


@pytest_asyncio.fixture
async def start_app(database_url: str) -> AsyncIterator[Callable[..., object]]:
    """`await start(clock=None, **env)` → the migrated app serving on a free port."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:

        async def start(clock: Clock | None = None, **env: str) -> RunningApp:
            settings = settings_for(database_url, **env)
            return await stack.enter_async_context(run_app(settings, clock=clock))

        yield start


@pytest_asyncio.fixture
async def app(start_app: Callable[..., object]) -> RunningApp:
    """The app with test settings, on the parametrised database."""
    running: RunningApp = await start_app()  # type: ignore[misc]
    return running


@pytest_asyncio.fixture
async def api(app: RunningApp) -> AsyncIterator[Api]:
    """An HTTP client of the app, signed in as `alice`."""
    async with Api(app.url, app.token("alice")) as client:
        yield client
