"""The viewer screen's HTML, 404 page and static files over plain HTTP (no browser).

SQLite only: the subject is what the pages controller answers, which no database changes.
"""

import re
from collections.abc import AsyncIterator

import pytest_asyncio

from tests.support import app as support
from tests.support.app import Api, RunningApp

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')


@pytest_asyncio.fixture
async def sqlite_app(sqlite_url: str) -> AsyncIterator[RunningApp]:
    async with support.run_app(support.settings_for(sqlite_url)) as running:
        yield running


@pytest_asyncio.fixture
async def client(sqlite_app: RunningApp) -> AsyncIterator[Api]:
    async with Api(sqlite_app.url, sqlite_app.token("alice")) as api:
        yield api


async def get(api: Api, path: str) -> tuple[int, dict[str, str], bytes]:
    async with api.session.get(api.base_url + path) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_viewer_page_is_html_with_a_strict_policy(client: Api) -> None:
    room = await client.room(name="Hall <A> & B")
    status, headers, body = await get(client, f"/v/{room['shareToken']}")
    html = body.decode()
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    csp = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    host = client.base_url.removeprefix("http://")
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == csp["style-src"] == csp["font-src"] == "'self'"
    assert csp["connect-src"] == f"'self' ws://{host} wss://{host}"
    assert csp["frame-ancestors"] == "'self'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    # No inline script: only external ones and the JSON config block the module reads.
    for attributes in SCRIPT_TAG.findall(html):
        assert "src=" in attributes or 'type="application/json"' in attributes
    assert f'{{"shareToken":"{room["shareToken"]}"}}' in html
    assert "<title>Hall &lt;A&gt; &amp; B · roomtimer</title>" in html
    assert '<html lang="en" class="">' in html


async def test_transparent_option_is_set_before_the_first_paint(client: Api) -> None:
    room = await client.room()
    _, _, body = await get(client, f"/v/{room['shareToken']}?transparent=1")
    assert '<html lang="en" class="transparent">' in body.decode()


async def test_unknown_token_gets_a_friendly_404_page(client: Api) -> None:
    for token in ("no-such-room", "x" * 600):
        status, headers, body = await get(client, f"/v/{token}")
        assert status == 404
        assert headers["Content-Type"].startswith("text/html")
        assert "Content-Security-Policy" in headers
        assert "This room doesn’t exist" in body.decode()


async def test_rotated_token_page_is_gone(client: Api) -> None:
    room = await client.room()
    await client.call("POST", f"/api/rooms/{room['id']}/share-token")
    status, _, _ = await get(client, f"/v/{room['shareToken']}")
    assert status == 404


async def test_assets_are_served_with_types_and_long_caching(client: Api) -> None:
    room = await client.room()
    _, _, body = await get(client, f"/v/{room['shareToken']}")
    assets = ASSET.findall(body.decode())
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {
        "viewer.css",
        "viewer.js",
        "socket.io.min.js",
        "favicon.svg",
    }
    types = {}
    for asset in assets:
        status, headers, content = await get(client, asset)
        assert status == 200, asset
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        types[asset.rsplit(".", 1)[-1]] = headers["Content-Type"].split(";")[0]
        if asset.endswith(".css"):
            base = asset.rsplit("/", 1)[0]
            for font in re.findall(r'url\("([^"]+\.woff2)"\)', content.decode()):
                f_status, f_headers, _ = await get(client, f"{base}/{font}")
                assert (f_status, f_headers["Content-Type"]) == (200, "font/woff2")
    assert types == {
        "js": "text/javascript",
        "css": "text/css",
        "svg": "image/svg+xml",
    }
    # Modules import their siblings relatively: same version, same caching.
    module = next(a for a in assets if a.endswith("/viewer.js"))
    status, _, _ = await get(client, module.replace("viewer.js", "clock.js"))
    assert status == 200


async def test_static_files_outside_the_current_version_or_folder(client: Api) -> None:
    status, headers, _ = await get(client, "/static/old-release/viewer.js")
    assert (status, headers["Cache-Control"]) == (200, "no-cache")
    for path in (
        "/static/v/nothing-here.js",
        "/static/v/..%2F..%2Fcontrollers%2Fpages.py",
        "/static/v/..%2Ftemplates%2Fviewer.html",
        "/static/v/%2Fetc%2Fpasswd",
        "/static/v/vendor",
    ):
        status, headers, _ = await get(client, path)
        assert status == 404, path
        assert headers["Content-Type"].startswith("application/json")
