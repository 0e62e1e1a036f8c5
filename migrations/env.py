"""Alembic environment: runs migrations over asyncpg."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.db.dsn import connect_spec
from app.db.engine import SESSION_SETTINGS
from app.db.migrate import MIGRATION_LOCK
from app.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    target, connect_args = connect_spec(url, timeout=10)
    engine = create_async_engine(
        target,
        poolclass=NullPool,
        hide_parameters=True,
        connect_args={**connect_args, "server_settings": SESSION_SETTINGS},
    )
    try:
        async with engine.connect() as connection:
            # One migration run at a time per database: two instances of a new release
            # starting together both migrated, and one failed on the other's rows
            # (UniqueViolation). The second waits, then finds the schema at its revision.
            # Held by the session until its connection closes (NullPool: at the end).
            await connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
            await connection.commit()
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
