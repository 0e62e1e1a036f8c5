"""SQL for CIT and co-responder coverage (docs/reports.md, "Coverage").

The roster of a year lives in the database, so the coverage is computed there: a sweep
over the shift boundaries of each district counts the units on shift at every instant and
returns only the intervals where the count reaches the target. What leaves the database is
a row per covered interval, not the year's shifts. A multirange version (range_agg) was
measured 10-25 % faster, but it can only answer "at least one unit"; the sweep counts
heads, so it serves any target (bench/calls.py --coverage measures it).

A shift serves its home district and each district it also covers: shift_coverage holds a
row for each, with the unit's `active` flag and, for officers, the dates their CIT
certifications are valid (`cit_periods`, kept by triggers; migration 0003). An officer's
shift counts for CIT coverage only within those dates, which begin and end at local
midnight in the agency's time zone: a certification ending mid-shift ends its coverage at
midnight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.vocabulary import CoverageKind

Interval = tuple[datetime, datetime]

# The settings the sweep is measured with (docs/reports.md): a custom plan for each run
# (asyncpg prepares statements, and a generic plan was once 15 times slower), memory for its
# hash aggregates, and no JIT, which only added variance. Local to the report's transaction.
_SETTINGS = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('work_mem', '64MB', true), set_config('jit', 'off', true)"
)

# 1. pieces: each (unit shift, district served) row, clipped to the range and, for an
#    officer, to each period of valid certification, converted to local midnights. A row
#    whose certification covers every local day of the range skips the conversion (the
#    unbounded '{(,)}' range: NULL bounds, which greatest/least ignore), so only the few
#    officers certified or expiring within the range pay for it. Identical pieces (a watch
#    worked by many) are counted once, with their weight.
# 2. steps: +w where a piece starts, -w where it ends, summed per instant; the running sum
#    is the number of units on the roster from that instant on. A responder's shifts never
#    overlap, and a row's certification periods never touch, so the count is of distinct
#    units.
# 3. edges: the instants where the count crosses the target (and 1, when the target is not
#    1: adjacent cover needs "at least one unit"); each rise is paired with its fall.
# The scan reads ix_shift_coverage_district_leaders only (its predicate is in the WHERE
# clause), district by district; starts_at bounds it, as a shift lasts at most 24 hours.
# `kind` is a boolean (true: co-responder) so that sorting does not compare text.
_SWEEP = text(
    """
WITH days AS MATERIALIZED (
    SELECT daterange((CAST(:range_from AS timestamptz) AT TIME ZONE :tz)::date,
                     (CAST(:range_to AS timestamptz) AT TIME ZONE :tz)::date, '[]') AS days
),
pieces AS MATERIALIZED (
    SELECT district_id, kind, s, e, count(*)::int AS w
      FROM (SELECT district_id, kind,
                   greatest(starts_at, CAST(:range_from AS timestamptz),
                            lower(p)::timestamp AT TIME ZONE :tz) AS s,
                   least(ends_at, CAST(:range_to AS timestamptz),
                         upper(p)::timestamp AT TIME ZONE :tz) AS e
              FROM (SELECT sc.district_id, sc.responder_type = 'co_responder' AS kind,
                           sc.starts_at, sc.ends_at,
                           unnest(CASE WHEN sc.responder_type = 'co_responder'
                                         OR sc.cit_periods @> (SELECT days FROM days)
                                       THEN '{(,)}'::datemultirange
                                       ELSE sc.cit_periods END) AS p
                      FROM shift_coverage sc
                     WHERE sc.agency_id = :agency_id
                       AND sc.district_id = ANY (CAST(:district_ids AS uuid[]))
                       AND sc.starts_at < CAST(:range_to AS timestamptz)
                       AND sc.starts_at > CAST(:range_from AS timestamptz) - interval '24 hours'
                       AND sc.ends_at > CAST(:range_from AS timestamptz)
                       AND sc.active
                       AND (sc.responder_type = 'co_responder'
                            OR sc.cit_periods <> '{}'::datemultirange)) u) x
     WHERE s < e
     GROUP BY district_id, kind, s, e
),
steps AS (
    SELECT district_id, kind, t, sum(delta)::int AS delta
      FROM (SELECT district_id, kind, s AS t, w AS delta FROM pieces
            UNION ALL
            SELECT district_id, kind, e, -w FROM pieces) ev
     GROUP BY district_id, kind, t
),
counts AS (
    SELECT district_id, kind, t, delta,
           CASE WHEN kind THEN CAST(:target_co AS int) ELSE CAST(:target_cit AS int) END
               AS target,
           sum(delta) OVER (PARTITION BY district_id, kind ORDER BY t
                            ROWS UNBOUNDED PRECEDING) AS n
      FROM steps
),
edges AS (
    SELECT district_id, kind, target AS level, t, n >= target AS up
      FROM counts WHERE target >= 1 AND (n >= target) <> (n - delta >= target)
    UNION ALL
    SELECT district_id, kind, 1, t, n >= 1
      FROM counts WHERE target <> 1 AND (n >= 1) <> (n - delta >= 1)
),
intervals AS (
    SELECT district_id, kind, level, t AS lower, up,
           lead(t) OVER (PARTITION BY district_id, kind, level ORDER BY t) AS upper
      FROM edges
)
SELECT district_id, kind, level, lower, upper FROM intervals WHERE up
 ORDER BY district_id, kind, level, lower
"""
)

Coverage = dict[tuple[CoverageKind, int], dict[UUID, list[Interval]]]


async def covered(
    session: AsyncSession,
    *,
    agency_id: UUID,
    timezone: str,
    targets: Mapping[CoverageKind, int],
    start: datetime,
    end: datetime,
    district_ids: Sequence[UUID],
) -> Coverage:
    """For each kind and level (its target, and 1), each district's maximal intervals
    within [start, end) with at least that many units on the roster, in time order.

    A district never covered at a level is absent; a target of 0 gives no intervals (it
    needs no unit: the caller treats the whole range as covered).
    """
    await session.execute(_SETTINGS)
    rows = await session.execute(
        _SWEEP,
        {
            "agency_id": agency_id,
            "tz": timezone,
            "range_from": start,
            "range_to": end,
            "target_cit": targets["cit"],
            "target_co": targets["co_responder"],
            "district_ids": list(district_ids),
        },
    )
    result: Coverage = {}
    for district_id, is_co, level, lower, upper in rows:
        kind: CoverageKind = "co_responder" if is_co else "cit"
        result.setdefault((kind, level), {}).setdefault(district_id, []).append((lower, upper))
    return result
