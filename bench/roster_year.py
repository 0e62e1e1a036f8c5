"""Seed one agency with a year of 8-hour watches, in bulk, for the coverage benchmark.

Used by `bench/calls.py --coverage`. What it creates:
- one agency in America/Denver (app.admin.create_agency) with the 50 districts of
  bench/seed.py's grid and their adjacency;
- officers, a quarter of them CIT: half of those certified all year, 15 % expiring mid-year
  and not renewed, 15 % renewed on the day they expire, 12 % renewed after a 3-89 day gap,
  8 % first certified during the year; 90 % volunteered; 5 % out of service and 2 %
  separated (inactive), so the report's `active` filter has something to remove;
- co-responders (officers / 20 by default), on the day and evening watches only;
- the roster: each unit has a home district and a watch (day 07:00, evening 15:00, night
  23:00 local, 8 hours of local wall time, so a night watch across a daylight-saving change
  lasts 7 or 9 real hours) and works 5 days in 7 with its own stagger; about 10 % of shifts
  also cover one district adjacent to their home.

How it loads: people and certifications by COPY; the shifts (5.5 million at 20,000
officers) by one INSERT ... SELECT generate_series inside PostgreSQL, with ids that are
UUIDv7 of the shift's start, so the primary key loads in order; shift_coverage by one
INSERT ... SELECT from shift. That runs in one transaction with
`session_replication_role = replica`, so no row trigger and no foreign-key check fires, and
the five secondary indexes of shift and shift_coverage are dropped for the load and
recreated from their saved definitions. What the triggers would have done is done here
instead: shift_coverage gets the unit's status, active flag, location, preference
(cit_officer_preference) and CIT periods (the range_agg of cit_periods_of), as
shift_coverage_fill() sets them, and agency.longest_shift is set as agency_longest_shift()
would; shift_no_overlap() holds by construction (one watch a day per unit, and the watches
tile the local day). Bulk rows were compared with rows replayed through every trigger,
across both daylight-saving changes: every column was identical.

It needs a superuser (replica mode, DROP INDEX): that is fine for the benchmark's own
throwaway embedded database, and only for it. Never point it at a database that matters.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from uuid import UUID

import asyncpg

from app.admin import create_agency
from app.db import dsn
from app.ids import new_id
from app.vocabulary import ResponderType
from bench.seed import CO_RESPONDER_COLUMNS, co_responder_row, insert_districts, point_in

TIMEZONE = "America/Denver"
# The local start of the day, evening and night watches.
WATCH_STARTS = ("07:00", "15:00", "23:00")


class Unit(NamedTuple):
    """A unit on the roster: its home district, its watch (index into WATCH_STARTS) and
    where in the week its two days off fall."""

    id: UUID
    kind: ResponderType
    home_district_id: UUID
    watch: int
    rotation: int
    call_sign: str


@dataclass
class SeededYear:
    agency_id: UUID
    api_key: str
    start: date  # the first local day of the roster
    days: int
    officers: int
    co_responders: int
    cit_officers: int
    shifts: int
    coverage_rows: int
    seconds: float
    districts: dict[str, tuple[UUID, float, float]]  # code: id, south, west
    units: list[Unit]
    timings: dict[str, float] = field(default_factory=dict)


CertificationRow = tuple[UUID, str, str, str, date, date, bool, UUID]


def _certifications(
    rng: random.Random, person: str, n: int, start: date, days: int, agency_id: UUID
) -> list[CertificationRow]:
    """A CIT officer's certifications around the year (validity is in local dates)."""
    end = start + timedelta(days=days)
    mid = start + timedelta(days=rng.randrange(max(days // 8, 1), max(days * 7 // 8, 2)))
    kind = rng.random()
    periods: list[tuple[date, date]]
    if kind < 0.50:  # valid all year
        first = start - timedelta(days=rng.randrange(30, 900))
        periods = [(first, end + timedelta(days=rng.randrange(1, 700)))]
    elif kind < 0.65:  # expires mid-year, not renewed
        periods = [(mid - timedelta(days=rng.randrange(365, 1095)), mid)]
    elif kind < 0.80:  # renewed on the day it expires (range_agg merges the two)
        periods = [(mid - timedelta(days=730), mid), (mid, mid + timedelta(days=730))]
    elif kind < 0.92:  # renewed after a gap
        gap = rng.randrange(3, 90)
        periods = [
            (mid - timedelta(days=730), mid),
            (mid + timedelta(days=gap), mid + timedelta(days=gap + 730)),
        ]
    else:  # first certified during the year
        periods = [(mid, mid + timedelta(days=1095))]
    return [
        (new_id(), person, f"CIT-{n}-{i}", "State CIT", lo, hi, rng.random() < 0.9, agency_id)
        for i, (lo, hi) in enumerate(periods)
    ]


async def _people(
    conn: asyncpg.Connection,
    agency_id: UUID,
    rng: random.Random,
    *,
    officers: int,
    co_responders: int,
    districts: dict[str, tuple[UUID, float, float]],
    start: date,
    days: int,
) -> tuple[list[Unit], int]:
    """Officers, their certifications and co-responders; the roster and the CIT count."""
    codes = sorted(districts)
    now = datetime.now(UTC)
    person = f"YEAR-{str(agency_id)[-8:].upper()}"
    officer_rows: list[tuple[object, ...]] = []
    certification_rows: list[CertificationRow] = []
    co_rows: list[tuple[object, ...]] = []
    units: list[Unit] = []
    cit = 0
    for n in range(officers):
        code = rng.choice(codes)
        home, south, west = districts[code]
        lat, lon = point_in(rng, south, west)
        trainings = rng.choice([["de_escalation"], ["mh_awareness"], []])
        status = "out_of_service" if rng.random() < 0.05 else "available"
        active = rng.random() >= 0.02  # separated, still on the roster
        oid = new_id()
        state_id = f"{person}-{n}"
        officer_rows.append(
            (
                oid,
                agency_id,
                state_id,
                str(n),
                f"Officer {n}",
                trainings,
                active,
                None if active else now,
                status,
                lat,
                lon,
                now,
            )
        )
        if rng.random() < 0.25:
            cit += 1
            certification_rows += _certifications(rng, state_id, n, start, days, agency_id)
        units.append(Unit(oid, "officer", home, rng.randrange(3), rng.randrange(7), f"{code}-{n}"))
    for n in range(co_responders):
        code = rng.choice(codes)
        home, south, west = districts[code]
        row = co_responder_row(rng, agency_id, n, south, west, now)
        co_rows.append(row)
        # Day and evening watches only.
        units.append(
            Unit(
                row[0], "co_responder", home, rng.randrange(2), rng.randrange(7), f"MCT-{code}-{n}"
            )
        )
    await conn.copy_records_to_table(
        "officer",
        records=officer_rows,
        columns=[
            "id",
            "agency_id",
            "state_officer_id",
            "badge_number",
            "name",
            "trainings",
            "active",
            "separated_at",
            "status",
            "lat",
            "lon",
            "location_at",
        ],
    )
    await conn.copy_records_to_table(
        "certification",
        records=certification_rows,
        columns=[
            "id",
            "state_officer_id",
            "certification_number",
            "program",
            "certified_on",
            "expires_on",
            "volunteered",
            "recorded_by_agency_id",
        ],
    )
    await conn.copy_records_to_table("co_responder", records=co_rows, columns=CO_RESPONDER_COLUMNS)
    return units, cit


# A UUIDv7 whose time is the instant {t} (cit_uuid7() takes the clock's): rows inserted in
# time order then load the primary key in order. Version bits 0111 over gen_random_uuid's
# 0100; its variant bits are already RFC 9562's.
UUID7_AT = """encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
    PLACING substring(int8send(floor(extract(epoch FROM {t}) * 1000)::bigint) FROM 3)
    FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"""

# $1 agency, $2 first local day, $3 time zone, $4 days.
_SHIFTS = f"""
INSERT INTO shift (id, agency_id, responder_type, officer_id, co_responder_id, call_sign,
                   district_id, starts_at, ends_at)
SELECT {UUID7_AT.format(t="g.starts_at")}, $1, g.kind,
       CASE WHEN g.kind = 'officer' THEN g.id END,
       CASE WHEN g.kind = 'co_responder' THEN g.id END,
       g.call_sign, g.home, g.starts_at, g.ends_at
  FROM (SELECT r.id, r.kind, r.call_sign, r.home,
               (($2::date + d) + w.at)::timestamp AT TIME ZONE $3 AS starts_at,
               (($2::date + d) + w.at + interval '8 hours')::timestamp AT TIME ZONE $3 AS ends_at
          FROM seed_roster r
          JOIN (VALUES (0, time '{WATCH_STARTS[0]}'), (1, time '{WATCH_STARTS[1]}'),
                       (2, time '{WATCH_STARTS[2]}')) AS w(watch, at) ON w.watch = r.watch
         CROSS JOIN generate_series(0, $4 - 1) AS d
         WHERE (d + r.rotation) % 7 < 5  -- five days on, two off
         ORDER BY starts_at, r.id) g
"""

# The rows add_shift() inserts (the home district, and on about 10 % of shifts one adjacent
# district it also covers), with the columns shift_coverage_fill() sets.
_COVERAGE = """
INSERT INTO shift_coverage (shift_id, district_id, agency_id, is_home, responder_type,
    responder_id, starts_at, ends_at, call_sign, home_district_id, status, active, lat, lon,
    preference, cit_periods)
SELECT s.id, c.district_id, s.agency_id, c.is_home, s.responder_type, s.responder_id,
       s.starts_at, s.ends_at, s.call_sign, s.district_id, u.status, u.active, u.lat, u.lon,
       u.preference, u.cit_periods
  FROM shift s
  JOIN seed_unit u ON u.id = s.responder_id
  JOIN seed_neighbours nb ON nb.district_id = s.district_id
 CROSS JOIN LATERAL (
       VALUES (s.district_id, true),
              (CASE WHEN uuid_hash_extended(s.id, 0) % 10 = 0
                    THEN nb.neighbours[1 + abs(uuid_hash_extended(s.id, 7)
                                               % cardinality(nb.neighbours))]
               END, false)) AS c(district_id, is_home)
 WHERE s.agency_id = $1 AND c.district_id IS NOT NULL
 ORDER BY s.starts_at, s.id, c.is_home DESC
"""

# Each unit's state as shift_coverage_fill() reads it.
_UNITS = """
CREATE TEMP TABLE seed_unit AS
SELECT o.id, o.status, o.active, o.lat, o.lon,
       cit_officer_preference(o.trainings) AS preference,
       coalesce((SELECT range_agg(daterange(c.certified_on, c.expires_on))
                   FROM certification c WHERE c.state_officer_id = o.state_officer_id),
                '{}'::datemultirange) AS cit_periods
  FROM officer o WHERE o.agency_id = $1
UNION ALL
SELECT c.id, c.status, c.active, c.lat, c.lon,
       CASE WHEN 'youth' = ANY(c.specialties) THEN 0 ELSE 1 END::smallint,
       '{}'::datemultirange
  FROM co_responder c WHERE c.agency_id = $1
"""

_NEIGHBOURS = """
CREATE TEMP TABLE seed_neighbours AS
SELECT d.id AS district_id, array_agg(x.other ORDER BY x.other) AS neighbours
  FROM district d
  JOIN LATERAL (SELECT a.district_b_id FROM district_adjacency a WHERE a.district_a_id = d.id
                UNION ALL
                SELECT a.district_a_id FROM district_adjacency a WHERE a.district_b_id = d.id)
       AS x(other) ON true
 WHERE d.agency_id = $1
 GROUP BY d.id
"""

_SECONDARY_INDEXES = (
    "ix_shift_agency_starts_at",
    "ix_shift_responder_id",
    "ix_shift_coverage_district_window",
    "ix_shift_coverage_district_leaders",
    "ix_shift_coverage_responder",
)


def _row_count(status: str) -> int:
    return int(status.split()[-1])


async def seed_year(
    url: str,
    *,
    officers: int,
    start: date,
    days: int = 366,
    co_responders: int | None = None,
    seed: int = 42,
) -> SeededYear:
    """One agency with `days` days of watches from the local day `start` (see above).

    Ends with VACUUM ANALYZE: the coverage query's index-only scans need the visibility map.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    rng = random.Random(seed)
    co_responders = max(1, officers // 20) if co_responders is None else co_responders
    agency_id, api_key = await create_agency(
        url, name=f"Year County {officers} {new_id().hex[-8:]}", timezone=TIMEZONE, ori=None
    )
    conn = await dsn.connect(url)
    try:
        await conn.execute("SET maintenance_work_mem = '1GB'; SET work_mem = '256MB'")
        districts = await insert_districts(conn, agency_id)
        units, cit = await _people(
            conn,
            agency_id,
            rng,
            officers=officers,
            co_responders=co_responders,
            districts=districts,
            start=start,
            days=days,
        )
        timings["people"] = time.perf_counter() - started

        await conn.execute(
            "CREATE TEMP TABLE seed_roster (id uuid, kind text, home uuid, watch int,"
            " rotation int, call_sign text)"
        )
        await conn.copy_records_to_table("seed_roster", records=units)
        await conn.execute(_NEIGHBOURS, agency_id)
        await conn.execute(_UNITS, agency_id)
        await conn.execute("ANALYZE seed_roster; ANALYZE seed_neighbours; ANALYZE seed_unit")

        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("SET LOCAL max_parallel_maintenance_workers = 2")
            definitions = [
                r["indexdef"]
                for r in await conn.fetch(
                    "SELECT indexdef FROM pg_indexes"
                    " WHERE schemaname = 'public' AND indexname = ANY($1::text[])",
                    list(_SECONDARY_INDEXES),
                )
            ]
            for name in _SECONDARY_INDEXES:
                await conn.execute(f"DROP INDEX IF EXISTS {name}")
            t = time.perf_counter()
            shifts = _row_count(await conn.execute(_SHIFTS, agency_id, start, TIMEZONE, days))
            timings["shift"] = time.perf_counter() - t
            t = time.perf_counter()
            coverage_rows = _row_count(await conn.execute(_COVERAGE, agency_id))
            timings["shift_coverage"] = time.perf_counter() - t
            t = time.perf_counter()
            for definition in definitions:
                await conn.execute(definition)
            timings["indexes"] = time.perf_counter() - t
            await conn.execute(
                "UPDATE agency SET longest_shift = greatest(longest_shift,"
                " (SELECT max(ends_at - starts_at) FROM shift WHERE agency_id = $1))"
                " WHERE id = $1",
                agency_id,
            )
        t = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        timings["vacuum_analyze"] = time.perf_counter() - t
    finally:
        await conn.close()
    return SeededYear(
        agency_id=agency_id,
        api_key=api_key,
        start=start,
        days=days,
        officers=officers,
        co_responders=co_responders,
        cit_officers=cit,
        shifts=shifts,
        coverage_rows=coverage_rows,
        seconds=time.perf_counter() - started,
        districts=districts,
        units=units,
        timings=timings,
    )
