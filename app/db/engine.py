"""Engine construction for PostgreSQL through SQLAlchemy's asyncpg dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from app.db.embedded import start_embedded
from app.db.raw import driver
from app.settings import Settings

# The role requests run as (created by migration 0006): it owns nothing, and row-level
# security shows it only the rows of the agency set for the current transaction.
APP_ROLE = "cit_app"
AGENCY = "cit_agency_id"
_SET_AGENCY = text("SELECT set_config('cit.agency_id', :agency, true)")


def resolve_database_url(settings: Settings) -> str:
    """Return the configured server's URL, starting the embedded one if none is configured."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)


def asyncpg_url(url: str) -> str:
    """Rewrite any postgresql:// URL for SQLAlchemy's asyncpg dialect."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def app_role_url(owner_url: str, settings: Settings) -> str:
    """The same server and database, as the unprivileged application role."""
    password = settings.database_app_password
    parsed = make_url(owner_url).set(
        username=APP_ROLE, password=password.get_secret_value() if password else None
    )
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Create the async engine; callers own it and must dispose() it."""
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max(4, pool_size // 4),
        pool_timeout=5,
        pool_recycle=1800,
        connect_args={
            "timeout": 5,
            "server_settings": {"application_name": "cit-dispatch"},
        },
    )


class AgencySession(Session):
    """A session whose every transaction starts by setting its agency (info[AGENCY])."""


@event.listens_for(AgencySession, "after_begin")
def _set_agency(session: Session, _tx: SessionTransaction, connection: Connection) -> None:
    agency = session.info.get(AGENCY)
    if agency is not None:
        connection.execute(_SET_AGENCY, {"agency": str(agency)})


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AgencySession)


@asynccontextmanager
async def agency_transaction(
    engine: AsyncEngine, agency_id: UUID
) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that sees only agency_id's rows; committed on success.

    engine must be in AUTOCOMMIT mode (AppState.autocommit), so SQLAlchemy adds no BEGIN of
    its own: BEGIN and the agency travel in one round trip (the simple query protocol takes
    both).
    """
    async with engine.connect() as conn:
        raw = await driver(conn)
        # agency_id is a UUID, so its text form is safe to inline.
        await raw.execute(
            f"BEGIN; SELECT set_config('cit.agency_id', '{UUID(str(agency_id))}', true)"
        )
        try:
            yield conn
        except BaseException:
            try:
                await raw.execute("ROLLBACK")
            except Exception:
                await conn.invalidate()  # never hand a connection mid-transaction to the pool
            raise
        await raw.execute("COMMIT")


def scope_session(session: AsyncSession, agency_id: UUID) -> None:
    """Make the session's transactions see only agency_id's rows (call before first use)."""
    session.info[AGENCY] = agency_id
