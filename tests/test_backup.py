"""README's backup of the embedded database, taken while a real server writes to it."""

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support.app import JWT_SECRET, Api, make_token
from tests.support.cluster import StartServer
from tests.support.services import REPO_ROOT


def readme_command(pattern: str) -> str:
    """The README line that matches pattern (so the test runs what readers copy)."""
    found = re.search(pattern, (REPO_ROOT / "README.md").read_text(), re.MULTILINE)
    assert found, pattern
    return found[0]


def rooms_in(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM rooms").fetchone()[0])


async def test_the_readme_backups_copy_every_room_while_serving(
    server_factory: StartServer, tmp_path: Path
) -> None:
    server = await server_factory({"JWT_SECRET": JWT_SECRET}, workdir=tmp_path)
    async with Api(server.url, make_token("alice")) as api:
        for n in range(3):
            await api.room(name=f"Hall {n}")
    (tmp_path / "backups").mkdir()
    python = readme_command(r"^\.venv/bin/python -c \"import sqlite3;.*\"$")
    code = python.split(" -c ", 1)[1].strip('"')
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=30)
    assert rooms_in(tmp_path / "backups" / "roomtimer.db") == 3
    sqlite = shutil.which("sqlite3")
    if sqlite is not None:  # the sqlite3 tool is optional: the Python line needs none
        line = readme_command(r"^sqlite3 data/roomtimer\.db \"\.backup .*\"$")
        subprocess.run(["sh", "-c", line], cwd=tmp_path, check=True, timeout=30)
        [copy] = (tmp_path / "backups").glob("roomtimer-*.db")
        assert rooms_in(copy) == 3
    async with Api(server.url, make_token("alice")) as api:
        assert (await api.call("GET", "/api/rooms")).status == 200  # still serving
