"""`serve --demo`: a small, realistic agency with shifts around the current time."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import create_engine, create_sessionmaker
from app.models import Certification, CoResponder, District, DistrictAdjacency, Officer
from app.repositories import districts as district_repo
from app.repositories import roster as roster_repo
from app.repositories.agencies import agency_by_ori, insert_agency
from app.repositories.keys import insert_api_key
from app.repositories.shifts import add_shift

DEMO_ORI = "UTDEMO001"
# A 2 x 2 grid of districts around downtown Salt Lake City: (code, name, south, west).
GRID = [
    ("D1", "Northwest", 40.76, -111.95),
    ("D2", "Northeast", 40.76, -111.89),
    ("D3", "Southwest", 40.71, -111.95),
    ("D4", "Southeast", 40.71, -111.89),
]
CELL_LAT, CELL_LON = 0.05, 0.06
ADJACENT = [("D1", "D2"), ("D1", "D3"), ("D2", "D4"), ("D3", "D4")]
# (district, name, cit, trainings). D4 has no CIT officer: calls there show the fallback.
OFFICERS = [
    ("D1", "Ana Torres", True, ["de_escalation", "mh_awareness"]),
    ("D1", "Ben Walker", False, ["mh_awareness"]),
    ("D1", "Chloe Reyes", False, []),
    ("D2", "Dev Patel", True, ["de_escalation"]),
    ("D2", "Erin Brooks", True, []),
    ("D2", "Frank Osei", False, []),
    ("D3", "Grace Kim", True, ["mh_awareness"]),
    ("D3", "Hugo Silva", False, ["de_escalation"]),
    ("D3", "Iris Novak", False, []),
    ("D4", "Jon Park", False, ["de_escalation"]),
    ("D4", "Kara Lind", False, ["mh_awareness"]),
    ("D4", "Luis Moreno", False, []),
]
# (district, also covers, name, kind, provider, specialties)
CO_RESPONDERS: list[tuple[str, list[str], str, str, str, list[str]]] = [
    ("D1", ["D2"], "Mobile Crisis Team 1", "mobile_crisis_team", "Valley Behavioral Health", []),
    ("D3", [], "Mobile Crisis Team 2", "mobile_crisis_team", "Valley Behavioral Health", ["youth"]),
    ("D4", [], "Sam Ortiz, LCSW", "clinician", "County Mental Health", ["language:es"]),
]


def _boundary(south: float, west: float) -> dict[str, Any]:
    north, east = south + CELL_LAT, west + CELL_LON
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _point_in(rng: random.Random, code: str) -> tuple[float, float]:
    _, _, south, west = next(g for g in GRID if g[0] == code)
    return (
        round(south + rng.uniform(0.005, CELL_LAT - 0.005), 5),
        round(west + rng.uniform(0.005, CELL_LON - 0.005), 5),
    )


async def _seed_roster(session: AsyncSession, agency_id: Any) -> dict[str, District]:
    rng = random.Random(7)
    districts = {
        code: District(agency_id=agency_id, code=code, name=name, boundary=_boundary(s, w))
        for code, name, s, w in GRID
    }
    session.add_all(districts.values())
    await session.flush()
    for a, b in ADJACENT:
        low, high = sorted((districts[a].id, districts[b].id))
        session.add(DistrictAdjacency(agency_id=agency_id, district_a_id=low, district_b_id=high))
    today = date.today()
    for n, (code, name, cit, trainings) in enumerate(OFFICERS, start=1):
        lat, lon = _point_in(rng, code)
        state_id = f"UT-POST-{4100 + n}"
        session.add(
            Officer(
                agency_id=agency_id,
                state_officer_id=state_id,
                badge_number=str(700 + n),
                name=name,
                trainings=trainings,
                lat=lat,
                lon=lon,
                location_at=datetime.now(UTC),
            )
        )
        if cit:
            session.add(
                Certification(
                    state_officer_id=state_id,
                    certification_number=f"UT-CIT-{2000 + n}",
                    program="Utah CIT Academy (40 h)",
                    certified_on=today - timedelta(days=400),
                    expires_on=today + timedelta(days=330),
                    volunteered=True,
                    recorded_by_agency_id=agency_id,
                )
            )
    for code, _, name, kind, provider, specialties in CO_RESPONDERS:
        lat, lon = _point_in(rng, code)
        session.add(
            CoResponder(
                agency_id=agency_id,
                name=name,
                kind=kind,
                provider=provider,
                specialties=specialties,
                lat=lat,
                lon=lon,
                location_at=datetime.now(UTC),
            )
        )
    await session.flush()
    return districts


async def _seed_shifts(session: AsyncSession, agency_id: Any) -> None:
    """Give every responder a shift covering now, unless one already does."""
    districts = {d.code: d for d in await district_repo.all_districts(session, agency_id)}
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    officers = await roster_repo.all_officers(session, agency_id)
    co_responders = await roster_repo.all_co_responders(session, agency_id)
    plans: list[tuple[str, Any, str, str, list[str]]] = []
    for n, officer in enumerate(sorted(officers, key=lambda o: o.badge_number)):
        code = OFFICERS[n % len(OFFICERS)][0]
        plans.append(("officer", officer.id, f"{code[1]}A{10 + n}", code, []))
    for n, co in enumerate(sorted(co_responders, key=lambda c: c.name)):
        code, covers = CO_RESPONDERS[n % len(CO_RESPONDERS)][:2]
        plans.append(("co_responder", co.id, f"MCT-{n + 1}", code, covers))
    for responder_type, responder_id, call_sign, code, covers in plans:
        add_shift(
            session,
            agency_id=agency_id,
            responder_type=responder_type,
            responder_id=responder_id,
            call_sign=call_sign,
            district_id=districts[code].id,
            also_covers=[districts[c].id for c in covers],
            starts_at=now - timedelta(hours=4),
            ends_at=now + timedelta(hours=8),
        )
        try:
            async with session.begin_nested():
                await session.flush()
        except IntegrityError:
            pass  # Already on shift now: the savepoint rollback drops the duplicate.


async def seed_demo(url: str, *, base_url: str) -> str:
    """Create (or refresh) the demo agency, print how to call it, and return its admin key."""
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
                await _seed_roster(session, agency.id)
            agency_id = agency.id
            await _seed_shifts(session, agency_id)
            _, key = await insert_api_key(session, agency_id=agency_id, role="admin", name="demo")
    finally:
        await engine.dispose()
    print(_instructions(base_url, str(agency_id), key), flush=True)
    return key


def _instructions(base_url: str, agency_id: str, key: str) -> str:
    return f"""
cit-dispatch demo agency {agency_id} is ready (districts D1-D4; D4 has no CIT officer on shift).
Admin API key (shown once): {key}

  export CIT_KEY={key}
  curl -s {base_url}/v1/units -H "Authorization: Bearer $CIT_KEY"
  curl -s -X POST {base_url}/v1/calls -H "Authorization: Bearer $CIT_KEY" \\
       -H 'Content-Type: application/json' \\
       -d '{{"district": "D1", "nature": "MNTL", "location": {{"lat": 40.785, "lon": -111.92}}}}'
  curl -s -X POST {base_url}/v1/calls -H "Authorization: Bearer $CIT_KEY" \\
       -H 'Content-Type: application/json' \\
       -d '{{"district": "D4", "nature": "WEAPON", "safety": {{"weapon": true}}}}'
API docs: {base_url}/docs
"""
