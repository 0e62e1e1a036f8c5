"""Test fixtures on real PostgreSQL: embedded by default, CIT_TEST_DATABASE_URL otherwise.

Each run gets its own throwaway database, built by the Alembic migrations; every test
starts from empty tables.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from app.api.app import create_app
from app.db import dsn
from app.db.embedded import start_embedded
from app.db.engine import execute_alone
from app.db.migrate import upgrade
from app.encryption import generate_key
from app.limits import FailureMirror, RateLeases, RefusalTally
from app.settings import Settings
from app.state import LOCKOUT_AUDIT_WINDOW
from tests.helpers import Api, new_agency
from tests.receiver import Receiver

pytest_plugins = ["tests.watchdog"]


def _server_url() -> str:
    configured = os.environ.get("CIT_TEST_DATABASE_URL")
    if configured:
        return configured
    data_dir = Path(tempfile.mkdtemp(prefix="cit-test-"))
    return start_embedded(data_dir, ephemeral=True)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    server = make_url(_server_url())
    name = f"cit_test_{secrets.token_hex(4)}"
    admin = server.render_as_string(hide_password=False)
    asyncio.run(execute_alone(admin, f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    asyncio.run(execute_alone(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The shared app runs no webhook relay; webhook tests start services of their own.

    The data key is made fresh for each test session.
    """
    return Settings(
        data_key=SecretStr(generate_key()),
        cache_ttl_seconds=2.0,
        db_pool_size=10,
        run_relay=False,
        webhook_allow_private_targets=True,
        webhook_retry_schedule="0.3,0.3",
    )


@pytest.fixture(scope="session")
async def app(database_url: str, settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database_url)
    async with application.router.lifespan_context(application):
        yield application


# Every table emptied, in one transaction. Locked first, as TRUNCATE would lock them, so
# that what a test left running (a request's transaction) ends before, not after. Then
# DELETE, with the foreign keys' and the tables' own triggers off: TRUNCATE gives each
# table and index a new file, a quarter of a second a test for 25 tables and 65 indexes,
# more than most tests take (CI's suite ran minutes longer); a few rows deleted take
# milliseconds. Turning the triggers off takes a superuser (the embedded server's, the
# CI server's postgres); a test server's other user gets the TRUNCATE.
_EMPTY_TABLES = """
DO $$
DECLARE
    tables text := (SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables
                    WHERE schemaname = 'public' AND tablename <> 'alembic_version');
    t text;
BEGIN
    IF current_setting('is_superuser') <> 'on' THEN
        EXECUTE 'TRUNCATE ' || tables || ' CASCADE';
        RETURN;
    END IF;
    EXECUTE 'LOCK TABLE ' || tables || ' IN ACCESS EXCLUSIVE MODE';
    PERFORM set_config('session_replication_role', 'replica', true);
    FOR t IN SELECT quote_ident(tablename) FROM pg_tables
             WHERE schemaname = 'public' AND tablename <> 'alembic_version' LOOP
        EXECUTE 'DELETE FROM ' || t;
    END LOOP;
END $$"""


@pytest.fixture(autouse=True)
async def _empty_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After each test that used the database, empty every table for the next one."""
    yield
    if "database_url" not in request.fixturenames:
        return
    conn = await dsn.connect(request.getfixturevalue("database_url"))
    try:
        # Read committed, whatever the server's default: the DELETEs must see what the
        # transactions the locks waited for committed (a snapshot taken before would not).
        async with conn.transaction(isolation="read_committed"):
            await conn.execute(_EMPTY_TABLES)
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
def _fresh_limits(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with no failed-authentication counts or rate leases on the shared
    app (the tables that hold them for every instance are emptied with the rest)."""
    yield
    if "app" in request.fixturenames:
        state = request.getfixturevalue("app").state.cit
        state.failures = FailureMirror(float(state.settings.auth_lockout_seconds))
        state.rate = RateLeases(state.settings.rate_limit_per_minute)
        state.lockout_refusals = RefusalTally(LOCKOUT_AUDIT_WINDOW)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection, for asserting what was (or was not) written."""
    conn = await dsn.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cit.test") as http:
        yield http


@pytest.fixture
async def admin(app: FastAPI, client: httpx.AsyncClient) -> Api:
    """An admin of a fresh agency in America/Denver."""
    return await new_agency(app, client, name="Salt Lake Crisis", timezone="America/Denver")


@pytest.fixture
async def other_admin(app: FastAPI, client: httpx.AsyncClient) -> Api:
    """An admin of a second, unrelated agency."""
    return await new_agency(app, client, name="Other County", timezone="America/Chicago")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real HTTP receiver on loopback for webhook deliveries."""
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


ServiceFactory = Callable[..., AbstractAsyncContextManager[FastAPI]]


@pytest.fixture
def service(database_url: str, settings: Settings) -> ServiceFactory:
    """Start a whole service (with its relay) on the test database; stop it on exit."""

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[FastAPI]:
        app = create_app(settings.model_copy(update={"run_relay": True, **overrides}), database_url)
        async with app.router.lifespan_context(app):
            yield app

    return run
