"""The consoles' read model, GET /v1/units: the units on shift now, from shift_coverage.

shift_coverage already carries each unit's status, location, active flag and CIT periods,
kept current by the triggers of migration 0003 (the candidate query ranks from the same
columns). One statement reads the coverage rows on now, and beside them only what the read
model lacks: the responder's name, trainings or specialties and current call, and the
codes of the districts the shift covers.
"""

from __future__ import annotations

from datetime import date, datetime
from string import Template
from typing import cast
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.raw import RawStatement, driver
from app.records.units import UnitRecord

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

# The whole agency: one scan of its coverage rows on now; each shift's home row is its
# unit, its other rows the districts it also covers.
_AGENCY_UNITS = Template("""
WITH serving AS MATERIALIZED (
    SELECT sc.is_home, sc.district_id, $columns
    FROM shift_coverage sc
    WHERE $on_now
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

# Beside the read model, only what it lacks: the name, trainings or specialties, call
# and external incident from the responder's row, and the districts' codes.
_RECORDS = """
SELECT u.responder_type, u.responder_id::text AS responder_id, p.name, u.call_sign,
       home.code AS district, coalesce(cv.codes, '{}') AS also_covers,
       u.ends_at AS shift_ends_at, u.status,
       CASE WHEN u.lat IS NULL OR u.lon IS NULL THEN NULL
            ELSE ARRAY[u.lat, u.lon] END AS location,
       u.cit_certified, p.trainings, p.specialties, p.active_call_id::text AS active_call_id,
       p.external_incident
FROM unit u
JOIN district home ON home.id = u.home_district_id
JOIN LATERAL (
    SELECT o.name, o.trainings, NULL::text[] AS specialties, o.active_call_id,
           o.external_incident
    FROM officer o WHERE u.responder_type = 'officer' AND o.id = u.responder_id
    UNION ALL
    SELECT c.name, NULL::text[], c.specialties, c.active_call_id, c.external_incident
    FROM co_responder c WHERE u.responder_type = 'co_responder' AND c.id = u.responder_id
) p ON true
LEFT JOIN covers cv ON cv.shift_id = u.shift_id
ORDER BY u.call_sign, u.shift_id
"""
# Static SQL only: the templates take the module's constants above, never input.
_WHOLE_AGENCY, _ONE_DISTRICT = (
    RawStatement.compile(units.substitute(columns=_COLUMNS, on_now=_ON_NOW) + _RECORDS)
    for units in (_AGENCY_UNITS, _DISTRICT_UNITS)
)


async def units_on_shift(
    conn: AsyncConnection,
    *,
    agency_id: UUID,
    district_id: UUID | None,
    now: datetime,
    today: date,
) -> list[UnitRecord]:
    """Active units on shift now (serving the district, if given), ordered by call sign:
    records in UnitOut's field order, built without validation (the database holds
    only what UnitOut accepts)."""
    params = {"agency_id": agency_id, "district_id": district_id, "now": now, "today": today}
    statement = _WHOLE_AGENCY if district_id is None else _ONE_DISTRICT
    raw = await driver(conn)
    rows = await raw.fetch(statement.sql, *statement.args(params))
    records = []
    for row in rows:
        # The columns are UnitRecord's keys in its order; the location comes as [lat, lon].
        # Ids come as text (PostgreSQL's form is the JSON's): writing asyncpg's UUIDs
        # cost a third of the serialisation.
        record = dict(row)
        if record["location"] is not None:
            lat, lon = record["location"]
            record["location"] = {"lat": lat, "lon": lon}
        records.append(cast(UnitRecord, record))
    return records
