"""Seed a year of crisis calls, recommended, dispatched and cleared, for the report benchmark.

Used by `bench/calls.py --coverage`, after bench/roster_year.py has seeded the agency. The
calls are received at random over the roster's year, spread evenly over its 50 districts.
Each has the rows the service would have written for it, generated here and loaded by
COPY (so every CHECK constraint and foreign key is checked as it loads):
- a recommendation: law enforcement leads when the call is safety-flagged (about a quarter
  of them), mental health leads 87 % of the rest (about 65 % overall); the others carry
  the warning `no_co_responder_available`, and a few carry the CIT warnings;
- for 93 %, a dispatch a few minutes later recording the lead recommended and sent: about
  15 % of mental-health recommendations are overridden to law enforcement (with an
  override code), a few law-enforcement ones the other way, and a few send no lead;
- its assignments, one or two units (a co-responder, a CIT or other officer), assigned at
  the dispatch under the call sign of the unit's shifts (the service keeps the naming
  shift's: every shift of a seeded unit has the one call sign, and a unit with no shift
  none), on scene a few minutes later for most, released as available when the call is
  cleared (as a clear releases them);
- every dispatched call is cleared, most with an outcome (6 % unrecorded), a place the
  subject was diverted to, and sometimes use of force or injuries; of the calls never
  dispatched, 60 % were cleared by phone and the rest are still pending.

Units are real seeded officers and co-responders from the call's district (its home
roster), drawn at random; they are not checked against the roster's hours, which the
reports do not compare. No outbox event or audit entry is written: the reports read
neither.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from app.db import dsn
from app.vocabulary import OVERRIDE_CODES, Lead, Outcome, ResponderType
from bench.intake import NATURES
from bench.roster_year import TIMEZONE, SeededYear
from bench.seed import point_in

# How often each outcome is drawn (in percent), by the kind of lead sent.
_OUTCOMES: dict[Lead, dict[Outcome, int]] = {
    "mental_health": {
        "resolved_on_scene": 30,
        "referred": 25,
        "transported_voluntary": 14,
        "involuntary_hold": 6,
        "gone_on_arrival": 8,
        "refused_services": 8,
        "unfounded": 4,
        "cancelled": 3,
        "arrest": 1,
        "citation": 1,
    },
    "law_enforcement": {
        "resolved_on_scene": 30,
        "referred": 12,
        "transported_voluntary": 10,
        "involuntary_hold": 12,
        "gone_on_arrival": 8,
        "refused_services": 5,
        "unfounded": 4,
        "cancelled": 3,
        "arrest": 10,
        "citation": 6,
    },
}
_BY_PHONE: list[Outcome] = ["referred", "cancelled", "unfounded", "refused_services"]
_DIVERTED: dict[str, list[str]] = {
    "referred": ["mh_outpatient", "crisis_center"],
    "transported_voluntary": ["crisis_center", "hospital", "detox"],
    "involuntary_hold": ["hospital"],
    "arrest": ["jail", "jail", "jail", "none"],
}
_WARNINGS = {
    "no_co_responder_available": "No mental-health co-responder is available in reach",
    "no_cit_available": "No CIT officer is available in or near the district",
    "no_cit_in_district": "No CIT officer is on shift and available in the district",
    "cit_from_adjacent_district": "The CIT officer comes from an adjacent district",
}


# A unit assigned or recommended: its kind and id.
Unit = tuple[ResponderType, UUID]


@dataclass
class SeededCalls:
    """What was seeded, counted as the outcome report defines its figures."""

    start: datetime
    end: datetime
    calls: int
    cleared: int
    not_dispatched: int
    recommended_mental_health: int
    mental_health_not_followed: int
    assignments: int
    seconds: float


@dataclass(frozen=True)
class _Pools:
    """The units a call in one district draws from."""

    co_responders: list[UUID]
    cit_officers: list[UUID]
    other_officers: list[UUID]


def year_range(year: SeededYear) -> tuple[datetime, datetime]:
    """The roster's year as instants: local midnight of its first day to after its last."""
    zone = ZoneInfo(TIMEZONE)
    end_day: date = year.start + timedelta(days=year.days)
    return (
        datetime.combine(year.start, clock(), zone),
        datetime.combine(end_day, clock(), zone),
    )


def _uuid7_at(at: datetime, rng: random.Random) -> UUID:
    """A UUIDv7 with `at` as its time, so ids sort with the instants they are made for."""
    ms = int(at.timestamp() * 1000)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rng.getrandbits(12) << 64
    return UUID(int=value | 0b10 << 62 | rng.getrandbits(62))


async def _pools(conn: asyncpg.Connection, year: SeededYear) -> dict[UUID, _Pools]:
    """Each district's active units by kind; a district with none of a kind borrows the
    agency's."""
    rows = await conn.fetch(
        "SELECT o.id, EXISTS (SELECT 1 FROM certification c"
        "                      WHERE c.state_officer_id = o.state_officer_id) AS cit"
        " FROM officer o WHERE o.agency_id = $1 AND o.active",
        year.agency_id,
    )
    cit = {r["id"]: r["cit"] for r in rows}
    every: dict[str, list[UUID]] = {"co_responder": [], "cit": [], "officer": []}
    local: dict[UUID, dict[str, list[UUID]]] = {}
    for unit in year.units:
        if unit.kind == "co_responder":
            pool = "co_responder"
        elif unit.id in cit:
            pool = "cit" if cit[unit.id] else "officer"
        else:
            continue  # separated
        every[pool].append(unit.id)
        local.setdefault(unit.home_district_id, {}).setdefault(pool, []).append(unit.id)
    pools = {}
    for district_id, _, _ in year.districts.values():
        here = local.get(district_id, {})
        pools[district_id] = _Pools(
            co_responders=here.get("co_responder") or every["co_responder"],
            cit_officers=here.get("cit") or every["cit"],
            other_officers=here.get("officer") or every["officer"],
        )
    return pools


async def _rostered(conn: asyncpg.Connection, year: SeededYear) -> set[UUID]:
    """The units with a shift on the roster (all of them but over a day or two, when a
    unit's days off may take it all)."""
    rows = await conn.fetch(
        "SELECT u.id FROM unnest($2::uuid[]) AS u(id)"
        " WHERE EXISTS (SELECT 1 FROM shift s WHERE s.responder_id = u.id AND s.agency_id = $1)",
        year.agency_id,
        [u.id for u in year.units],
    )
    return {r["id"] for r in rows}


class _Builder:
    """The rows of each table, call by call."""

    def __init__(
        self,
        year: SeededYear,
        pools: dict[UUID, _Pools],
        names: dict[UUID, str],
        rostered: set[UUID],
        policy_version: int,
        rng: random.Random,
    ) -> None:
        self.year, self.pools, self.names = year, pools, names
        self.policy_version, self.rng = policy_version, rng
        self.signs = {u.id: u.call_sign for u in year.units}
        # The call sign an assignment keeps: that of the shift naming the unit, none without.
        self.assigned_signs = {i: s for i, s in self.signs.items() if i in rostered}
        self.cit = {i for p in pools.values() for i in p.cit_officers}
        self.calls: list[tuple[Any, ...]] = []
        self.recommendations: list[tuple[Any, ...]] = []
        self.dispatches: list[tuple[Any, ...]] = []
        self.assignments: list[tuple[Any, ...]] = []
        self.cleared = self.not_dispatched = self.recommended_mh = self.not_followed = 0

    def _unit(self, pools: _Pools, kind: ResponderType) -> Unit:
        if kind == "co_responder":
            return kind, self.rng.choice(pools.co_responders)
        cit = self.rng.random() < 0.65
        return kind, self.rng.choice(pools.cit_officers if cit else pools.other_officers)

    def _unit_json(self, unit: Unit, role: str, code: str, cit: bool) -> dict[str, Any]:
        distance = round(self.rng.uniform(0.3, 8.0), 2)
        return {
            "responder_type": unit[0],
            "responder_id": str(unit[1]),
            "name": self.names[unit[1]],
            "call_sign": self.signs[unit[1]],
            "role": role,
            "district": code,
            "cit_certified": cit,
            "eta_minutes": round(distance / 50 * 60, 1),
            "distance_km": distance,
        }

    def add(self, code: str, district_id: UUID, south: float, west: float, at: datetime) -> None:
        rng = self.rng
        agency_id = self.year.agency_id
        pools = self.pools[district_id]
        call_id = _uuid7_at(at, rng)
        roll = rng.random()
        safety = {
            "weapon": roll < 0.10,
            "violence": 0.10 <= roll < 0.22,
            "threat_to_others": 0.22 <= roll < 0.25,
            "crime_in_progress": False,
            "medical_emergency": rng.random() < 0.08,
        }
        concern = roll < 0.25
        lead: Lead = "law_enforcement" if concern or rng.random() < 0.13 else "mental_health"
        warnings = []
        if lead == "law_enforcement" and (not concern or rng.random() < 0.1):
            warnings.append("no_co_responder_available")
        if rng.random() < 0.06:
            warnings.append("no_cit_available" if rng.random() < 0.5 else "no_cit_in_district")
        elif rng.random() < 0.04:
            warnings.append("cit_from_adjacent_district")
        self.recommended_mh += lead == "mental_health"

        # The recommendation, and its units: the lead, and an officer as backup for MH.
        rec_at = at + timedelta(seconds=rng.uniform(5, 45))
        rec_id = _uuid7_at(rec_at, rng)
        recommended = [self._unit(pools, "co_responder" if lead == "mental_health" else "officer")]
        if lead == "mental_health":
            recommended.append(self._unit(pools, "officer"))
        requests = ["ems"] if safety["medical_emergency"] else []
        if "no_co_responder_available" in warnings:
            requests.append("mh_phone_consult")
        reason = (
            ("le_lead", "Safety concern flagged: law enforcement leads")
            if concern
            else ("mh_lead", "No safety concern flagged: mental health leads")
            if lead == "mental_health"
            else ("no_co_responder", "No co-responder is available in reach")
        )
        units_json = [
            self._unit_json(u, role, code, u[1] in self.cit)
            for u, role in zip(recommended, ("lead", "backup"), strict=False)
        ]
        self.recommendations.append(
            (
                rec_id,
                agency_id,
                call_id,
                rec_at,
                self.policy_version,
                lead,
                concern,
                json.dumps(units_json),
                requests,
                json.dumps([{"code": c, "message": _WARNINGS[c]} for c in warnings]),
                json.dumps([{"rule": reason[0], "message": reason[1]}]),
            )
        )

        dispatched_at = cleared_at = outcome = diverted = None
        force = subject_hurt = officer_hurt = False
        if rng.random() < 0.93:
            dispatched_at = rec_at + timedelta(minutes=0.2 + 9 * rng.random() ** 3)
            cleared_at, outcome = self._dispatch(
                call_id, rec_id, lead, recommended, pools, dispatched_at
            )
            force = rng.random() < (0.25 if outcome == "arrest" else 0.03)
        else:
            self.not_dispatched += 1
            if rng.random() < 0.6:
                cleared_at = rec_at + timedelta(minutes=rng.uniform(3, 30))
                outcome = rng.choice(_BY_PHONE)
        if outcome is not None:
            places = _DIVERTED.get(outcome)
            if places is not None:
                diverted = rng.choice(places)
            elif rng.random() < 0.5:
                diverted = "none"
            subject_hurt = rng.random() < (0.3 if force else 0.005)
            officer_hurt = rng.random() < (0.15 if force else 0.003)
        self.cleared += cleared_at is not None
        subject = {"age": rng.randint(10, 17)} if rng.random() < 0.15 else {}
        lat, lon = point_in(rng, south, west)
        self.calls.append(
            (
                call_id,
                agency_id,
                "cleared" if cleared_at else "pending",
                district_id,
                lat,
                lon,
                rng.choice(NATURES),
                json.dumps(safety),
                json.dumps(subject),
                at,
                at + timedelta(seconds=1),
                cleared_at or rec_at,
                dispatched_at,
                cleared_at,
                diverted,
                outcome,
                force,
                subject_hurt,
                officer_hurt,
            )
        )

    def _dispatch(
        self,
        call_id: UUID,
        rec_id: UUID,
        lead: Lead,
        recommended: list[Unit],
        pools: _Pools,
        at: datetime,
    ) -> tuple[datetime, Outcome | None]:
        """The dispatch and its assignments; when the call was cleared, and its outcome."""
        rng = self.rng
        roll = rng.random()
        other: Lead = "law_enforcement" if lead == "mental_health" else "mental_health"
        followed, overridden = (0.82, 0.97) if lead == "mental_health" else (0.96, 0.99)
        sent: Lead | None = lead if roll < followed else other if roll < overridden else None
        code = None
        if sent != lead:
            code = rng.choice(OVERRIDE_CODES)
            self.not_followed += lead == "mental_health" and sent == "law_enforcement"
        dispatch_id = _uuid7_at(at, rng)
        self.dispatches.append(
            (
                dispatch_id,
                self.year.agency_id,
                call_id,
                at,
                rec_id,
                lead,
                sent,
                code,
                "seeded override" if code == "other" else None,
            )
        )
        # The units recommended when the lead is followed, others when it is not; an
        # officer as backup when no unit leads.
        units: list[tuple[Unit, str]] = []
        if sent is None:
            units.append((self._unit(pools, "officer"), "backup"))
        elif sent == lead:
            units.append((recommended[0], "lead"))
            units.extend((u, "backup") for u in recommended[1:] if rng.random() < 0.8)
        else:
            kind: ResponderType = "co_responder" if sent == "mental_health" else "officer"
            units.append((self._unit(pools, kind), "lead"))
        if sent == "law_enforcement" and rng.random() < 0.35:
            units.append((self._unit(pools, "co_responder"), "backup"))
        on_scene = [
            at + timedelta(minutes=2 + 16 * rng.random() ** 1.5) if rng.random() < 0.88 else None
            for _ in units
        ]
        arrived = [t for t in on_scene if t is not None]
        cleared_at = max([at + timedelta(minutes=8), *arrived]) + timedelta(
            minutes=rng.uniform(15, 90)
        )
        for ((kind, responder_id), role), scene in zip(units, on_scene, strict=True):
            self.assignments.append(
                (
                    _uuid7_at(at, rng),
                    self.year.agency_id,
                    call_id,
                    dispatch_id,
                    kind,
                    responder_id,
                    role,
                    at,
                    cleared_at,
                    "available",
                    scene,
                    self.assigned_signs.get(responder_id),
                )
            )
        weights = _OUTCOMES[sent or "law_enforcement"]
        outcome: Outcome | None = rng.choices(list(weights), list(weights.values()))[0]
        if rng.random() < 0.06:
            outcome = None  # cleared without one
        return cleared_at, outcome


async def seed_calls(url: str, year: SeededYear, *, calls: int, seed: int = 7) -> SeededCalls:
    """`calls` calls received over the roster's year, with everything that followed them."""
    started = time.perf_counter()
    rng = random.Random(seed)
    start, end = year_range(year)
    conn = await dsn.connect(url)
    try:
        names = {
            r["id"]: r["name"]
            for r in await conn.fetch(
                "SELECT id, name FROM officer WHERE agency_id = $1"
                " UNION ALL SELECT id, name FROM co_responder WHERE agency_id = $1",
                year.agency_id,
            )
        }
        policy_version = await conn.fetchval(
            "SELECT max(version) FROM routing_policy WHERE agency_id = $1", year.agency_id
        )
        builder = _Builder(
            year, await _pools(conn, year), names, await _rostered(conn, year), policy_version, rng
        )
        span = (end - start).total_seconds()
        districts = sorted(year.districts.items())
        offsets = sorted(rng.random() * span for _ in range(calls))
        for n, offset in enumerate(offsets):
            code, (district_id, south, west) = districts[n % len(districts)]
            builder.add(code, district_id, south, west, start + timedelta(seconds=offset))
        async with conn.transaction():
            await conn.copy_records_to_table(
                "call",
                records=builder.calls,
                columns=[
                    "id",
                    "agency_id",
                    "status",
                    "district_id",
                    "lat",
                    "lon",
                    "nature",
                    "safety",
                    "subject",
                    "received_at",
                    "created_at",
                    "updated_at",
                    "dispatched_at",
                    "cleared_at",
                    "diverted_to",
                    "outcome",
                    "use_of_force",
                    "subject_injured",
                    "officer_injured",
                ],
            )
            await conn.copy_records_to_table(
                "recommendation",
                records=builder.recommendations,
                columns=[
                    "id",
                    "agency_id",
                    "call_id",
                    "created_at",
                    "policy_version",
                    "lead",
                    "safety_concern",
                    "units",
                    "requests",
                    "warnings",
                    "reasons",
                ],
            )
            await conn.copy_records_to_table(
                "dispatch",
                records=builder.dispatches,
                columns=[
                    "id",
                    "agency_id",
                    "call_id",
                    "at",
                    "recommendation_id",
                    "recommended_lead",
                    "dispatched_lead",
                    "override_code",
                    "override_reason",
                ],
            )
            await conn.copy_records_to_table(
                "assignment",
                records=builder.assignments,
                columns=[
                    "id",
                    "agency_id",
                    "call_id",
                    "dispatch_id",
                    "responder_type",
                    "responder_id",
                    "role",
                    "assigned_at",
                    "released_at",
                    "released_status",
                    "on_scene_at",
                    "call_sign",
                ],
            )
        await conn.execute("VACUUM ANALYZE call, recommendation, dispatch, assignment")
    finally:
        await conn.close()
    return SeededCalls(
        start=start,
        end=end,
        calls=calls,
        cleared=builder.cleared,
        not_dispatched=builder.not_dispatched,
        recommended_mental_health=builder.recommended_mh,
        mental_health_not_followed=builder.not_followed,
        assignments=len(builder.assignments),
        seconds=time.perf_counter() - started,
    )
