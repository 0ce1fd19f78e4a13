"""Real roomtimer servers and a real headless Chromium for the viewer screen's tests."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from tests.support.app import JWT_SECRET, Api, make_token
from tests.support.plugin import StartServer
from tests.support.server import ServerProcess
from tests.support.services import CHROMIUM_FLAGS

DOCS = Path(__file__).resolve().parents[2] / "docs"
SERVER_ENV = {
    "JWT_SECRET": JWT_SECRET,
    "RATE_LIMIT_MAX_REQUESTS": "100000",
    "LOG_LEVEL": "WARNING",
}
# Debian's Chromium, never a downloaded browser; digits measured the same on every run.
CHROMIUM_ARGS = [*CHROMIUM_FLAGS, "--font-render-hinting=none"]


@pytest_asyncio.fixture
async def server(server_factory: StartServer) -> ServerProcess:
    """`roomtimer serve` on the embedded default (SQLite), in its own process."""
    return await server_factory(SERVER_ENV)


@pytest_asyncio.fixture
async def api(server: ServerProcess) -> AsyncIterator[Api]:
    """An HTTP client of `server`, signed in as `alice`."""
    async with Api(server.url, make_token("alice")) as client:
        yield client


@pytest_asyncio.fixture
async def browser(chromium_bin: str) -> AsyncIterator[Browser]:
    """Debian's Chromium driven by Playwright (no browser is ever downloaded)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_bin, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture
def docs_dir() -> Path:
    """Where screenshots for the README go."""
    DOCS.mkdir(exist_ok=True)
    return DOCS
