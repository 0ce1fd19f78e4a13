"""Middleware does not touch the database's behaviour: its tests run on SQLite only."""

import pytest


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite, overriding the suite's SQLite-and-PostgreSQL parametrisation."""
    return sqlite_url
