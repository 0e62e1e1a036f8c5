"""SQL for the outcome report (docs/reports.md, "Outcomes and accountability").

One statement per report: it finds, for each call received in the range, its first
dispatch, the recommendation that dispatch was made on, and its units, then counts per group
in the database. Every column it counts can be read back through the API: the calls with
their `dispatches` and `assignments`, and `GET /v1/calls/{id}/recommendations`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.vocabulary import (
    CAPACITY_WARNINGS,
    JUSTICE_OUTCOMES,
    JUSTICE_PLACES,
    MH_OUTCOMES,
    MH_SERVICES,
    OUTCOMES,
    OVERRIDE_CODES,
    OutcomesGroupBy,
    sql_list,
)

# The group key of each grouping; none of them comes from input.
_KEYS: Mapping[OutcomesGroupBy, str] = {
    "none": "NULL::text",
    "district": "f.district",
    "month": "to_char(f.received_at AT TIME ZONE :tz, 'YYYY-MM')",
    "lead": "f.lead_recommended",
}

# Whether the officer of assignment `a` held a CIT certification on the local date it was
# assigned, as the certifications read now.
_CIT_WHEN_ASSIGNED = """EXISTS (
                     SELECT 1 FROM officer o JOIN certification ct
                                ON ct.state_officer_id = o.state_officer_id
                      WHERE o.id = a.responder_id
                        AND ct.certified_on <= (a.assigned_at AT TIME ZONE :tz)::date
                        AND ct.expires_on > (a.assigned_at AT TIME ZONE :tz)::date)"""

_FACTS = f"""
WITH calls AS (
    SELECT c.id, d.code AS district, c.received_at, c.status, c.outcome, c.diverted_to,
           c.use_of_force, c.subject_injured, c.officer_injured
      FROM call c JOIN district d ON d.id = c.district_id
     WHERE c.agency_id = :agency_id AND c.received_at >= :from_ AND c.received_at < :to
       AND (CAST(:district_id AS uuid) IS NULL OR c.district_id = :district_id)
),
facts AS (
    SELECT c.*, fd.at AS dispatched_at, fd.dispatched_lead, fd.override_code,
           fd.sent_co_responder, rec.lead AS lead_recommended, rec.warnings,
           rec.cit_lead_recommended,
           -- A CIT officer sent to lead: certified on the assignment's date, or one the
           -- recommendation named as certified (a certification corrected since does not
           -- make a dispatch as recommended one that was not).
           (fd.lead_officer_cit OR rec.units @> jsonb_build_array(jsonb_build_object(
               'responder_id', fd.lead_officer::text, 'cit_certified', true)))
               AS sent_cit_lead,
           u.with_cit_officer, u.with_co_responder, u.on_scene_at
      FROM calls c
      LEFT JOIN LATERAL (SELECT d.at, d.dispatched_lead, d.override_code, d.recommendation_id,
                                EXISTS (SELECT 1 FROM assignment a
                                         WHERE a.call_id = c.id AND a.dispatch_id = d.id
                                           AND a.responder_type = 'co_responder')
                                    AS sent_co_responder,
                                lo.responder_id AS lead_officer,
                                coalesce(lo.cit, false) AS lead_officer_cit
                           FROM dispatch d
                           LEFT JOIN LATERAL (
                               SELECT a.responder_id, {_CIT_WHEN_ASSIGNED} AS cit
                                 FROM assignment a
                                WHERE a.call_id = c.id AND a.dispatch_id = d.id
                                  AND a.role = 'lead' AND a.responder_type = 'officer'
                                LIMIT 1) lo ON true
                          WHERE d.call_id = c.id ORDER BY d.at, d.id LIMIT 1) fd ON true
      -- The recommendation the first dispatch names, as it was made on; else (a call never
      -- dispatched) the latest. Not by comparing times: two instances' clocks may differ.
      LEFT JOIN LATERAL (SELECT r.lead, r.warnings, r.units,
                                r.units @> '[{{"role": "lead", "responder_type": "officer",
                                               "cit_certified": true}}]'::jsonb
                                    AS cit_lead_recommended
                           FROM recommendation r
                          WHERE r.call_id = c.id
                            AND (fd.recommendation_id IS NULL OR r.id = fd.recommendation_id)
                            AND (fd.at IS NULL OR fd.recommendation_id IS NOT NULL
                                 OR r.created_at <= fd.at)
                          ORDER BY r.created_at DESC, r.id DESC LIMIT 1) rec ON true
      LEFT JOIN LATERAL (
          SELECT bool_or(a.responder_type = 'co_responder') AS with_co_responder,
                 bool_or(a.responder_type = 'officer' AND {_CIT_WHEN_ASSIGNED})
                     AS with_cit_officer,
                 min(a.on_scene_at) AS on_scene_at
            FROM assignment a WHERE a.call_id = c.id) u ON true
)"""  # noqa: S608 (built from the constant above, never from input)


def _count(name: str, condition: str) -> str:
    return f"count(*) FILTER (WHERE {condition}) AS {name}"


def _minutes(name: str, start: str, end: str) -> str:
    minutes = f"extract(epoch FROM {end} - {start}) / 60"
    return (
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {minutes}) AS {name}_p50,"
        f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {minutes}) AS {name}_p90"
    )


# A mental-health lead recommended, and police sent instead: as the lead, or, with no unit
# sent as lead, alone (officers sent as backup or to stabilize only must not take the call
# out of the count). A co-responder sent with no lead did go: not counted.
_NOT_FOLLOWED = (
    "f.lead_recommended = 'mental_health' AND (f.dispatched_lead = 'law_enforcement'"
    " OR (f.dispatched_at IS NOT NULL AND f.dispatched_lead IS NULL AND NOT f.sent_co_responder))"
)
# A CIT officer recommended to lead (a law-enforcement lead), and the first dispatch sent
# none to lead: another officer, a co-responder, or no unit as lead.
_CIT_NOT_FOLLOWED = (
    "f.dispatched_at IS NOT NULL AND f.cit_lead_recommended AND NOT coalesce(f.sent_cit_lead,"
    " false)"
)
_CLEARED = "f.status = 'cleared'"
_COLUMNS = [
    "count(*) AS calls",
    _count("cleared", _CLEARED),
    _count("rec_mental_health", "f.lead_recommended = 'mental_health'"),
    _count("rec_law_enforcement", "f.lead_recommended = 'law_enforcement'"),
    _count("sent_mental_health", "f.dispatched_lead = 'mental_health'"),
    _count("sent_law_enforcement", "f.dispatched_lead = 'law_enforcement'"),
    _count("sent_no_lead_sent", "f.dispatched_at IS NOT NULL AND f.dispatched_lead IS NULL"),
    _count("sent_not_dispatched", "f.dispatched_at IS NULL"),
    _count("not_followed", _NOT_FOLLOWED),
    # Dispatches recorded before override codes existed count as `other`, their default.
    *(
        _count(
            f"override_{code}", f"{_NOT_FOLLOWED} AND coalesce(f.override_code, 'other') = '{code}'"
        )
        for code in OVERRIDE_CODES
    ),
    _count("cit_not_followed", _CIT_NOT_FOLLOWED),
    *(
        _count(
            f"cit_override_{code}",
            f"{_CIT_NOT_FOLLOWED} AND coalesce(f.override_code, 'other') = '{code}'",
        )
        for code in OVERRIDE_CODES
    ),
    *(
        _count(f"warning_{code}", f'f.warnings @> \'[{{"code": "{code}"}}]\'::jsonb')
        for code in CAPACITY_WARNINGS
    ),
    _count("with_cit_officer", "f.with_cit_officer"),
    _count("with_co_responder", "f.with_co_responder"),
    *(_count(f"outcome_{code}", f"{_CLEARED} AND f.outcome = '{code}'") for code in OUTCOMES),
    _count("outcome_unrecorded", f"{_CLEARED} AND f.outcome IS NULL"),
    _count(
        "diverted_to_mh_services",
        f"f.diverted_to IN {sql_list(MH_SERVICES)} OR f.outcome IN {sql_list(MH_OUTCOMES)}",
    ),
    _count(
        "justice_involved",
        f"f.outcome IN {sql_list(JUSTICE_OUTCOMES)} OR f.diverted_to IN {sql_list(JUSTICE_PLACES)}",
    ),
    _count("use_of_force", "f.use_of_force"),
    _count("subject_injured", "f.subject_injured"),
    _count("officer_injured", "f.officer_injured"),
    _minutes("to_dispatch", "f.received_at", "f.dispatched_at"),
    _minutes("to_on_scene", "f.dispatched_at", "f.on_scene_at"),
]

# Built from the constants above, never from input.
_STATEMENTS = {
    group_by: text(
        f"{_FACTS} SELECT {key} AS key, {', '.join(_COLUMNS)}"  # noqa: S608
        f" FROM facts f GROUP BY 1 ORDER BY 1"
    )
    for group_by, key in _KEYS.items()
}


async def group_counts(
    session: AsyncSession,
    *,
    agency_id: UUID,
    timezone: str,
    start: datetime,
    end: datetime,
    district_id: UUID | None,
    group_by: OutcomesGroupBy,
) -> list[dict[str, Any]]:
    """One row of counts per group key present among the calls received in [start, end)."""
    result = await session.execute(
        _STATEMENTS[group_by],
        {
            "agency_id": agency_id,
            "tz": timezone,
            "from_": start,
            "to": end,
            "district_id": district_id,
        },
    )
    return [dict(row._mapping) for row in result]
