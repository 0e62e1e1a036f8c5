"""`serve --demo`: a small, realistic agency: a roster from yesterday to two weeks ahead
(app/demo/roster.py) and thirty days of past calls (app/demo/history.py)."""

from __future__ import annotations

from datetime import datetime

from app.db.engine import create_engine, create_sessionmaker
from app.demo.history import seed_history
from app.demo.roster import ZONE, seed_people, seed_roster
from app.repositories import districts as district_repo
from app.repositories.agencies import agency_by_ori, insert_agency, latest_policy, routing_policy
from app.repositories.keys import insert_api_key

DEMO_ORI = "UTDEMO001"


async def seed_demo(url: str, *, base_url: str, now: datetime | None = None) -> str:
    """Create the demo agency, or bring it up to date, print how to call it, and return a
    new admin key.

    Safe to run again on the same database, on any later day: the roster is extended to
    DAYS_AHEAD days past now (never a shift overlapping one already there), and past calls
    are added only for the days of the last thirty that have none.
    """
    now = now or datetime.now(ZONE)
    engine = create_engine(url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            agency = await agency_by_ori(session, DEMO_ORI)
            if agency is None:
                agency = await insert_agency(
                    session,
                    name="Demo County Crisis Response",
                    timezone="America/Denver",
                    ori=DEMO_ORI,
                )
                await seed_people(session, agency.id, now)
            await seed_roster(session, agency.id, now)
            districts = await district_repo.all_districts(session, agency.id)
            policy = routing_policy(await latest_policy(session, agency.id))
            await seed_history(session, agency.id, {d.code: d.id for d in districts}, policy, now)
            agency_id = agency.id
            _, key = await insert_api_key(session, agency_id=agency_id, role="admin", name="demo")
    finally:
        await engine.dispose()
    print(_instructions(base_url, str(agency_id), key), flush=True)
    return key


def _instructions(base_url: str, agency_id: str, key: str) -> str:
    return f"""
cit-dispatch demo agency {agency_id} is ready: districts D1-D4 in America/Denver, a
roster from yesterday to two weeks ahead (D4's night watch, 23:00-07:00, has no CIT
officer), and 30 days of past calls for the program's reports.
Admin API key (shown once): {key}

  export CIT_KEY={key}
  export AGENCY_ID={agency_id}
  curl -s {base_url}/v1/units -H "Authorization: Bearer $CIT_KEY"
  curl -s -X POST {base_url}/v1/calls -H "Authorization: Bearer $CIT_KEY" \\
       -H 'Content-Type: application/json' \\
       -d '{{"district": "D1", "nature": "MNTL", "location": {{"lat": 40.785, "lon": -111.92}}}}'
  curl -s -X POST {base_url}/v1/calls -H "Authorization: Bearer $CIT_KEY" \\
       -H 'Content-Type: application/json' \\
       -d '{{"district": "D4", "nature": "WEAPON", "safety": {{"weapon": true}}}}'
  curl -s {base_url}/v1/coverage -H "Authorization: Bearer $CIT_KEY"
  curl -s {base_url}/v1/program -H "Authorization: Bearer $CIT_KEY"
  curl -s {base_url}/v1/reports/outcomes -H "Authorization: Bearer $CIT_KEY"
API docs: {base_url}/docs
"""
