"""Alembic environment: runs on the connection roomtimer hands over, or on DATABASE_URL."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from roomtimer.models.tables import Base

config = context.config
target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    from roomtimer.services.db import create_engine

    from roomtimer.config import load_settings

    engine = create_engine(load_settings().database_url)
    async with engine.begin() as conn:
        await conn.run_sync(run_with)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:  # the `alembic` command line
    asyncio.run(run_from_settings())
