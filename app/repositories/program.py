"""SQL for the program at a glance (docs/reports.md, "The program at a glance").

Every statement is agency-scoped in its WHERE clause, and row-level security applies too.
A certification is valid on the days d with certified_on <= d < expires_on; `today` is the
agency's local date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.vocabulary import CO_RESPONDER_KINDS

_VALID_TODAY = """
    EXISTS (SELECT 1 FROM certification c
             WHERE c.state_officer_id = o.state_officer_id
               AND c.certified_on <= :today AND c.expires_on > :today{extra})"""

_OFFICERS = text(
    f"""
SELECT count(*) AS active,
       count(*) FILTER (WHERE {_VALID_TODAY.format(extra="")}) AS cit_certified,
       count(*) FILTER (WHERE {_VALID_TODAY.format(extra=" AND c.volunteered")}) AS volunteered,
       count(*) FILTER (WHERE 'mh_awareness' = ANY (o.trainings)) AS mh_awareness,
       count(*) FILTER (WHERE 'de_escalation' = ANY (o.trainings)) AS de_escalation,
       count(*) FILTER (WHERE NOT o.trainings && ARRAY['mh_awareness', 'de_escalation'])
           AS neither
  FROM officer o
 WHERE o.agency_id = :agency_id AND o.active
"""  # noqa: S608 (built from constants)
)

_CO_RESPONDER_KINDS = text(
    "SELECT kind, count(*) AS n FROM co_responder"
    " WHERE agency_id = :agency_id AND active GROUP BY kind"
)
_CO_RESPONDER_SPECIALTIES = text(
    "SELECT s.specialty, count(*) AS n"
    " FROM co_responder c CROSS JOIN LATERAL unnest(c.specialties) AS s(specialty)"
    " WHERE c.agency_id = :agency_id AND c.active GROUP BY s.specialty ORDER BY s.specialty"
)

# Active officers certified today whose certification lapses within the window: the first
# day no certification of the person covers is on or before last_end. That day is some
# certification's expires_on (its first day invalid) that no other covers; a renewal
# recorded to start after it, leaving a gap, does not hide the lapse. With the districts
# their shifts ahead serve, until :days_after days past the lapse (local midnight: where
# they work before it, and where it leaves a gap), each also_covers as well as the home
# district (the candidate query's read model, shift_coverage, has a row for each): found by
# ix_shift_coverage_responder (responder, ends_at) from now, not among every shift the
# officer ever worked (a scan of the whole shift table cost 1.7 s for 40 officers at 90
# days of history, every 10 minutes).
_EXPIRING = text(
    """
SELECT o.id, o.name, o.badge_number, o.state_officer_id, v.ends,
       coalesce(ARRAY(SELECT DISTINCT d.code
                        FROM shift_coverage sc JOIN district d ON d.id = sc.district_id
                       WHERE sc.responder_id = o.id AND sc.responder_type = 'officer'
                         AND sc.agency_id = o.agency_id
                         AND sc.ends_at > :now
                         AND sc.starts_at < ((v.ends + CAST(:days_after AS integer))::timestamp
                                             AT TIME ZONE :timezone)
                       ORDER BY d.code), '{}') AS districts
  FROM officer o
  JOIN LATERAL (SELECT min(c.expires_on) AS ends FROM certification c
                 WHERE c.state_officer_id = o.state_officer_id AND c.expires_on > :today
                   AND NOT EXISTS (SELECT 1 FROM certification n
                                    WHERE n.state_officer_id = c.state_officer_id
                                      AND n.certified_on <= c.expires_on
                                      AND n.expires_on > c.expires_on)) v ON true
 WHERE o.agency_id = :agency_id AND o.active AND v.ends <= :last_end
   AND EXISTS (SELECT 1 FROM certification t
                WHERE t.state_officer_id = o.state_officer_id
                  AND t.certified_on <= :today AND t.expires_on > :today)
 ORDER BY v.ends, o.name, o.badge_number
"""
)


@dataclass(frozen=True, slots=True)
class OfficerCounts:
    active: int
    cit_certified: int
    volunteered: int
    mh_awareness: int
    de_escalation: int
    neither: int


@dataclass(frozen=True, slots=True)
class Expiring:
    officer_id: UUID
    name: str
    badge_number: str
    state_officer_id: str
    # The certification's expires_on: the first day it is no longer valid.
    ends: date
    districts: list[str]


async def officer_counts(session: AsyncSession, *, agency_id: UUID, today: date) -> OfficerCounts:
    row = (await session.execute(_OFFICERS, {"agency_id": agency_id, "today": today})).one()
    return OfficerCounts(**row._asdict())


async def co_responder_counts(
    session: AsyncSession, *, agency_id: UUID
) -> tuple[dict[str, int], dict[str, int]]:
    """Active co-responders by kind (every kind, zeros included) and by specialty."""
    params = {"agency_id": agency_id}
    by_kind: dict[str, int] = dict.fromkeys(CO_RESPONDER_KINDS, 0)
    by_kind.update((r.kind, r.n) for r in await session.execute(_CO_RESPONDER_KINDS, params))
    specialties: dict[str, int] = {
        r.specialty: r.n for r in await session.execute(_CO_RESPONDER_SPECIALTIES, params)
    }
    return by_kind, specialties


async def expiring(
    session: AsyncSession,
    *,
    agency_id: UUID,
    today: date,
    last_end: date,
    now: datetime,
    days_after: int,
    timezone: str,
) -> list[Expiring]:
    """Officers certified today whose certification lapses on or before last_end, with the
    districts of their shifts from now until days_after days past the lapse (local
    midnight in timezone)."""
    rows = await session.execute(
        _EXPIRING,
        {
            "agency_id": agency_id,
            "today": today,
            "last_end": last_end,
            "now": now,
            "days_after": days_after,
            "timezone": timezone,
        },
    )
    return [
        Expiring(r.id, r.name, r.badge_number, r.state_officer_id, r.ends, list(r.districts))
        for r in rows
    ]
