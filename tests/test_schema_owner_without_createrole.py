"""A schema owner that a DBA gave no CREATEROLE (a managed database's usual account): the
refusal says what to do, and once the DBA has made cit_app with its password, `migrate`
(and every `serve` start, which migrates) works with CIT_DATABASE_APP_PASSWORD set.

It failed at every start with "the database refused the command (InsufficientPrivilegeError,
SQLSTATE 42501)": setting the password needs CREATEROLE, though the role had it already
(the operations check).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import asyncpg
import pytest

from tests.private_pg import PrivateServer


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateServer]:
    """A private server whose cit_app must give its password (scram), with an owner
    without CREATEROLE and its database."""
    pg = PrivateServer()
    hba = pg.pgdata / "pg_hba.conf"
    hba.write_text("host all cit_app 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    pg.start()

    async def prepare() -> None:
        conn = await asyncpg.connect(pg.url)
        try:
            await conn.execute("CREATE ROLE owner LOGIN NOCREATEROLE")
            await conn.execute("CREATE DATABASE cit OWNER owner")
        finally:
            await conn.close()

    asyncio.run(prepare())
    yield pg
    pg.destroy()


def _migrate(server: PrivateServer, **env: str) -> subprocess.CompletedProcess[str]:
    owner_url = f"postgresql://owner@127.0.0.1:{server.port}/cit"
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        capture_output=True,
        text=True,
        env={**os.environ, "CIT_DATABASE_URL": owner_url, "CIT_LOG_LEVEL": "WARNING", **env},
        timeout=120,
        check=False,
    )


def _said(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join(line for line in result.stderr.splitlines() if not line.startswith("{"))


def test_an_owner_without_createrole_is_told_what_it_needs_then_runs_once_cit_app_exists(
    server: PrivateServer,
) -> None:
    refused = _migrate(server)
    assert refused.returncode == 1, refused.stderr
    said = _said(refused)
    assert "SQLSTATE 42501" in said
    assert "CREATEROLE unless the role cit_app exists already" in said

    async def dba_makes_cit_app() -> None:
        conn = await asyncpg.connect(server.url)
        try:
            await conn.execute(
                "CREATE ROLE cit_app LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD 'right-one'"
            )
        finally:
            await conn.close()

    asyncio.run(dba_makes_cit_app())
    made = _migrate(server, CIT_DATABASE_APP_PASSWORD="right-one")
    assert made.returncode == 0, made.stderr
    # Started again (as each `serve` start migrates): the password is still the role's.
    again = _migrate(server, CIT_DATABASE_APP_PASSWORD="right-one")
    assert again.returncode == 0, again.stderr
    # A password the role does not have is still refused: requests could not connect.
    wrong = _migrate(server, CIT_DATABASE_APP_PASSWORD="not-its-own")
    assert wrong.returncode == 2
    said = _said(wrong)
    assert "cit_app does not log in with CIT_DATABASE_APP_PASSWORD" in said
    assert "not-its-own" not in said
