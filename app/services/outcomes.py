"""Outcomes and accountability: what was recommended, what was sent, why they differed, and
what happened to the people in crisis (docs/reports.md, "Outcomes and accountability")."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.figures import half_up
from app.repositories import outcomes as repo
from app.schemas.reports import Minutes, NotFollowed, OutcomeGroup, OutcomeReport
from app.services.agency import district_id_of
from app.services.reports import Range
from app.vocabulary import (
    CAPACITY_WARNINGS,
    DISPATCHED_LEADS,
    LEADS,
    OUTCOMES,
    OVERRIDE_CODES,
    OutcomesGroupBy,
)


def _minutes(row: dict[str, Any], name: str) -> Minutes:
    def one(value: float | None) -> float | None:
        return None if value is None else half_up(value, 1)

    return Minutes(p50=one(row[f"{name}_p50"]), p90=one(row[f"{name}_p90"]))


def _group(key: str | None, row: dict[str, Any] | None) -> OutcomeGroup:
    r = row or {}

    def n(column: str) -> int:
        return int(r.get(column) or 0)

    return OutcomeGroup(
        key=key,
        calls=n("calls"),
        cleared=n("cleared"),
        lead_recommended={lead: n(f"rec_{lead}") for lead in LEADS},
        lead_dispatched={lead: n(f"sent_{lead}") for lead in DISPATCHED_LEADS},
        mh_lead_not_followed=NotFollowed(
            total=n("not_followed"),
            by_override_code={code: n(f"override_{code}") for code in OVERRIDE_CODES},
        ),
        cit_lead_not_followed=NotFollowed(
            total=n("cit_not_followed"),
            by_override_code={code: n(f"cit_override_{code}") for code in OVERRIDE_CODES},
        ),
        capacity_warnings={code: n(f"warning_{code}") for code in CAPACITY_WARNINGS},
        with_cit_officer=n("with_cit_officer"),
        with_co_responder=n("with_co_responder"),
        outcomes={
            **{code: n(f"outcome_{code}") for code in OUTCOMES},
            "unrecorded": n("outcome_unrecorded"),
        },
        diverted_to_mh_services=n("diverted_to_mh_services"),
        justice_involved=n("justice_involved"),
        use_of_force=n("use_of_force"),
        subject_injured=n("subject_injured"),
        officer_injured=n("officer_injured"),
        minutes_to_dispatch=_minutes(r, "to_dispatch") if r else Minutes(p50=None, p90=None),
        minutes_to_on_scene=_minutes(r, "to_on_scene") if r else Minutes(p50=None, p90=None),
    )


def empty_group() -> OutcomeGroup:
    """A group without calls: every figure's key, with zeros."""
    return _group(None, None)


def _months(start: date, end: date) -> list[str | None]:
    """Every local month the range reaches, as YYYY-MM."""
    months: list[str | None] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _keys(
    context: AgencyContext, span: Range, group_by: OutcomesGroupBy, district: str | None
) -> list[str | None]:
    """Every key the grouping has over the range, so that a group without calls shows 0."""
    if group_by == "none":
        return [None]
    if group_by == "district":
        return [district] if district is not None else [*sorted(context.districts_by_code)]
    if group_by == "lead":
        return [*LEADS]
    first = span.start.astimezone(context.timezone).date()
    last = (span.end - timedelta(microseconds=1)).astimezone(context.timezone).date()
    return list(_months(first, last))


async def report(
    session: AsyncSession,
    context: AgencyContext,
    *,
    span: Range,
    district: str | None,
    group_by: OutcomesGroupBy,
) -> OutcomeReport:
    rows = await repo.group_counts(
        session,
        agency_id=context.agency_id,
        timezone=context.timezone.key,
        start=span.start,
        end=span.end,
        district_id=district_id_of(context, district),
        group_by=group_by,
    )
    by_key = {row["key"]: row for row in rows}
    keys = _keys(context, span, group_by, district)
    # A key the expected list lacks (a district deleted since) still shows.
    keys += [k for k in by_key if k not in keys]
    return OutcomeReport(
        from_=span.start,
        to=span.end,
        group_by=group_by,
        groups=[_group(key, by_key.get(key)) for key in keys],
    )
