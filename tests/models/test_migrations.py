"""Migrations are the schema: they upgrade, downgrade to nothing and upgrade again."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.engine import execute_alone, plain_url
from app.db.migrate import downgrade, upgrade
from app.models import Base


@pytest.fixture
def scratch_url(database_url: str) -> Iterator[str]:
    name = f"cit_mig_{secrets.token_hex(4)}"
    server = make_url(database_url)
    admin = server.render_as_string(hide_password=False)
    asyncio.run(execute_alone(admin, f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    asyncio.run(execute_alone(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


def test_upgrade_downgrade_upgrade_round_trip(scratch_url: str) -> None:
    upgrade(scratch_url)
    assert {"call", "officer", "shift", "assignment"} <= asyncio.run(_tables(scratch_url))
    downgrade(scratch_url, "base")
    assert asyncio.run(_tables(scratch_url)) <= {"alembic_version"}
    upgrade(scratch_url)
    assert "call" in asyncio.run(_tables(scratch_url))


def test_models_match_the_migrated_schema(scratch_url: str) -> None:
    """The ORM models describe exactly the tables, columns and indexes migrations build."""
    upgrade(scratch_url)

    async def differences() -> list[Any]:
        engine = create_async_engine(make_url(scratch_url).set(drivername="postgresql+asyncpg"))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(sync, opts={"compare_type": True}),
                        Base.metadata,
                    )
                )
        finally:
            await engine.dispose()

    assert asyncio.run(differences()) == []
