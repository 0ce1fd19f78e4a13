"""Alembic migrations: one head, up/down/up on every step, and the models' exact schema."""

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from roomtimer.config import database_url as async_url
from roomtimer.infra import db
from roomtimer.models.tables import Base


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(db.alembic_config())


@pytest.fixture
def url(database_url: str) -> str:
    """The parametrised DATABASE_URL as roomtimer's engine takes it."""
    return async_url(database_url, Path("unused"))


async def on_database(url: str, inspect_with: Any) -> Any:
    """Runs `inspect_with(sync_connection)` against the database."""
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(inspect_with)
    finally:
        await engine.dispose()


def tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def schema_differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def test_there_is_exactly_one_head() -> None:
    assert len(scripts().get_heads()) == 1


async def test_stairway_up_down_up(url: str) -> None:
    """Each revision applies, reverts and applies again, oldest first."""
    revisions = list(reversed(list(scripts().walk_revisions())))
    for revision in revisions:
        await db.migrate(url, revision.revision)
        await db.migrate(url, "-1", downgrade=True)
        assert await on_database(url, current_revision) == revision.down_revision
        await db.migrate(url, revision.revision)
        assert await on_database(url, current_revision) == revision.revision


async def test_head_down_to_base_and_up_again(url: str) -> None:
    await db.migrate(url)
    assert {"rooms", "timers"} <= await on_database(url, tables)
    await db.migrate(url, "base", downgrade=True)
    assert await on_database(url, tables) <= {"alembic_version"}
    assert await on_database(url, current_revision) is None
    await db.migrate(url)
    assert await on_database(url, current_revision) == scripts().get_current_head()


async def test_migrated_schema_matches_the_models(url: str) -> None:
    await db.migrate(url)
    assert await on_database(url, schema_differences) == []


async def test_migrating_twice_is_harmless(url: str) -> None:
    await db.migrate(url)
    await db.migrate(url)
    assert await on_database(url, current_revision) == scripts().get_current_head()
