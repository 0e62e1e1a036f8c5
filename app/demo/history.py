"""Thirty days of past crisis calls for the demo agency, so that the program's reports show
real figures on a fresh machine.

Each call is routed by the real routing core against the units the demo roster had on watch
at that moment (some of them busy elsewhere), then dispatched, most often as recommended,
sometimes overridden with a code, and cleared with an outcome. Nothing here is sent as an
event: these calls happened before the demo started.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.demo.roster import ADJACENT, WATCH_HOURS, ZONE, Post, point_in, posts, watch_start
from app.ids import new_id
from app.models import Assignment, Call, Dispatch
from app.models import Officer as OfficerRow
from app.records.recommendations import recommendation_record
from app.repositories import calls as call_repo
from app.repositories import roster as roster_repo
from app.routing import recommend
from app.routing.types import CallFacts, Candidate, CertificationPeriod, GeoPoint, Policy
from app.vocabulary import (
    LEAD_OF,
    SAFETY_FLAGS,
    DivertedTo,
    Outcome,
    OverrideCode,
    ResponderType,
)

DAYS = 30
CALLS_PER_DAY = (3, 6)
# (outcome, where the person went, weight), by who led.
MH_ENDINGS: list[tuple[Outcome | None, DivertedTo | None, int]] = [
    ("resolved_on_scene", "none", 30),
    ("referred", "mh_outpatient", 22),
    ("transported_voluntary", "crisis_center", 18),
    ("involuntary_hold", "hospital", 8),
    ("transported_voluntary", "detox", 5),
    ("refused_services", "none", 8),
    ("gone_on_arrival", None, 5),
    (None, None, 4),
]
LE_ENDINGS: list[tuple[Outcome | None, DivertedTo | None, int]] = [
    ("resolved_on_scene", "none", 22),
    ("transported_voluntary", "hospital", 14),
    ("involuntary_hold", "hospital", 16),
    ("referred", "crisis_center", 12),
    ("arrest", "jail", 12),
    ("citation", "none", 5),
    ("gone_on_arrival", None, 8),
    ("unfounded", None, 6),
    (None, None, 5),
]
OVERRIDES: list[OverrideCode] = [
    "unit_busy_in_field",
    "caller_request",
    "new_safety_information",
    "supervisor_decision",
    "closer_unit",
]
NATURES = ["MNTL", "MNTL", "MNTL", "SUICTHRT", "WELFARE", "MTLV", "EDP"]


@dataclass(frozen=True)
class _Unit:
    id: UUID
    post: Post
    name: str
    trainings: frozenset[str]
    specialties: frozenset[str]
    certifications: tuple[CertificationPeriod, ...]


def _on_watch(unit: _Unit, at: datetime) -> tuple[datetime, datetime] | None:
    """The unit's watch that holds the instant, if any (a night watch began the day before)."""
    day = at.astimezone(ZONE).date()
    for start_day in (day, day - timedelta(days=1)):
        starts = watch_start(start_day, unit.post.watch)
        if starts <= at < starts + timedelta(hours=WATCH_HOURS):
            return starts, starts + timedelta(hours=WATCH_HOURS)
    return None


def _candidates(units: list[_Unit], at: datetime, rng: random.Random) -> list[Candidate]:
    out = []
    for unit in units:
        watch = _on_watch(unit, at)
        if watch is None:
            continue
        lat, lon = point_in(rng, unit.post.district)
        out.append(
            Candidate(
                responder_type="officer"
                if unit.post.responder_type == "officer"
                else "co_responder",
                responder_id=unit.id,
                name=unit.name,
                call_sign=unit.post.call_sign,
                shift_district=unit.post.district,
                also_covers=frozenset(unit.post.also_covers),
                shift_starts_at=watch[0],
                shift_ends_at=watch[1],
                # Some units are busy on other calls, as on any shift.
                status="available" if rng.random() > 0.15 else "on_scene",
                location=GeoPoint(lat, lon),
                certifications=unit.certifications,
                trainings=unit.trainings,
                specialties=unit.specialties,
            )
        )
    return out


def _pick(rng: random.Random, endings: list[tuple[Any, Any, int]]) -> tuple[Any, Any]:
    outcome, place, _ = rng.choices(endings, weights=[w for *_, w in endings])[0]
    return outcome, place


async def _units(session: AsyncSession, agency_id: UUID, today: date) -> list[_Unit]:
    by_id = await posts(session, agency_id)
    officers: list[OfficerRow] = [
        o for o in await roster_repo.all_officers(session, agency_id) if o.id in by_id
    ]
    valid = await roster_repo.valid_certifications(
        session, state_officer_ids=[o.state_officer_id for o in officers], on=today
    )
    certs = {
        person: [CertificationPeriod(c.certified_on, c.expires_on)] for person, c in valid.items()
    }
    units = [
        _Unit(
            o.id,
            by_id[o.id],
            o.name,
            frozenset(o.trainings),
            frozenset(),
            tuple(certs.get(o.state_officer_id, ())),
        )
        for o in officers
    ]
    units += [
        _Unit(c.id, by_id[c.id], c.name, frozenset(), frozenset(c.specialties), ())
        for c in await roster_repo.all_co_responders(session, agency_id)
        if c.id in by_id
    ]
    return units


async def seed_history(
    session: AsyncSession,
    agency_id: UUID,
    district_ids: dict[str, UUID],
    policy: Policy,
    now: datetime,
) -> int:
    """Past calls, cleared, on each of the DAYS days before now's that has none yet (all of
    them on a first run; on a later run, the days since the last); returns how many."""
    today: date = now.astimezone(ZONE).date()
    since = datetime.combine(today - timedelta(days=DAYS), time(), ZONE)
    seen = await call_repo.days_with_calls(session, agency_id, since=since, zone=ZONE.key)
    days = [today - timedelta(days=back) for back in range(DAYS, 0, -1)]
    days = [day for day in days if day not in seen]
    if not days:
        return 0
    units = await _units(session, agency_id, today)
    adjacency: dict[str, set[str]] = {}
    for a, b in ADJACENT:
        adjacency.setdefault(a, set()).add(b)
        adjacency.setdefault(b, set()).add(a)
    neighbours = {code: frozenset(ns) for code, ns in adjacency.items()}
    count = 0
    for day in days:
        # Each day its own stream: a day's calls are the same whichever run seeds it.
        rng = random.Random(day.toordinal())
        # In the order received: ids follow creation, and lists of calls go by id.
        minutes = sorted(rng.randrange(24 * 60) for _ in range(rng.randint(*CALLS_PER_DAY)))
        for minute in minutes:
            at = datetime.combine(day, time(), ZONE) + timedelta(minutes=minute)
            await _call(session, agency_id, district_ids, policy, neighbours, units, at, rng)
            count += 1
    await session.flush()
    return count


async def _call(
    session: AsyncSession,
    agency_id: UUID,
    district_ids: dict[str, UUID],
    policy: Policy,
    neighbours: dict[str, frozenset[str]],
    units: list[_Unit],
    received: datetime,
    rng: random.Random,
) -> None:
    code = rng.choice(sorted(district_ids))
    lat, lon = point_in(rng, code)
    nature = rng.choice(NATURES)
    flagged = {"weapon"} if rng.random() < 0.12 else set()
    if rng.random() < 0.08:
        flagged.add("medical_emergency")
    age = rng.choice([None, None, None, 15, 17, 24, 38, 52, 71])
    facts = CallFacts(
        district=code,
        location=GeoPoint(lat, lon),
        nature=nature,
        safety=frozenset(flagged),
        subject_age=age,
    )
    routed_at = received + timedelta(seconds=rng.randint(20, 90))
    result = recommend(
        facts,
        _candidates(units, routed_at, rng),
        policy,
        routed_at.astimezone(ZONE),
        adjacency=neighbours,
    )
    call_id, rec_id = new_id(), new_id()
    dispatched = bool(result.units) and rng.random() < 0.93
    dispatch_at = routed_at + timedelta(minutes=rng.uniform(0.5, 6))
    sent: list[tuple[ResponderType, UUID, str]] = [
        (u.responder_type, u.responder_id, u.role) for u in result.units
    ]
    signs = {u.responder_id: u.call_sign for u in result.units}
    override: OverrideCode | None = None
    if dispatched and result.lead == "mental_health" and rng.random() < 0.18:
        officers = [u for u in result.units if u.responder_type == "officer"]
        if officers:
            # Police sent to lead instead of the co-responder recommended.
            sent = [("officer", officers[0].responder_id, "lead")]
            override = rng.choice(OVERRIDES)
    lead_sent = next((LEAD_OF[t] for t, _, role in sent if role == "lead"), None)
    if not dispatched:
        outcome, place = "cancelled", None
    else:
        outcome, place = _pick(rng, MH_ENDINGS if lead_sent == "mental_health" else LE_ENDINGS)
    force = dispatched and lead_sent == "law_enforcement" and rng.random() < 0.06
    cleared = (dispatch_at if dispatched else routed_at) + timedelta(minutes=rng.uniform(25, 140))
    session.add(
        Call(
            id=call_id,
            agency_id=agency_id,
            external_id=f"CAD-{received:%Y%m%d}-{rng.randrange(10_000, 99_999)}",
            status="cleared",
            district_id=district_ids[code],
            lat=lat,
            lon=lon,
            nature=nature,
            safety={flag: flag in flagged for flag in SAFETY_FLAGS},
            subject={} if age is None else {"age": age},
            received_at=received,
            created_at=received,
            updated_at=cleared,
            dispatched_at=dispatch_at if dispatched else None,
            cleared_at=cleared,
            disposition=(outcome or "closed").replace("_", " "),
            diverted_to=place,
            outcome=outcome,
            use_of_force=force,
            subject_injured=force and rng.random() < 0.4,
            officer_injured=force and rng.random() < 0.2,
        )
    )
    rec = recommendation_record(
        result, id=rec_id, agency_id=agency_id, call_id=call_id, created_at=routed_at
    )
    # Written before its dispatch: the ORM orders inserts only along relationships.
    await call_repo.write_past_recommendation(session, rec)
    if not dispatched:
        return
    dispatch = Dispatch(
        id=new_id(),
        agency_id=agency_id,
        call_id=call_id,
        at=dispatch_at,
        recommendation_id=rec_id,
        recommended_lead=result.lead,
        dispatched_lead=lead_sent,
        override_code=override,
        override_reason=None if override is None else override.replace("_", " "),
    )
    session.add(dispatch)
    arrival = dispatch_at + timedelta(minutes=rng.uniform(4, 22))
    for n, (responder_type, responder_id, role) in enumerate(sent):
        session.add(
            Assignment(
                id=new_id(),
                agency_id=agency_id,
                call_id=call_id,
                dispatch_id=dispatch.id,
                responder_type=responder_type,
                responder_id=responder_id,
                role=role,
                override_reason=dispatch.override_reason,
                assigned_at=dispatch_at,
                released_at=cleared,
                released_status="available",  # as a clear releases them
                call_sign=signs[responder_id],
                on_scene_at=None
                if outcome == "gone_on_arrival" and n
                else arrival + timedelta(minutes=3 * n),
            )
        )
