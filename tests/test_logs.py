"""What a production server writes to its log: flat JSON, a request id on each record of a
request, and nothing secret, even when a request fails in a way nobody planned for."""

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from roomtimer.config import load_settings
from roomtimer.logs import MASK, redact
from tests.support import services
from tests.support.app import JWT_SECRET, Api, make_token
from tests.support.cluster import RedisServer, StartServer, wait_until

REDIS_PASSWORD = "Redis-pw-never-logged-7f3a"
BODY_MARKER = "Body-text-never-logged-91c2"


def records(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line as a JSON object (each must be one)."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


async def test_an_unexpected_error_is_logged_with_its_request_id_and_no_secret(
    postgres_url: str, server_factory: StartServer, tmp_path: Path
) -> None:
    async with RedisServer.running(tmp_path / "redis", password=REDIS_PASSWORD) as redis:
        env = {
            "APP_ENV": "production",
            "DATABASE_URL": postgres_url,
            "REDIS_URL": redis.url,
            "JWT_SECRET": JWT_SECRET,
            "LOG_LEVEL": "DEBUG",
            "RATE_LIMIT_MAX_REQUESTS": "100000",
        }
        server = await server_factory(env)
        token = make_token("alice")
        async with Api(server.url, token) as api:
            room = await api.room()
            share = room["shareToken"]
            assert (await api.call("GET", f"/api/rooms/{share}", token=None)).status == 200
            # The database goes away under the server: every query now fails.
            await services.drop_database(services.database_url(), postgres_url)
            failed = await api.call(
                "GET", f"/api/rooms/{share}", token=None, headers={"X-Request-Id": "leak-1"}
            )
            assert failed.status == 500, failed.body
            assert failed.body["error"]["code"] == "internal_error"
            created = await api.call(
                "POST", "/api/rooms", {"name": BODY_MARKER}, headers={"X-Request-Id": "leak-2"}
            )
            assert created.status == 500, created.body

        async def both_logged() -> bool:
            ids = {r.get("requestId") for r in records(server.stderr()) if "status" in r}
            return {"leak-1", "leak-2"} <= ids

        await wait_until(both_logged, 10, "both failed requests were logged")
        await server.stop()

    text = server.stderr() + server.stdout()
    found = records(server.stderr())
    for record in found:  # flat: a log shipper indexes every field as it is
        assert {"level", "time", "message"} <= set(record), record
        assert not any(isinstance(v, dict | list) for v in record.values()), record
    of_request = [r for r in found if r.get("requestId") == "leak-1"]
    errors = [r for r in of_request if r["level"] == "ERROR"]
    assert errors and all("exception" in r for r in errors), of_request
    assert all(r["route"] == "/api/rooms/{key}" for r in of_request)
    [access] = [r for r in of_request if "status" in r]
    assert (access["status"], access["method"]) == (500, "GET")
    assert any(r.get("requestId") == "leak-2" and r["level"] == "ERROR" for r in found)

    database = urlsplit(postgres_url)
    for secret in [
        share,
        share[:16],
        token,
        token.split(".")[2],
        JWT_SECRET,
        REDIS_PASSWORD,
        BODY_MARKER,
        postgres_url,
        f"{database.username}:{database.password}@",
    ]:
        assert secret not in text, f"{secret!r} is in the log"


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("connect postgresql://rt:hunter2@db:5432/timers failed", "postgresql://rt:"),
        ("redis://:s3cret-pass@cache:6379/0 down", "redis://:"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "Authorization: Bearer"),
        ("key rk_Zx81kq-_aaaaaaaaaaaaaaaaaaaaaa revoked", "key rk_"),
    ],
)
def test_credentials_and_tokens_are_masked_in_any_text(line: str, kept: str) -> None:
    masked = redact(line)
    assert kept in masked and MASK in masked
    assert not any(word in masked for word in ("hunter2", "s3cret", "c2lnbmF0dXJl", "Zx81kq"))


def test_the_settings_repr_shows_no_password(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://rt:hunter2-db@db.internal/timers",
            "REDIS_URL": "redis://:hunter2-redis@cache:6379/0",
            "JWT_SECRET": JWT_SECRET,
            "ROOMTIMER_DATA_DIR": str(tmp_path),
        }
    )
    shown = repr(settings)
    assert "hunter2" not in shown and JWT_SECRET not in shown


async def test_debug_logs_on_sqlite_name_statements_without_their_values(
    server_factory: StartServer, tmp_path: Path
) -> None:
    env = {"JWT_SECRET": JWT_SECRET, "LOG_LEVEL": "DEBUG", "APP_ENV": "production"}
    server = await server_factory(env)
    async with Api(server.url, make_token("alice")) as api:
        room = await api.room(name=BODY_MARKER)
        assert (await api.call("GET", f"/api/rooms/{room['shareToken']}")).status == 200
    await server.stop()
    text = server.stderr()
    assert "INSERT INTO rooms" in text  # aiosqlite's debug lines are there…
    assert BODY_MARKER not in text and room["shareToken"] not in text  # …without values
    records(text)  # and every line is JSON
