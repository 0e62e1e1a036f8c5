"""The candidate query: units that could answer a call, ranked and trimmed in SQL.

Its cost follows the number of units working in the call's district, and next to it only
when the district lacks a kind of unit. It scans shift_coverage by (agency_id,
district_id, starts_at): in the call's district the units that can lead, its other
officers only when none of them is CIT, then the outer rings for what the district lacks.
tests/api/test_candidate_trimming.py checks that the trimmed candidates always give the
recommendation every unit of the agency would.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
from string import Template
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.raw import RawStatement, driver
from app.repositories.naming_shift import NAMING_SHIFT
from app.routing.types import Candidate, CertificationPeriod, GeoPoint

# Rows kept per (type, hop, cit, training-or-youth) partition. Routing needs the best of
# each; the others absorb float ties between SQL's closeness and Python's haversine. Units
# tied on closeness with the last one kept are weighed by workload (assignments in 24 h)
# before the cut, as the core breaks ETA ties by it: a call without a location ties them all.
PER_PARTITION = 3

# Whether the coverage row's officer holds a CIT certification valid on the agency's date.
_CIT_TODAY = "coalesce(sc.cit_periods @> CAST(:today AS date), false)"

# The columns both scans read from shift_coverage, with the unit's closeness to the call.
# Closeness ranks like the haversine at city scale, without trigonometry per row; the
# routing core computes the real distance for the units kept. The longitudes' difference
# is taken the short way round (at most 180 degrees): across the antimeridian, -179.99
# and 179.99 are 0.02 apart, not 359.98, and a unit there was cut before it was measured.
_MEASURE = f"""
    SELECT sc.responder_type, sc.responder_id, sc.call_sign, sc.home_district_id,
           sc.starts_at, sc.ends_at, sc.preference, {_CIT_TODAY} AS cit,
           CASE WHEN sc.lat IS NULL OR CAST(:lat AS float8) IS NULL THEN NULL
                ELSE power(sc.lat - :lat, 2)
                     + power((180 - abs(180 - abs(sc.lon - :lon))) * :lon_scale, 2)
           END AS closeness"""

# The units that can lead a response: the predicate of ix_shift_coverage_district_leaders.
_MAY_LEAD = "(sc.responder_type = 'co_responder' OR sc.cit_periods <> '{}'::datemultirange)"

# Available units on a shift that is on now: an index-only scan of the coverage index, as
# shift_coverage carries each unit's ranking state (kept by triggers). No shift of the
# agency is longer than agency.longest_shift (kept by a trigger), so older starts cannot
# be on now; it is read here, not from a cached context, so a longer shift scheduled on
# another instance a moment ago is never missed.
_ON_NOW = """
      AND sc.agency_id = :agency_id
      AND sc.starts_at <= :now
      AND sc.starts_at > (SELECT w.earliest FROM window_start w)
      AND sc.ends_at > :now
      AND sc.status = 'available' AND sc.active
      AND sc.responder_id <> ALL (CAST(:excluded AS uuid[]))"""

# Static SQL only: the template takes the module's constants above, never input.
_TEMPLATE = Template("""
WITH window_start AS MATERIALIZED (
    SELECT CAST(:now AS timestamptz) - a.longest_shift AS earliest
    FROM agency a WHERE a.id = :agency_id
), leaders AS MATERIALIZED (
    -- Ring 0, the units serving the call's district (based there or covering it) that
    -- can lead: co-responders, and officers with a CIT certification on record. A
    -- partial index holds just these, so a crowded district's other officers are not read.
    $measure, 0 AS hop
    FROM shift_coverage sc
    WHERE sc.district_id = :district_id $on_now AND $may_lead
), others AS MATERIALIZED (
    -- Ring 0 officers without CIT, read only when no CIT officer serves the district:
    -- then the best of the best-trained among them stabilises the scene, or leads.
    $measure, 0 AS hop
    FROM shift_coverage sc
    WHERE sc.district_id = :district_id $on_now
      AND sc.responder_type = 'officer' AND NOT $cit_today
      AND NOT EXISTS (SELECT 1 FROM leaders l WHERE l.cit)
), found AS (
    SELECT coalesce(bool_or(l.responder_type = 'co_responder'), false) AS co_responder,
           coalesce(bool_or(l.cit), false) AS cit,
           coalesce(bool_or(l.cit), false) OR EXISTS (SELECT 1 FROM others) AS officer,
           (SELECT min(o.preference) FROM others o) AS training
    FROM leaders l
), serving AS (
    SELECT l.* FROM leaders l WHERE l.responder_type = 'co_responder' OR l.cit
    UNION ALL
    SELECT o.* FROM others o, found f WHERE o.preference = f.training
), nearby AS (
    -- Outer rings, read only for what ring 0 lacks: routing ranks every unit serving the
    -- district before any unit next to it, so a ring is only a fallback. The routing core
    -- takes from rings > 0 only the nearest co-responder when ring 0 has none, the
    -- nearest CIT officer when ring 0 has none, and the best officer when ring 0 has no
    -- officer at all. When ring 0 has all three, this scan does not run.
    $measure, h.hop
    FROM unnest(CAST(:ring_ids AS uuid[]), CAST(:ring_hops AS int[])) AS h(district_id, hop)
    JOIN shift_coverage sc ON sc.district_id = h.district_id
    WHERE sc.is_home $on_now
      AND EXISTS (SELECT 1 FROM found f WHERE NOT (f.co_responder AND f.officer AND f.cit))
      AND CASE WHEN sc.responder_type = 'co_responder'
               THEN NOT (SELECT f.co_responder FROM found f)
               ELSE NOT (SELECT f.officer FROM found f)
                    OR (NOT (SELECT f.cit FROM found f) AND $cit_today)
          END
), parted AS (
    -- One integer partition key and one float: the sort of the units read is this
    -- query's main cost (text keys would also sort through the locale's collation).
    -- hop <= 3 and preference <= 2, so the key encodes (type, hop, cit, preference).
    -- Training counts only among officers without CIT, and youth only among the
    -- co-responders serving the district of a minor; elsewhere closeness alone ranks.
    -- These are the routing core's rules (app/routing/ranking.py, rank_candidates);
    -- tests/api/test_candidate_trimming.py fails if the two drift apart.
    SELECT m.*, (m.responder_type = 'officer')::int * 1000 + m.hop * 100
                + CASE WHEN m.cit THEN 10
                       WHEN m.responder_type = 'officer' OR (:minor AND m.hop = 0)
                       THEN m.preference
                       ELSE 0 END AS part,
           coalesce(m.closeness, 'Infinity'::float8) AS near
    FROM (SELECT * FROM serving UNION ALL SELECT * FROM nearby) m
), nearest AS (
    -- The nearest few of each partition, and every unit tied with the last of them.
    SELECT p.*, rank() OVER (PARTITION BY p.part ORDER BY p.near) AS closer
    FROM parted p
), ranked AS (
    -- Best first, as the routing core ranks: closeness, then workload, then call sign.
    SELECT n.*, row_number() OVER (
        PARTITION BY n.part
        ORDER BY n.near, n.recent, n.call_sign COLLATE "C", n.responder_id
    ) AS position
    FROM (SELECT t.*, $recent AS recent FROM nearest t
          WHERE t.closer <= :per_partition) n
)
-- Only the kept units are read from their own rows: the routing core re-checks them.
SELECT r.responder_type, r.responder_id, r.call_sign, r.starts_at, r.ends_at,
       r.home_district_id AS home_id, r.hop, $unit_facts, r.recent
FROM ranked r
$unit_rows
WHERE r.position <= :per_partition
""")

# What the routing core needs of each unit r (responder_type, responder_id) beyond its
# shift: its own row and its CIT certification valid today; and its assignments in 24 h.
_UNIT_FACTS = """u.name, u.status, u.active, u.lat, u.lon, u.trainings, u.specialties,
       cert.certified_on, cert.expires_on"""
_RECENT = """(SELECT count(*) FROM assignment a
         WHERE a.responder_id = {unit}.responder_id
           AND a.assigned_at > CAST(:now AS timestamptz) - interval '24 hours')"""
_UNIT_ROWS = """JOIN LATERAL (
    SELECT o.name, o.status, o.active, o.lat, o.lon, o.trainings,
           NULL::text[] AS specialties, o.state_officer_id
    FROM officer o WHERE r.responder_type = 'officer' AND o.id = r.responder_id
    UNION ALL
    SELECT c.name, c.status, c.active, c.lat, c.lon, NULL::text[], c.specialties, NULL
    FROM co_responder c WHERE r.responder_type = 'co_responder' AND c.id = r.responder_id
) u ON true
LEFT JOIN LATERAL (
    SELECT ce.certified_on, ce.expires_on FROM certification ce
    WHERE ce.state_officer_id = u.state_officer_id
      AND ce.certified_on <= :today AND ce.expires_on > :today
    ORDER BY ce.expires_on DESC LIMIT 1
) cert ON u.state_officer_id IS NOT NULL"""

# The units holding an assignment on the call, each with the shift that names it now
# (naming_shift.NAMING_SHIFT, as dispatch names a unit: a unit may be sent off shift), for its
# call sign and district.
_ON_CALL = Template("""
SELECT r.responder_type, r.responder_id, s.call_sign, s.starts_at, s.ends_at,
       s.district_id AS home_id,
       EXISTS (SELECT 1 FROM shift_coverage c
               WHERE c.shift_id = s.id AND c.district_id = :district_id) AS covers,
       $unit_facts, $recent AS recent
FROM assignment r
LEFT JOIN LATERAL (
    SELECT s.id, s.call_sign, s.starts_at, s.ends_at, s.district_id $naming_shift
) s ON true
$unit_rows
WHERE r.agency_id = :agency_id AND r.call_id = :call_id AND r.released_at IS NULL
""")
_CODES = "SELECT id, code FROM district WHERE id = ANY($1::uuid[])"
_CANDIDATES = RawStatement.compile(
    _TEMPLATE.substitute(
        measure=_MEASURE,
        on_now=_ON_NOW,
        cit_today=_CIT_TODAY,
        may_lead=_MAY_LEAD,
        unit_facts=_UNIT_FACTS,
        unit_rows=_UNIT_ROWS,
        recent=_RECENT.format(unit="t"),
    )
)
_UNITS_ON_CALL = RawStatement.compile(
    _ON_CALL.substitute(
        unit_facts=_UNIT_FACTS,
        unit_rows=_UNIT_ROWS,
        naming_shift=NAMING_SHIFT.format(unit="r.responder_id"),
        recent=_RECENT.format(unit="r"),
    )
)


async def load_candidates(
    conn: AsyncConnection,
    *,
    agency_id: UUID,
    district_id: UUID,
    district_code: str,
    rings: Mapping[UUID, int],
    codes: Mapping[UUID, str],
    now: datetime,
    today: date,
    location: GeoPoint | None,
    minor: bool,
    excluded: Collection[UUID] = (),
) -> list[Candidate]:
    """Eligible units serving the district, the best few of each kind; from the districts
    around it (rings: district id -> hops, all > 0), the best few of each kind the
    district itself has none of. The units excluded are not candidates: what the district
    has is counted without them.

    codes names the districts the caller knows. A unit based in a district it does not
    know (added on another instance a moment ago) is named by a second, rare query, never
    a KeyError.
    """
    raw = await driver(conn)
    rows = await raw.fetch(
        _CANDIDATES.sql,
        *_CANDIDATES.args(
            {
                "agency_id": agency_id,
                "district_id": district_id,
                "ring_ids": list(rings),
                "ring_hops": list(rings.values()),
                "now": now,
                "today": today,
                "lat": location.lat if location else None,
                "lon": location.lon if location else None,
                "per_partition": PER_PARTITION,
                "minor": minor,
                "excluded": list(excluded),
                "lon_scale": math.cos(math.radians(location.lat)) if location else 1.0,
            }
        ),
    )
    nearest: dict[UUID, asyncpg.Record] = {}
    for row in rows:
        kept = nearest.get(row["responder_id"])
        if kept is None or row["hop"] < kept["hop"]:
            nearest[row["responder_id"]] = row
    codes = await _knowing(raw, codes, nearest.values())
    candidates = []
    for row in nearest.values():
        home = codes[row["home_id"]]
        serves_by_cover = row["hop"] == 0 and home != district_code
        candidates.append(_candidate(row, home, serves_by_cover, district_code, now=now))
    return candidates


async def load_units_on_call(
    conn: AsyncConnection,
    *,
    agency_id: UUID,
    call_id: UUID,
    district_id: UUID,
    district_code: str,
    codes: Mapping[UUID, str],
    now: datetime,
    today: date,
) -> list[Candidate]:
    """The units holding an assignment on the call, as candidates marked on_call (the
    routing core ranks them first, whatever their status, shift or district, and tells
    where they come from by the shift that names them and the districts it covers). A
    unit sent with no shift at all is named by its name, in the call's district."""
    raw = await driver(conn)
    rows = await raw.fetch(
        _UNITS_ON_CALL.sql,
        *_UNITS_ON_CALL.args(
            {
                "agency_id": agency_id,
                "call_id": call_id,
                "district_id": district_id,
                "now": now,
                "today": today,
            }
        ),
    )
    codes = await _knowing(raw, codes, rows)
    on_call = []
    for row in rows:
        home = district_code if row["home_id"] is None else codes[row["home_id"]]
        unit = _candidate(row, home, row["covers"], district_code, now=now)
        on_call.append(replace(unit, on_call=True))
    return on_call


async def _knowing(
    raw: asyncpg.Connection, codes: Mapping[UUID, str], rows: Iterable[asyncpg.Record]
) -> Mapping[UUID, str]:
    """codes, with the districts the rows' units are based in that it does not name (added
    on another instance a moment ago) read by a second, rare query, never a KeyError."""
    missing = {
        row["home_id"] for row in rows if row["home_id"] is not None and row["home_id"] not in codes
    }
    if not missing:
        return codes
    found = await raw.fetch(_CODES, list(missing))
    return {**codes, **{r["id"]: r["code"] for r in found}}


def _candidate(
    row: asyncpg.Record, home: str, covers: bool, district_code: str, *, now: datetime
) -> Candidate:
    """A unit row of either query as the routing core's candidate. A unit on a call that was
    sent with no shift at all gets an empty one at now, and its name for a call sign."""
    lat, certified_on = row["lat"], row["certified_on"]
    return Candidate(
        responder_type=row["responder_type"],
        responder_id=row["responder_id"],
        name=row["name"],
        call_sign=row["call_sign"] or row["name"],
        shift_district=home,
        also_covers=frozenset({district_code}) if covers else frozenset(),
        shift_starts_at=row["starts_at"] or now,
        shift_ends_at=row["ends_at"] or now,
        status=row["status"],
        active=row["active"],
        location=GeoPoint(lat, row["lon"]) if lat is not None else None,
        certifications=(
            (CertificationPeriod(certified_on, row["expires_on"]),)
            if certified_on is not None
            else ()
        ),
        trainings=frozenset(row["trainings"] or ()),
        specialties=frozenset(row["specialties"] or ()),
        assignments_24h=row["recent"],
    )
