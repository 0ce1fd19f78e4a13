"""Database engine, sessions and migrations."""

import os
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from roomtimer.config import sqlite_path

if TYPE_CHECKING:
    from alembic.config import Config

# Any fixed number works: it only has to be the same in every worker.
MIGRATION_LOCK_ID = 7_262_001
# A server that accepts but never answers fails a connection after this long (asyncpg: 60 s).
CONNECT_TIMEOUT_S = 10.0
# SQLite: how long a statement waits for another process's write lock on the file ("database
# is locked" after it, a 503), and how long a request waits for the one connection (a little
# longer, so that it outwaits a holder stuck on the lock): a command is answered within
# their sum, 3.5 s, even while another process holds the file.
SQLITE_BUSY_TIMEOUT_MS = 1_500
SQLITE_POOL_WAIT_MS = SQLITE_BUSY_TIMEOUT_MS + 500
_COMPANIONS = ("-wal", "-shm")


def create_engine(url: str, timeout_s: float | None = None) -> AsyncEngine:
    """An async engine (it connects on first use); SQLite gets one connection, as writes
    are serialised anyway.

    `timeout_s` bounds each wait on PostgreSQL while serving: for a pooled connection, for a
    new one, for each statement. A database that stops answering (a network partition, a
    hung server) is then `unavailable` after it, not a request that hangs. Without it
    (migrations, which may run long statements) only connecting is bounded.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=SQLITE_POOL_WAIT_MS / 1000,
            hide_parameters=True,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        db_file = sqlite_path(url)
        if db_file is not None:
            reopen = _ReopenWhenWritable(db_file)
            event.listen(engine.sync_engine, "connect", reopen.connect)
            event.listen(engine.sync_engine, "checkout", reopen.checkout)
        return engine
    # hide_parameters: an error's text never carries a statement's values (user data, tokens).
    connect_args: dict[str, float] = {"timeout": timeout_s or CONNECT_TIMEOUT_S}
    if timeout_s:
        connect_args["command_timeout"] = timeout_s  # asyncpg: every statement, pings too
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_timeout=timeout_s or 30,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args=connect_args,
    )


def ensure_folder(url: str) -> None:
    """Creates the folder of an SQLite file, so that the first connection can make the file."""
    db_file = sqlite_path(url)
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class _ReopenWhenWritable:
    """SQLite opens a file it may not write read-only, and the connection stays so. Such a
    connection is dropped at checkout once the files are writable again, so writes resume
    with no restart (a stat per checkout, and only while read-only)."""

    def __init__(self, db_file: Path) -> None:
        # SQLite gives the -wal and -shm it creates the database file's mode.
        self.files = [db_file, *(db_file.with_name(db_file.name + end) for end in _COMPANIONS)]

    def writable(self) -> bool:
        return all(os.access(path, os.W_OK) for path in self.files if path.exists())

    def connect(self, _dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["read_only"] = not self.writable()

    def checkout(self, _dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        if record.info.get("read_only") and self.writable():
            raise sa_exc.DisconnectionError("the SQLite file is writable again: reopening it")


def session_factory(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    """Sessions whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def migrations_dir() -> Path:
    """Alembic scripts: inside the installed package, or at the source checkout's root."""
    packaged = Path(__file__).resolve().parent.parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "migrations"


def alembic_config() -> "Config":
    """Alembic configuration pointing at roomtimer's migrations."""
    from alembic.config import Config  # imported here: it costs every start a second

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def _run(connection: Connection, revision: str, downgrade: bool) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    if downgrade:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


async def migrate(url: str, revision: str = "head", *, downgrade: bool = False) -> None:
    """Applies migrations; several workers starting at once take turns (PostgreSQL lock)."""
    ensure_folder(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
            await conn.run_sync(_run, revision, downgrade)
    finally:
        await engine.dispose()


async def ping(engine: AsyncEngine) -> None:
    """Raises unless the database answers."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


# SQLSTATEs of a server that cannot take the statement now, whatever the statement: class
# 08 (connection exception), 53300 too many connections, 57P01 terminated by a shutdown,
# 57P02 crash shutdown, 57P03 cannot connect now (starting up, shutting down, recovering).
_UNAVAILABLE_CLASSES = ("08",)
_UNAVAILABLE_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})


def _says_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True  # SQLite's "database is locked", "attempt to write a readonly database"
    if isinstance(exc, OSError | TimeoutError | ConnectionError):
        return True  # refused, reset, unreachable
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and (
        state in _UNAVAILABLE_STATES or state[:2] in _UNAVAILABLE_CLASSES
    ):
        return True
    return type(exc).__module__.startswith("asyncpg") and "Connection" in type(exc).__name__


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached (down, refusing, timing out,
    starting up or shutting down, locked, read-only), not that a statement was wrong: the
    caller answers 503 `unavailable`, not 500."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if _says_unavailable(current):
            return True
        for name in ("orig", "driver_exception", "__cause__", "__context__"):
            found = getattr(current, name, None)
            if isinstance(found, BaseException):
                pending.append(found)
    return False
