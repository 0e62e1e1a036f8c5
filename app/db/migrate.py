"""Apply Alembic migrations from code (the `migrate` command, `serve`, and tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config

from app.db.engine import APP_ROLE, asyncpg_url, plain_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    config.set_main_option("sqlalchemy.url", asyncpg_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at url to revision (blocking; run it off the event loop)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def set_app_password(url: str, password: str) -> None:
    """Give the application role the password CIT_DATABASE_APP_PASSWORD names."""

    async def run() -> None:
        conn = await asyncpg.connect(plain_url(url))
        try:
            statement = await conn.fetchval(
                "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", APP_ROLE, password
            )
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())
