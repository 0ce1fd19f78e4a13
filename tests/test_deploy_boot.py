"""The image's command when the database cannot be had: one log line, then gunicorn exits.

A database that refuses connections, and one that accepts them and never answers (the
connect timeout, 10 s, instead of asyncpg's 60 s), each stop the boot with one clear JSON
line and no traceback or password, instead of a restart loop.
"""

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port
from tests.support.app import JWT_SECRET
from tests.support.server import ServerFailed, ServerProcess
from tests.test_deploy import assert_json_lines, image_command


@contextlib.asynccontextmanager
async def silent_database() -> Any:
    """A port that accepts connections and never answers, as a hung database does."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("database", ["refusing", "silent"])
async def test_the_image_command_exits_with_one_line_when_the_database_is_unreachable(
    tmp_path: Path, database: str
) -> None:
    password = "Pw-never-in-a-log-42"
    async with silent_database() as silent_port:
        port = silent_port if database == "silent" else free_port()  # nothing listens there
        env = {
            "DATABASE_URL": f"postgresql://roomtimer:{password}@127.0.0.1:{port}/roomtimer",
            "JWT_SECRET": JWT_SECRET,
            "APP_ENV": "production",
        }
        server = ServerProcess(env, workdir=tmp_path, command=image_command())
        started = time.monotonic()
        with pytest.raises(ServerFailed) as failed:
            await server.start(deadline_s=30)
        took = time.monotonic() - started
    assert failed.value.returncode not in (None, 0)
    stderr = failed.value.stderr
    assert "Worker failed to boot" in stderr
    records = assert_json_lines(stderr)
    errors = [r for r in records if "database" in r["message"]]
    assert len(errors) == 1, errors
    assert errors[0]["level"] == "ERROR"
    assert "Traceback" not in stderr and password not in stderr
    if database == "silent":  # the connect timeout (10 s), not asyncpg's 60 s
        assert "no answer within 10 s" in errors[0]["message"]
        assert 9 < took < 25, took
