"""Migrations are the schema: they upgrade, downgrade to nothing and upgrade again."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.db.migrate import downgrade, upgrade


@pytest.fixture
def scratch_url(database_url: str) -> Iterator[str]:
    name = f"cit_mig_{secrets.token_hex(4)}"
    server = make_url(database_url)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
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
