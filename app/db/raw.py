"""Hot-path statements on the pooled asyncpg connection, without SQLAlchemy's execution layer.

Connections still come from (and return to) the SQLAlchemy engine's pool. Call intake,
dispatch and clear write this way (each in one statement of steps, with_steps); profiling
showed SQLAlchemy's per-execute work there cost more than the database round trip itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncConnection

# `:name` parameters; `::type` casts are left alone.
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True)
class RawStatement:
    """A statement written with :name parameters, compiled to asyncpg's $n form."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def compile(cls, named_sql: str) -> RawStatement:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        return cls(_NAMED.sub(number, named_sql), tuple(names))

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


def json_text(value: object) -> str:
    """A json or jsonb parameter's text. pydantic-core writes it four to six times faster
    than json.dumps: call intake writes six such parameters, and json.dumps took 2 % of
    serve's time there (issue 16's profile)."""
    return to_json(value).decode()


def with_steps(*steps: tuple[str, str]) -> RawStatement:
    """One statement of named data-modifying steps (static SQL, never input).

    Every step sees the database as it was before the statement, not the others' writes.
    """
    ctes = ",\n".join(f"{name} AS ({sql})" for name, sql in steps)
    return RawStatement.compile(f"WITH {ctes}\nSELECT 1")


async def driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy AsyncConnection (same pool, same session).

    get_raw_connection runs in a greenlet, because a closed or invalidated connection
    reconnects there; a hot-path request asks four times or more (BEGIN, its statements,
    COMMIT). A connection that is neither holds its pooled connection already, and reading
    it does no I/O, so it is read directly.
    """
    sync = conn.sync_connection
    if sync is not None and not sync.closed and not sync.invalidated:
        raw = sync.connection
    else:
        raw = await conn.get_raw_connection()
    driver_connection: asyncpg.Connection = raw.driver_connection
    return driver_connection


async def abandon(conn: AsyncConnection) -> None:
    """Close conn at once, never to be used again: its socket is shut without a word to the
    server, which rolls back what it held as it notices. For a connection whose statement
    the server did not answer: SQLAlchemy's invalidate alone first closes it gracefully,
    waiting up to 2 s more on a server that may never answer."""
    if not (conn.closed or conn.invalidated):  # else nothing is left to shut (driver()
        (await driver(conn)).terminate()  # would open a new connection)
    await conn.invalidate()


async def invalidate_pool(conn: AsyncConnection, exc: BaseException) -> None:
    """Have conn's pool replace, on checkout, every connection made before now.

    What SQLAlchemy does on a disconnect it sees; the raw statements bypass it.
    """
    raw = await conn.get_raw_connection()
    conn.engine.sync_engine.pool._invalidate(raw, exc, _checkin=False)
