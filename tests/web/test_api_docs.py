"""GET /api/docs: the OpenAPI document rendered by the Swagger UI roomtimer serves itself."""

from pathlib import Path
from typing import Any

from tests.support.server import ServerProcess
from tests.web.browser import open_viewer


async def test_the_api_reference_renders_offline_with_no_console_error(
    server: ServerProcess, browser: Any, docs_dir: Path
) -> None:
    page = await open_viewer(browser, f"{server.url}/api/docs", wait_live=False)
    # Every operation of the document shows, its summary included.
    await page.wait("() => document.querySelectorAll('.opblock').length >= 17")
    await page.wait("() => document.body.innerText.includes('Add a timer')")
    requested = await page.page.evaluate(
        "() => performance.getEntriesByType('resource').map(r => new URL(r.name).origin)"
    )
    assert set(requested) == {server.url}  # nothing from a CDN, nothing from swagger.io
    assert page.errors() == []  # the page's CSP refused nothing Swagger UI needs
    await page.page.screenshot(path=str(docs_dir / "api-docs.png"))
