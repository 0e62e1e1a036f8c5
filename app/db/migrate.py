"""Apply Alembic migrations from code (the `migrate` command, `serve`, and tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url

from app.db import dsn
from app.db.engine import APP_ROLE, asyncpg_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# The advisory lock key of a migration run, and of setting the app role's password after
# it (the bytes of "cit-migr"): instances starting together take turns (migrations/env.py).
MIGRATION_LOCK = int.from_bytes(b"cit-migr", "big") - 2**63
# Seconds to reach the server for a look at the schema, as the engines wait (engine.py).
CONNECT_TIMEOUT = 5


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    config.set_main_option("sqlalchemy.url", asyncpg_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at url to revision (blocking; run it off the event loop)."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The revision this release's migrations end at."""
    head = ScriptDirectory.from_config(alembic_config("postgresql://unused/")).get_current_head()
    assert head is not None, "the migrations have one head"
    return head


def knows_revision(revision: str) -> bool:
    """Whether revision is one of this release's migrations."""
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused/"))
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def schema_revision(url: str) -> str | None:
    """The revision the database at url was migrated to; None if it never was."""

    async def run() -> str | None:
        conn = await dsn.connect(url, within=CONNECT_TIMEOUT)
        try:
            if await conn.fetchval("SELECT to_regclass('alembic_version')") is None:
                return None
            found: str | None = await conn.fetchval("SELECT version_num FROM alembic_version")
            return found
        finally:
            await conn.close()

    return asyncio.run(run())


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def set_app_password(url: str, password: str) -> None:
    """Give the application role the password CIT_DATABASE_APP_PASSWORD names.

    A schema owner without CREATEROLE may not (a DBA made the role, and gave it the
    password): that is no failure while the role logs in with the password, as requests
    will; otherwise the refusal stands."""

    async def run() -> None:
        conn = await dsn.connect(url)
        try:
            statement = await conn.fetchval(
                "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", APP_ROLE, password
            )
            # Two at once fail ("tuple concurrently updated"): serve's instances starting
            # together each set it.
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                await conn.execute(statement)
        except asyncpg.InsufficientPrivilegeError:
            refused = await _login_refused(url, password)
            if refused is not None:
                raise AppPasswordRefused(
                    f"{APP_ROLE} {refused}, and the user in CIT_DATABASE_URL may not give it"
                    f" CIT_DATABASE_APP_PASSWORD (it lacks CREATEROLE): set the password"
                    f" {APP_ROLE} has, or have a DBA run ALTER ROLE {APP_ROLE} PASSWORD '…'"
                ) from None
        finally:
            await conn.close()

    asyncio.run(run())


class AppPasswordRefused(Exception):
    """The application role's password is not CIT_DATABASE_APP_PASSWORD, and the schema
    owner may not set it."""


async def _login_refused(url: str, password: str) -> str | None:
    """Why the application role does not connect to url's database with password (None:
    it does), in words for an operator."""
    as_app = make_url(url).set(username=APP_ROLE, password=password)
    try:
        conn = await dsn.connect(as_app.render_as_string(hide_password=False))
    except asyncpg.InvalidPasswordError:
        return "does not log in with CIT_DATABASE_APP_PASSWORD"
    except asyncpg.PostgresError as exc:
        return f"cannot log in ({type(exc).__name__}, SQLSTATE {exc.sqlstate})"
    except OSError as exc:
        return f"cannot log in ({exc.strerror or type(exc).__name__})"
    await conn.close()
    return None
