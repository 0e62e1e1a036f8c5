"""The demo agency's people and its roster: three 8-hour watches a day, local time.

Every district has four officers on each watch, one of them a CIT volunteer, except the
night watch of D4, which has none: the gap `GET /v1/coverage` shows, and the reason a crisis
call in D4 at night borrows a CIT officer from next door. Mobile crisis teams cover D1 and
D2 around the clock; D3 and D4 have co-responders by day and in the evening only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Certification, CoResponder, District, DistrictAdjacency, Officer
from app.repositories import districts as district_repo
from app.repositories import roster as roster_repo
from app.repositories import shifts as shift_repo
from app.repositories.shifts import add_shift
from app.vocabulary import ResponderType

ZONE = ZoneInfo("America/Denver")
# A 2 x 2 grid of districts around downtown Salt Lake City: (code, name, south, west).
GRID = [
    ("D1", "Northwest", 40.76, -111.95),
    ("D2", "Northeast", 40.76, -111.89),
    ("D3", "Southwest", 40.71, -111.95),
    ("D4", "Southeast", 40.71, -111.89),
]
CELL_LAT, CELL_LON = 0.05, 0.06
ADJACENT = [("D1", "D2"), ("D1", "D3"), ("D2", "D4"), ("D3", "D4")]
# The watches: name, local start hour, and the letter of its call signs.
WATCHES = [("day", 7, "A"), ("evening", 15, "B"), ("night", 23, "C")]
WATCH_HOURS = 8
OFFICERS_PER_WATCH = 4
# The roster reaches from yesterday to this many days ahead.
DAYS_AHEAD = 14

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Erin", "Frank", "Grace", "Hugo", "Iris", "Jon", "Kara",
         "Luis", "Maya", "Nate", "Olga", "Pete", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
         "Will", "Xena"]  # fmt: skip
LAST = ["Torres", "Walker", "Reyes", "Patel", "Brooks", "Osei", "Kim", "Silva", "Novak",
        "Park", "Lind", "Moreno"]  # fmt: skip


def demo_name(index: int) -> str:
    """The index-th officer's name: no two alike among the first len(FIRST) * len(LAST) (two
    Erin Morenos on one board, 1B10 and 3B10, had a dispatcher guess which was meant)."""
    first, rounds = index % len(FIRST), index // len(FIRST)
    return f"{FIRST[first]} {LAST[(rounds + index * 7) % len(LAST)]}"


@dataclass(frozen=True)
class Post:
    """Who works which watch where: the roster repeats it every day."""

    responder_type: ResponderType
    district: str
    watch: int  # index into WATCHES
    call_sign: str
    also_covers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CoResponderPlan:
    name: str
    kind: str
    provider: str
    specialties: tuple[str, ...]
    district: str
    watch: int
    also_covers: tuple[str, ...]


CO_RESPONDERS = [
    CoResponderPlan("Mobile Crisis Team 1", "mobile_crisis_team", "Valley Behavioral Health",
                    (), "D1", 0, ("D2",)),
    CoResponderPlan("Mobile Crisis Team 2", "mobile_crisis_team", "Valley Behavioral Health",
                    (), "D1", 1, ("D2",)),
    CoResponderPlan("Mobile Crisis Team 3", "mobile_crisis_team", "Valley Behavioral Health",
                    (), "D2", 2, ("D1",)),
    CoResponderPlan("Youth Crisis Team", "mobile_crisis_team", "Valley Behavioral Health",
                    ("youth",), "D3", 0, ()),
    CoResponderPlan("Rosa Diaz, peer specialist", "peer_specialist", "NAMI Utah",
                    ("language:es",), "D3", 1, ("D4",)),
    CoResponderPlan("Sam Ortiz, LCSW", "clinician", "County Mental Health",
                    ("language:es",), "D4", 0, ()),
]  # fmt: skip


def _boundary(south: float, west: float) -> dict[str, Any]:
    # Rounded: 40.76 + 0.05 is 40.809999999999995 in binary, and a point on the edge
    # between two districts, as a dispatcher types it (40.81), would fall in neither.
    north, east = round(south + CELL_LAT, 6), round(west + CELL_LON, 6)
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def point_in(rng: random.Random, code: str) -> tuple[float, float]:
    _, _, south, west = next(g for g in GRID if g[0] == code)
    return (
        round(south + rng.uniform(0.005, CELL_LAT - 0.005), 5),
        round(west + rng.uniform(0.005, CELL_LON - 0.005), 5),
    )


def officer_posts() -> list[tuple[str, int, int, bool]]:
    """(district, watch, seat, CIT) for every officer: seat 0 is the CIT volunteer, except
    on D4's night watch."""
    posts = []
    for code, *_ in GRID:
        for watch in range(len(WATCHES)):
            for seat in range(OFFICERS_PER_WATCH):
                cit = seat == 0 and not (code == "D4" and WATCHES[watch][0] == "night")
                posts.append((code, watch, seat, cit))
    return posts


def _certification(n: int, state_id: str, today: date, agency_id: UUID) -> Certification:
    """A 3-year CIT certification; two end soon, and one officer did not volunteer."""
    ends = today + timedelta(days={1: 20, 5: 75}.get(n, 200 + (37 * n) % 700))
    return Certification(
        state_officer_id=state_id,
        certification_number=f"UT-CIT-{2000 + n}",
        program="Utah CIT Academy (40 h)",
        certified_on=ends - timedelta(days=3 * 365),
        expires_on=ends,
        volunteered=n != 9,
        recorded_by_agency_id=agency_id,
    )


async def seed_people(session: AsyncSession, agency_id: UUID, now: datetime) -> None:
    """Districts, adjacency, officers with their certifications, and co-responders."""
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
    today = now.astimezone(ZONE).date()
    for n, (code, watch, seat, cit) in enumerate(officer_posts(), start=1):
        lat, lon = point_in(rng, code)
        state_id = f"UT-POST-{4100 + n}"
        trainings = rng.choice(
            [["de_escalation", "mh_awareness"], ["mh_awareness"], ["de_escalation"], []]
        )
        session.add(
            Officer(
                agency_id=agency_id,
                state_officer_id=state_id,
                badge_number=f"{code[1]}{WATCHES[watch][2]}{10 + seat}",
                name=demo_name(n - 1),
                trainings=trainings,
                lat=lat,
                lon=lon,
                location_at=now,
            )
        )
        if cit:
            session.add(_certification(n, state_id, today, agency_id))
    for plan in CO_RESPONDERS:
        lat, lon = point_in(rng, plan.district)
        session.add(
            CoResponder(
                agency_id=agency_id,
                name=plan.name,
                kind=plan.kind,
                provider=plan.provider,
                specialties=list(plan.specialties),
                lat=lat,
                lon=lon,
                location_at=now,
            )
        )
    await session.flush()


async def posts(session: AsyncSession, agency_id: UUID) -> dict[UUID, Post]:
    """Each responder's post, from the people seeded (officers by badge, teams by name).

    Responders added by hand (through the API, say) have none: the demo leaves them be."""
    by_badge = {
        f"{code[1]}{WATCHES[watch][2]}{10 + seat}": (code, watch)
        for code, watch, seat, _ in officer_posts()
    }
    out: dict[UUID, Post] = {}
    for officer in await roster_repo.all_officers(session, agency_id):
        if officer.badge_number in by_badge:
            code, watch = by_badge[officer.badge_number]
            out[officer.id] = Post("officer", code, watch, officer.badge_number)
    plans = {p.name: (n, p) for n, p in enumerate(CO_RESPONDERS, start=1)}
    for co in await roster_repo.all_co_responders(session, agency_id):
        if co.name not in plans:
            continue
        n, plan = plans[co.name]
        out[co.id] = Post("co_responder", plan.district, plan.watch, f"MCT-{n}", plan.also_covers)
    return out


def watch_start(day: date, watch: int) -> datetime:
    return datetime.combine(day, time(WATCHES[watch][1]), ZONE)


async def seed_roster(session: AsyncSession, agency_id: UUID, now: datetime) -> int:
    """Every post's watch from the day before now to DAYS_AHEAD days ahead, unless the
    responder already has a shift overlapping it (an earlier run's, or one added by hand);
    returns how many shifts were added."""
    districts = {d.code: d.id for d in await district_repo.all_districts(session, agency_id)}
    today = now.astimezone(ZONE).date()
    first = watch_start(today - timedelta(days=1), 0)
    last = watch_start(today + timedelta(days=DAYS_AHEAD + 1), 0) + timedelta(hours=WATCH_HOURS)
    existing = await shift_repo.shifts_overlapping(session, agency_id, first, last)
    added = 0
    for responder_id, post in (await posts(session, agency_id)).items():
        taken = existing.get(responder_id, [])
        for offset in range(-1, DAYS_AHEAD + 1):
            starts = watch_start(today + timedelta(days=offset), post.watch)
            ends = starts + timedelta(hours=WATCH_HOURS)
            if any(s < ends and starts < e for s, e in taken):
                continue
            add_shift(
                session,
                agency_id=agency_id,
                responder_type=post.responder_type,
                responder_id=responder_id,
                call_sign=post.call_sign,
                district_id=districts[post.district],
                also_covers=[districts[c] for c in post.also_covers],
                starts_at=starts,
                ends_at=ends,
            )
            added += 1
    await session.flush()
    return added
