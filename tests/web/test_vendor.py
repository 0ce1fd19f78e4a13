"""The vendored browser files are the stock ones, as the VENDOR note says."""

import hashlib
import json
import re

from roomtimer.controllers.pages import STATIC_DIR, WEB_DIR
from tests.support.services import JS_DIR, needs

STOCK_CLIENT = JS_DIR / "node_modules" / "socket.io-client"


def test_socket_io_build_is_the_pinned_stock_file() -> None:
    if not (STOCK_CLIENT / "dist" / "socket.io.min.js").is_file():
        needs("Node socket.io-client", "tests/js has no node_modules: run `npm ci` there")

    pinned = json.loads((JS_DIR / "package.json").read_text())["dependencies"]["socket.io-client"]
    installed = json.loads((STOCK_CLIENT / "package.json").read_text())["version"]
    assert installed == pinned
    vendored = (STATIC_DIR / "vendor" / "socket.io.min.js").read_bytes()
    assert vendored == (STOCK_CLIENT / "dist" / "socket.io.min.js").read_bytes()
    assert f"Socket.IO v{pinned}" in vendored[:200].decode()
    assert (STATIC_DIR / "vendor" / "socket.io-client.LICENSE.txt").read_bytes() == (
        STOCK_CLIENT / "LICENSE"
    ).read_bytes()


def test_vendor_note_names_every_file_with_its_digest() -> None:
    note = (WEB_DIR / "VENDOR.md").read_text()
    rows = re.findall(r"^\| `(static/[^`]+)` \|.*\| `([0-9a-f]{64})` \|", note, re.MULTILINE)
    shipped = {
        path.relative_to(WEB_DIR).as_posix()
        for path in STATIC_DIR.rglob("*")
        if path.suffix == ".woff2"
        or "vendor" in path.relative_to(STATIC_DIR).parts
        and path.suffix in (".js", ".css")
    }
    assert {path for path, _ in rows} == shipped
    for path, digest in rows:
        assert hashlib.sha256((WEB_DIR / path).read_bytes()).hexdigest() == digest, path
    assert "SIL Open Font License" in (STATIC_DIR / "fonts" / "Inter-OFL.txt").read_text()
    swagger = STATIC_DIR / "vendor" / "swagger-ui"
    assert "Apache License" in (swagger / "LICENSE").read_text()


def test_pages_load_nothing_from_elsewhere() -> None:
    """Venues are often offline: no URL in a page, script or style leaves roomtimer."""
    texts = [p.read_text() for p in WEB_DIR.rglob("*") if p.suffix in (".html", ".css")]
    texts += [p.read_text() for p in STATIC_DIR.glob("*.js")]
    for text in texts:
        assert not re.search(r"(?:src|href|url)\(?=?[\"']?(?:https?:)?//", text)
