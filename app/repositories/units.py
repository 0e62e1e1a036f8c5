"""The consoles' read model, GET /v1/units: the units on shift now, from shift_coverage,
and the units still on a call after their shift ended.

shift_coverage already carries each unit's status, location, active flag and CIT periods,
kept current by the triggers of migration 0003 (the candidate query ranks from the same
columns). One statement reads the coverage rows on now, and beside them only what the read
model lacks: the responder's name, trainings or specialties and current call, and the
codes of the districts the shift covers.

A unit whose call outlasts its shift stays on the consoles until it is released, as the
record of the shift it worked last (shift_ends_at past), as GET /v1/units/me shows it to the
unit: a dispatcher at shift change must still see who is on scene. So does a unit sent by
override before its first shift, as the record of its next one. The triggers stop
keeping an ended shift's rows current, so its status, location and certification come
from the responder's. It is listed as that shift serves, its home district and the others
it covers (also_covers), as it was during the shift. A second, small statement reads them,
merged in by call sign.
"""

from __future__ import annotations

import bisect
from datetime import date, datetime
from string import Template
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.raw import RawStatement, driver
from app.records.units import UnitRecord
from app.vocabulary import ON_CALL, sql_list

# A coverage row on now of an active unit. No shift is longer than 24 hours (a check
# constraint), which bounds the scan of starts_at.
_ON_NOW = """sc.agency_id = :agency_id
      AND sc.starts_at <= :now
      AND sc.starts_at > CAST(:now AS timestamptz) - interval '24 hours'
      AND sc.ends_at > :now
      AND sc.active"""

_COLUMNS = """sc.shift_id, sc.responder_type, sc.responder_id, sc.call_sign,
           sc.home_district_id, sc.ends_at, sc.status, sc.lat, sc.lon,
           coalesce(sc.cit_periods @> CAST(:today AS date), false) AS cit_certified"""

# Units held over: active responders busy on a call (theirs or a CAD's, named or not: an
# on-call status, app.models.responder.BUSY) off shift now, as the home row of the shift
# that names them (app/repositories/naming_shift.py, NAMING_SHIFT): the one that started
# last, which has ended, else their next one (sent by a dispatcher's override before their
# first shift). With the responder's status, location and certifications now (the triggers
# stop keeping an ended shift's row current). Few rows, found by the partial indexes on
# BUSY (migration 0041); the shifts by ix_shift_coverage_responder
# (shifts of one responder never overlap: ends_at orders them as starts_at does; the next
# one's ends_at > :now, implied, bounds its scan to the shifts ahead, not the whole
# history). Its columns are $columns' with the responder's state.
_HELD_OVER = f"""
    SELECT sc.shift_id, sc.responder_type, sc.responder_id, sc.call_sign,
           sc.home_district_id, sc.ends_at, r.status, r.lat, r.lon,
           coalesce(cit_periods_of(r.person) @> CAST(:today AS date), false) AS cit_certified
    FROM (
        SELECT o.id, o.status, o.lat, o.lon, o.state_officer_id AS person FROM officer o
        WHERE o.agency_id = :agency_id AND o.active
          AND o.status IN {sql_list(ON_CALL)}
        UNION ALL
        SELECT c.id, c.status, c.lat, c.lon, NULL FROM co_responder c
        WHERE c.agency_id = :agency_id AND c.active
          AND c.status IN {sql_list(ON_CALL)}
    ) r
    CROSS JOIN LATERAL (
        SELECT * FROM (
            (SELECT worked.*, 0 AS rank FROM shift_coverage worked
             WHERE worked.responder_id = r.id AND worked.agency_id = :agency_id
               AND worked.is_home AND worked.starts_at <= :now
             ORDER BY worked.ends_at DESC
             LIMIT 1)
            UNION ALL
            (SELECT ahead.*, 1 AS rank FROM shift_coverage ahead
             WHERE ahead.responder_id = r.id AND ahead.agency_id = :agency_id
               AND ahead.is_home AND ahead.starts_at > :now AND ahead.ends_at > :now
             ORDER BY ahead.ends_at
             LIMIT 1)
        ) naming
        ORDER BY naming.rank
        LIMIT 1
    ) sc
    WHERE sc.ends_at <= :now OR sc.starts_at > :now"""  # noqa: S608 (static: the statuses)

# The whole agency: its coverage rows on now; each shift's home row is its unit, its other
# rows the districts it also covers. They are read district by district, so the planner can
# take each district's rows on now from the coverage index (agency, district, starts_at),
# as the one-district read does. shift_coverage keeps every past shift: read by agency
# alone, only a scan of the whole table found them, and its cost grew with the roster's
# history (at 20,000 officers, 297 ms at 30 days of history, against 76 ms now; bench/units.py
# --history-days). On a young roster the planner may take either way, as its statistics
# say; there the two cost about the same.
_AGENCY_UNITS = Template("""
WITH serving AS MATERIALIZED (
    SELECT sc.is_home, sc.district_id, $columns
    FROM district d
    JOIN shift_coverage sc ON sc.district_id = d.id
    WHERE d.agency_id = :agency_id AND $on_now
), unit AS (
    SELECT * FROM serving s WHERE s.is_home
), covers AS (
    SELECT c.shift_id, array_agg(d.code ORDER BY d.code) AS codes
    FROM serving c JOIN district d ON d.id = c.district_id
    WHERE NOT c.is_home
    GROUP BY c.shift_id
)""")

# One district: its coverage rows on now (a unit based there or covering it), by the
# coverage index; the districts each also covers, by the shift's own rows.
_DISTRICT_UNITS = Template("""
WITH unit AS MATERIALIZED (
    SELECT $columns
    FROM shift_coverage sc
    WHERE sc.district_id = :district_id AND $on_now
), covers AS (
    SELECT c.shift_id, array_agg(d.code ORDER BY d.code) AS codes
    FROM shift_coverage c JOIN district d ON d.id = c.district_id
    WHERE c.shift_id IN (SELECT u.shift_id FROM unit u) AND NOT c.is_home
    GROUP BY c.shift_id
)""")

# The units held over, as the record of the shift that names them: listed under the
# districts that shift serves, as during it (a D2 clinician covering D1 stays on D1's
# consoles while on scene at a D1 call after its shift ends), with the others it serves in
# also_covers; for a district, if one is given, those whose shift serves it. A statement of
# its own: joined into the whole agency's (a UNION ALL in `unit`), it cost that read about a
# tenth more at 20,000 officers, for rows that are most often none.
_HELD_UNITS = Template("""
WITH unit AS MATERIALIZED (
    SELECT * FROM ($held_over) held
    WHERE CAST(:district_id AS uuid) IS NULL
       OR EXISTS (SELECT 1 FROM shift_coverage served
                  WHERE served.shift_id = held.shift_id AND served.district_id = :district_id)
), covers AS (
    SELECT c.shift_id, array_agg(d.code ORDER BY d.code) AS codes
    FROM shift_coverage c JOIN district d ON d.id = c.district_id
    WHERE c.shift_id IN (SELECT u.shift_id FROM unit u) AND NOT c.is_home
    GROUP BY c.shift_id
)""")

# Beside the read model, only what it lacks: the name, trainings or specialties, call
# and external incident from the responder's row, and the districts' codes. The two
# responder tables are outer joins (a unit has a row in one), so the planner may hash either
# (for the whole agency it hashes the co-responders); a lateral union of the two probed
# both indexes for every unit. Call signs sort in character-code order, as routing's
# tie-break does (docs/routing.md): the same on every server whatever its collation, and
# the whole agency's sort took half the time it took under the embedded server's C.UTF-8.
_RECORDS = """
SELECT u.responder_type, u.responder_id::text AS responder_id,
       coalesce(o.name, c.name) AS name, u.call_sign,
       home.code AS district, coalesce(cv.codes, '{}') AS also_covers,
       u.ends_at AS shift_ends_at, u.status, u.lat, u.lon,
       u.cit_certified, o.trainings, c.specialties,
       coalesce(o.active_call_id, c.active_call_id)::text AS active_call_id,
       coalesce(o.external_incident, c.external_incident) AS external_incident
FROM unit u
JOIN district home ON home.id = u.home_district_id
LEFT JOIN officer o ON u.responder_type = 'officer' AND o.id = u.responder_id
LEFT JOIN co_responder c ON u.responder_type = 'co_responder' AND c.id = u.responder_id
LEFT JOIN covers cv ON cv.shift_id = u.shift_id
WHERE o.id IS NOT NULL OR c.id IS NOT NULL
ORDER BY u.call_sign COLLATE "C", u.shift_id
"""
# Static SQL only: the templates take the module's constants above, never input.
_WHOLE_AGENCY, _ONE_DISTRICT, _HELD = (
    RawStatement.compile(
        units.substitute(columns=_COLUMNS, on_now=_ON_NOW, held_over=_HELD_OVER) + _RECORDS
    )
    for units in (_AGENCY_UNITS, _DISTRICT_UNITS, _HELD_UNITS)
)


async def units_on_shift(
    conn: AsyncConnection,
    *,
    agency_id: UUID,
    district_id: UUID | None,
    now: datetime,
    today: date,
) -> list[UnitRecord]:
    """Active units on shift now (serving the district, if given), and those held over on
    a call past their shift (based in the district, if given), ordered by call sign:
    records in UnitOut's field order, built without validation (the database holds
    only what UnitOut accepts)."""
    params = {"agency_id": agency_id, "district_id": district_id, "now": now, "today": today}
    statement = _WHOLE_AGENCY if district_id is None else _ONE_DISTRICT
    raw = await driver(conn)
    units = _records(await raw.fetch(statement.sql, *statement.args(params)))
    # Merged by call sign (Python compares code points, as COLLATE "C" compares UTF-8).
    for held in _records(await raw.fetch(_HELD.sql, *_HELD.args(params))):
        bisect.insort(units, held, key=lambda unit: unit["call_sign"])
    return units


def _records(rows: list[asyncpg.Record]) -> list[UnitRecord]:
    """A record per row in UnitOut's field order, written out: at 20,000 officers (7,333
    units on now) dict(row) and the location's rewrite took about 30 ms, this about 18.
    Ids come as text (PostgreSQL's form is the JSON's): writing asyncpg's UUIDs cost a
    third of the serialisation."""
    return [
        {
            "responder_type": row[0],
            "responder_id": row[1],
            "name": row[2],
            "call_sign": row[3],
            "district": row[4],
            "also_covers": row[5],
            "shift_ends_at": row[6],
            "status": row[7],
            "location": None
            if row[8] is None or row[9] is None
            else {"lat": row[8], "lon": row[9]},
            "cit_certified": row[10],
            "trainings": row[11],
            "specialties": row[12],
            "active_call_id": row[13],
            "external_incident": row[14],
        }
        for row in rows
    ]
