"""The PostgreSQL server a benchmark runs on: the embedded one, or a database of its own on
an external server (--database-url), made for the run and dropped after it.

Deployments run on an external server (CIT_DATABASE_URL), which may be another version
and choose other plans: on PostgreSQL 15, with one large agency, the candidate query was
planned afresh for every call until intake ran on generic plans (issue 16); the embedded
server never showed it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from app.db import dsn
from app.db.engine import execute_alone


@dataclass(frozen=True)
class BenchServer:
    url: str  # the database the bench seeds and the service uses
    external: bool
    # The service's environment for this server (an external one needs a data key).
    env: dict[str, str]


@contextmanager
def bench_server(data_dir: Path, external_url: str | None) -> Iterator[BenchServer]:
    """The embedded server in data_dir (deleted when the bench ends), or a new database on
    the server of external_url, dropped when the block ends however it ends (and data_dir
    deleted)."""
    from app.db.embedded import start_embedded

    if external_url is None:
        yield BenchServer(start_embedded(data_dir, ephemeral=True), external=False, env={})
        return
    name = f"cit_bench_{secrets.token_hex(4)}"
    asyncio.run(execute_alone(external_url, f'CREATE DATABASE "{name}"'))
    url = make_url(external_url).set(database=name).render_as_string(hide_password=False)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    try:
        yield BenchServer(url, external=True, env={"CIT_DATABASE_URL": url, "CIT_DATA_KEY": key})
    finally:
        asyncio.run(execute_alone(external_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        # The services' logs there: gone as an embedded server's directory is.
        shutil.rmtree(data_dir, ignore_errors=True)


async def describe(server: BenchServer) -> str:
    """Which server the run is on, and its version."""
    conn = await dsn.connect(server.url)
    try:
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    if not server.external:
        return f"database: the embedded server, PostgreSQL {version}"
    where = make_url(server.url)
    # A Unix socket's directory comes as ?host=, and a TCP host in the URL's host part.
    at = where.host or where.query.get("host")
    return (
        f"database: {where.database} on the external server at {at}:{where.port or 5432},"
        f" PostgreSQL {version}"
    )


def _postgres_parent(pid: int) -> int | None:
    """The parent of the postgres process pid on this machine, if it is one here."""
    proc = Path(f"/proc/{pid}")
    if not proc.exists() or (proc / "comm").read_text().strip() != "postgres":
        return None
    # The field after the parenthesised command name is the state, then the parent.
    return int((proc / "stat").read_text().rpartition(")")[2].split()[1])


async def postmaster_pid(server: BenchServer, data_dir: Path) -> int | None:
    """The server's postmaster, whose processes the CPU meter reads; None when the external
    server is not on this machine (then its CPU goes unmeasured)."""
    if not server.external:
        return int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    conn = await dsn.connect(server.url)
    try:  # read while the backend lives
        return _postgres_parent(await conn.fetchval("SELECT pg_backend_pid()"))
    finally:
        await conn.close()
