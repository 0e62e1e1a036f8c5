"""A 2xx is never sent for a write whose commit failed: the commit precedes the response.

The commits here fail for real, in PostgreSQL: a deferred constraint trigger raises at
COMMIT, after every statement of the request has succeeded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db.raw import driver
from app.db.unit_of_work import UnitOfWork
from app.state import AppState
from tests.helpers import Api, add_officer, grid_districts

RefusingCommits = Callable[[str], AbstractAsyncContextManager[None]]


@pytest.fixture
def commits_refused_on(db: asyncpg.Connection) -> RefusingCommits:
    """Make every transaction that inserts into the table fail at COMMIT, for a while."""

    @asynccontextmanager
    async def refusing(table: str) -> AsyncIterator[None]:
        await db.execute(
            "CREATE OR REPLACE FUNCTION cit_test_refuse_commit() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'commit refused by the test'"
            " USING ERRCODE = 'check_violation'; END $$"
        )
        await db.execute(
            f"CREATE CONSTRAINT TRIGGER cit_test_refuse_commit AFTER INSERT ON {table}"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
            " EXECUTE FUNCTION cit_test_refuse_commit()"
        )
        try:
            yield
        finally:
            await db.execute(f"DROP TRIGGER cit_test_refuse_commit ON {table}")
            await db.execute("DROP FUNCTION cit_test_refuse_commit()")

    return refusing


def _server_like(app: FastAPI) -> httpx.AsyncClient:
    # Like a real server, the client gets the response even though the app re-raises.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://cit.test")


async def test_failed_commit_answers_an_error_and_stores_nothing(
    app: FastAPI, admin: Api, db: asyncpg.Connection, commits_refused_on: RefusingCommits
) -> None:
    async with commits_refused_on("district"), _server_like(app) as client:
        response = await client.post(
            "/v1/districts", json={"code": "D1", "name": "never stored"}, headers=admin.headers
        )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "refused by the test" not in response.text
    assert await db.fetchval("SELECT count(*) FROM district") == 0


async def test_failed_commit_on_call_intake_is_never_a_2xx_and_frees_the_key(
    app: FastAPI, admin: Api, db: asyncpg.Connection, commits_refused_on: RefusingCommits
) -> None:
    await grid_districts(admin)
    body = {"district": "D1", "nature": "MNTL", "notes": "never stored"}
    headers = {**admin.headers, "Idempotency-Key": "intake-commit-fails"}
    async with commits_refused_on("call"), _server_like(app) as client:
        response = await client.post("/v1/calls", json=body, headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    for table in ("call", "recommendation", "event", "idempotency_record"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # noqa: S608
    # The key was given back: the CAD's retry runs afresh instead of a 409 "in progress".
    retried = await admin.client.post("/v1/calls", json=body, headers=headers)
    assert retried.status_code == 201, retried.text
    assert await db.fetchval("SELECT count(*) FROM call") == 1


async def test_failed_commit_on_dispatch_is_never_a_2xx(
    app: FastAPI, admin: Api, db: asyncpg.Connection, commits_refused_on: RefusingCommits
) -> None:
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    async with commits_refused_on("assignment"), _server_like(app) as client:
        response = await client.post(f"/v1/calls/{call['id']}/dispatch", headers=admin.headers)
    assert response.status_code == 500
    assert await db.fetchval("SELECT count(*) FROM assignment") == 0
    assert await db.fetchval("SELECT status FROM officer WHERE id = $1", officer) == "available"
    assert await db.fetchval("SELECT status FROM call") == "pending"


async def _add_district(work: UnitOfWork) -> None:
    """Insert a district in work's transaction and finish it (commit, or roll back)."""
    async with work:
        session = await work.session()
        await session.execute(
            text(
                "INSERT INTO district (id, agency_id, code, name)"
                " VALUES (gen_random_uuid(), :agency, 'D9', 'D9')"
            ),
            {"agency": work.agency_id},
        )


async def test_after_commit_callbacks_run_only_after_a_commit(
    app: FastAPI, admin: Api, db: asyncpg.Connection, commits_refused_on: RefusingCommits
) -> None:
    state: AppState = app.state.cit
    ran: list[str] = []

    async def note_rollback() -> None:
        ran.append("rolled back")

    async with commits_refused_on("district"):
        work = state.unit_of_work(admin.agency_id)
        work.after_commit(lambda: ran.append("committed"))
        work.on_rollback(note_rollback)
        with pytest.raises(asyncpg.CheckViolationError, match="refused by the test"):
            await _add_district(work)
    assert ran == ["rolled back"]
    work = state.unit_of_work(admin.agency_id)
    work.after_commit(lambda: ran.append("committed"))
    work.on_rollback(note_rollback)
    await _add_district(work)
    assert ran == ["rolled back", "committed"]
    assert await db.fetchval("SELECT count(*) FROM district") == 1


async def test_a_read_only_unit_of_work_refuses_every_write(
    app: FastAPI, admin: Api, db: asyncpg.Connection
) -> None:
    state: AppState = app.state.cit
    with pytest.raises(DBAPIError, match="read-only transaction"):
        await _add_district(state.unit_of_work(admin.agency_id, read_only=True))
    assert await db.fetchval("SELECT count(*) FROM district") == 0


async def test_generic_plans_hold_for_their_transaction_only(app: FastAPI, admin: Api) -> None:
    """Intake, EIDO import, update, dispatch and clear run on generic plans; the setting
    ends with their transaction, so the pooled connection never carries it into another
    request's statements."""
    state: AppState = app.state.cit

    async def plan_mode(raw: asyncpg.Connection) -> str:
        mode: str = await raw.fetchval("SELECT current_setting('plan_cache_mode')")
        return mode

    work = state.unit_of_work(admin.agency_id)
    work.use_generic_plans()
    async with work:
        raw = await driver(await work.connection())
        assert await plan_mode(raw) == "force_generic_plan"
        await work.restart()  # a rollback and a new BEGIN keep it
        assert await plan_mode(raw) == "force_generic_plan"
        with pytest.raises(RuntimeError, match="already begun"):
            work.use_generic_plans()
    # Committed and back in the pool: the server's default again, on that same connection.
    assert not raw.is_in_transaction()
    assert await plan_mode(raw) == "auto"
    async with state.unit_of_work(admin.agency_id) as plain:
        assert await plan_mode(await driver(await plain.connection())) == "auto"
