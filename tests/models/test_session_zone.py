"""Sessions run in UTC whatever the server's zone: PostgreSQL adds an interval of days in
the session's zone, and daylight saving made a day 23 hours long."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from app.db.engine import app_role_url, create_engine
from app.db.raw import driver
from app.db.unit_of_work import UnitOfWork
from app.repositories.candidates import load_candidates
from app.settings import Settings
from tests.helpers import Api, add_shift, grid_districts

# Denver springs forward at 2027-03-14 02:00 MST (09:00 UTC).
SHIFT_STARTS = datetime(2027, 3, 13, 9, 30, tzinfo=UTC)
IN_THE_HOUR_AFTER = datetime(2027, 3, 14, 9, 15, tzinfo=UTC)


@pytest.fixture
async def server_in_denver(db: asyncpg.Connection) -> AsyncIterator[None]:
    """The test database's default zone is one with daylight saving, for new sessions."""
    name = await db.fetchval("SELECT current_database()")
    await db.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'America/Denver'")
    try:
        yield
    finally:
        await db.execute(f'ALTER DATABASE "{name}" RESET timezone')


async def test_a_unit_on_a_24_hour_shift_is_a_candidate_in_the_hour_after_the_spring_change(
    admin: Api,
    database_url: str,
    settings: Settings,
    db: asyncpg.Connection,
    server_in_denver: None,
) -> None:
    await grid_districts(admin)
    co = await admin.ok(
        "POST",
        "/v1/co-responders",
        {"name": "Clinician", "kind": "mobile_crisis_team", "provider": "County MH"},
        status=201,
    )
    await add_shift(
        admin,
        "co_responder",
        co["id"],
        call_sign="MCT-9",
        district="D1",
        starts_at=SHIFT_STARTS,
        ends_at=SHIFT_STARTS + timedelta(hours=24),
    )
    district_id = await db.fetchval("SELECT id FROM district WHERE code = 'D1'")
    engine = create_engine(app_role_url(database_url, settings), pool_size=1)
    try:
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        async with UnitOfWork(autocommit, admin.agency_id) as work:
            conn = await work.connection()
            zone = await (await driver(conn)).fetchval("SHOW TimeZone")
            found = await load_candidates(
                conn,
                agency_id=admin.agency_id,
                district_id=district_id,
                district_code="D1",
                rings={},
                codes={district_id: "D1"},
                now=IN_THE_HOUR_AFTER,
                today=date(2027, 3, 14),
                location=None,
                minor=False,
            )
    finally:
        await engine.dispose()
    assert [(c.call_sign, c.shift_starts_at) for c in found] == [("MCT-9", SHIFT_STARTS)]
    assert zone == "UTC"
