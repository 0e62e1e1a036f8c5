"""Engine construction for PostgreSQL through SQLAlchemy's asyncpg dialect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

from app.db import dsn
from app.db.embedded import start_embedded
from app.settings import Settings

log = logging.getLogger(__name__)

# How long a stopping process waits for the database to take each pooled connection's
# leave: a server that does not answer (frozen, or a network that dropped it) held the
# exit for ever, past any orchestrator's kill timeout.
DISPOSE_SECONDS = 2.0

# A statement the server was to cancel at its statement_timeout, not answered a second
# after it: the server does not answer at all.
UNANSWERED_MARGIN = 1.0

# The role requests run as (created by migration 0006): it owns nothing, and row-level
# security shows it only the rows of the agency set for the current transaction.
APP_ROLE = "cit_app"


def resolve_database_url(settings: Settings) -> str:
    """Return the configured server's URL, starting the embedded one if none is configured."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)


def asyncpg_url(url: str) -> str:
    """Rewrite any postgresql:// URL for SQLAlchemy's asyncpg dialect."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_url(url: str) -> str:
    """Rewrite any postgresql:// URL (a SQLAlchemy dialect's too) in the plain form that
    asyncpg.connect and libpq take."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


async def execute_alone(url: str, statement: str) -> None:
    """Run one statement on a connection of its own, outside any pool or transaction block
    (CREATE DATABASE and DROP DATABASE must): for set-up, the benchmark and the tests."""
    conn = await dsn.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def app_role_url(owner_url: str, settings: Settings) -> str:
    """The same server and database, as the unprivileged application role."""
    password = settings.database_app_password
    parsed = make_url(owner_url).set(
        username=APP_ROLE, password=password.get_secret_value() if password else None
    )
    return parsed.render_as_string(hide_password=False)


# Every session runs in UTC, whatever the server's default zone. PostgreSQL adds and
# subtracts an interval of days (a timedelta of 24 hours is sent as '1 day') in the
# session's zone: in one with daylight saving, `now - '1 day'` spans 23 hours after the
# spring change, and the candidate query's window left out a unit on a 24-hour shift for
# that hour (a review). A local day is always computed with the agency's zone, named.
SESSION_SETTINGS = {"application_name": "cit-dispatch", "TimeZone": "UTC"}


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    server_settings: dict[str, str] | None = None,
    command_timeout: float | None = None,
) -> AsyncEngine:
    """Create the async engine; callers own it and must dispose() it. server_settings are
    set on each of its connections as it opens.

    With command_timeout, the server cancels a statement still running after that many
    seconds (statement_timeout, on every connection: one waiting on a lock, say), which
    fails with SQLSTATE 57014 on a connection still fine. The server must cancel it: a
    connection closed under a statement waiting on a lock left its backend in the lock's
    queue, holding a connection slot, until the lock went (asyncpg's own cancel request
    goes with the connection). A statement the server has not answered at all a second
    later raises TimeoutError, and its connection is shut at once, never reused. A
    connection is given 5 s to open, or command_timeout if shorter (the URL's
    connect_timeout, if it gives one)."""
    connect = 5.0 if command_timeout is None else min(5.0, command_timeout)
    target, connect_args = dsn.connect_spec(url, timeout=connect)
    settings = {**SESSION_SETTINGS, **(server_settings or {})}
    if command_timeout is not None:
        settings["statement_timeout"] = str(math.ceil(command_timeout * 1000))
        connect_args["command_timeout"] = command_timeout + UNANSWERED_MARGIN
    engine = create_async_engine(
        target,
        pool_size=pool_size,
        max_overflow=max(4, pool_size // 4),
        pool_timeout=5,
        pool_recycle=1800,
        # A failed statement's error (a 500's log) never carries its parameters: a caller's
        # address or a subject's details would be written to the log.
        hide_parameters=True,
        connect_args={**connect_args, "server_settings": settings},
    )
    if command_timeout is not None:
        event.listen(engine.sync_engine, "handle_error", _close_unanswered)
    return engine


def _close_unanswered(context: ExceptionContext) -> None:
    """A statement SQLAlchemy ran that the server did not answer: its connection is shut
    at once. SQLAlchemy takes the TimeoutError for a disconnect, and closed the connection
    gracefully, waiting up to 2 s more on a server that does not answer."""
    if not isinstance(context.original_exception, TimeoutError) or context.connection is None:
        return
    with contextlib.suppress(Exception):
        driver = context.connection.connection.driver_connection
        if driver is not None:
            driver.terminate()


async def dispose_within(engine: AsyncEngine, seconds: float = DISPOSE_SECONDS) -> None:
    """Close the engine's pooled connections, waiting at most seconds for the server; those
    not closed by then are dropped unclosed (their sockets close as the process exits, and
    the server rolls back whatever they held)."""
    try:
        async with asyncio.timeout(seconds):
            await engine.dispose()
    except TimeoutError:
        log.warning("the database did not answer as its connections closed; dropped unclosed")
        await engine.dispose(close=False)


def connections_in_use(engine: AsyncEngine) -> int:
    """Connections checked out of the engine's pool now: the pool counts, no round trip."""
    pool = engine.pool
    return pool.checkedout() if isinstance(pool, QueuePool) else 0


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for the command line and demo seeding, which run as the schema owner.

    Requests use a UnitOfWork (app/db/unit_of_work.py) instead.
    """
    return async_sessionmaker(engine, expire_on_commit=False)
