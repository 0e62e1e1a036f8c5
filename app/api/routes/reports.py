"""The CIT program's reports: read-only, agency-scoped, JSON or CSV (docs/reports.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.agency_context import AgencyContext
from app.api.csv_export import csv_response, flatten, wants_csv
from app.api.deps import Caller, Context, ReadSession, State
from app.api.problems import problems
from app.api.strict_json import StrictJSONRoute
from app.events.body import instant_text
from app.schemas.common import DIGITS, DistrictCode, Instant
from app.schemas.reports import CoverageReport, OutcomeReport, ProgramReport
from app.services import agency, coverage, outcomes, program
from app.services.reports import Range, report_range
from app.state import AppState
from app.vocabulary import OutcomesGroupBy

router = APIRouter(tags=["reports"], route_class=StrictJSONRoute)

From = Annotated[
    Instant | None,
    Query(alias="from", description="RFC 3339 start of the range (included)"),
]
To = Annotated[Instant | None, Query(description="RFC 3339 end of the range (excluded)")]
District = Annotated[
    DistrictCode | None, Query(description="A district's code; default: every district")
]


# How every report's CSV form writes its cells (csv_export.csv_response).
_CSV_CELLS = (
    "RFC 4180, in UTF-8, with a header row naming the columns. A null is an empty cell, a"
    " boolean `true` or `false`, an instant RFC 3339 in UTC; a text cell that a spreadsheet"
    " would run as a formula (one starting with `=`, `+`, `-`, `@`, a tab or a carriage"
    " return) begins with `'`."
)
_COVERAGE_COLUMNS = [
    "district",
    "cit_covered_pct",
    "co_responder_covered_pct",
    "gap_kind",
    "gap_from",
    "gap_to",
    "gap_hours",
    "adjacent_cover",
]
# A group's figures, each named by its path: every group has them all, with zeros.
_OUTCOME_COLUMNS = list(flatten(outcomes.empty_group().model_dump(mode="json")))


# What a range's report names its file by (its Content-Disposition).
_RANGE_DAYS = (
    "The district, if one is asked for, follows the report's name; the days are the"
    " range's first and last in the agency's time zone (`from=2026-11-01T00:00:00-06:00`"
    " and `to=2026-12-01T00:00:00-07:00` in Denver give `2026-11-01_2026-11-30`: the"
    " range's end, at midnight, is no day of it), so that one period's export does not save"
    " over another's"
)


def _answers(
    csv_rows: str, file_name: str, *statuses: int, file_days: str = _RANGE_DAYS
) -> dict[int | str, dict[str, Any]]:
    """A report's answers: the report as JSON, or as CSV (its rows and columns as csv_rows
    says, saved under file_name, which _file_name gives), and the problems of statuses."""
    csv_too: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "The report: JSON, or CSV when `Accept` prefers `text/csv`",
            "content": {
                "text/csv": {
                    "schema": {"type": "string", "description": f"{csv_rows} {_CSV_CELLS}"}
                }
            },
            "headers": {
                "Content-Disposition": {
                    "description": "With the CSV answer only:"
                    f' `attachment; filename="{file_name}.csv"`, so that a browser saves the'
                    f" report as a file of that name rather than showing it. {file_days}",
                    "schema": {"type": "string"},
                }
            },
        }
    }
    return {**csv_too, **problems(*statuses)}


def _file_name(
    report: str, context: AgencyContext, *, span: Range | None = None, district: str | None = None
) -> str:
    """A CSV answer's file name (without `.csv`): the report, the district asked for, and
    the local dates of the range's first and last days (an end at local midnight is not a
    day of it: the range excludes it), or of today for a report of now."""
    tz = context.timezone
    if span is None:
        days = [datetime.now(tz).date()]
    else:
        last = span.end - timedelta(microseconds=1)
        days = [span.start.astimezone(tz).date(), last.astimezone(tz).date()]
    return "_".join([report, *([district] if district else []), *map(str, days)])


async def _knowing(state: AppState, context: AgencyContext, district: str | None) -> AgencyContext:
    return await agency.knowing(state, context, codes=[] if district is None else [district])


@router.get(
    "/v1/coverage",
    summary="CIT and co-responder coverage report",
    response_model=CoverageReport,
    responses=_answers(
        "A row per district, with `district` (its code), `cit_covered_pct` and"
        " `co_responder_covered_pct`, and after it a row per gap of the district, in time"
        " order, which repeats those three and adds the gap's `gap_kind` (`cit` or"
        " `co_responder`), `gap_from`, `gap_to`, `gap_hours` and `adjacent_cover`; the"
        " district's own row leaves these empty. The figures are the JSON report's.",
        "coverage[_<district>]_<first day>_<last day>",
        401,
        403,
        422,
        503,
    ),
)
async def get_coverage(
    who: Caller,
    context: Context,
    session: ReadSession,
    state: State,
    request: Request,
    from_: From = None,
    to: To = None,
    district: District = None,
) -> CoverageReport | Response:
    """CIT and co-responder coverage on the roster: per district, the share of the range
    covered, an hour-of-week heat map, and the gaps (default: the next 7 days).
    `Accept: text/csv` gives a row per district and a row per gap."""
    span = report_range(from_, to, now=datetime.now(UTC), default=timedelta(days=7))
    context = await _knowing(state, context, district)
    out = await coverage.report(session, context, span=span, district=district)
    if not wants_csv(request):
        return out
    rows: list[dict[str, Any]] = []
    for d in out.districts:
        figures = {
            "district": d.district,
            "cit_covered_pct": d.cit_covered_pct,
            "co_responder_covered_pct": d.co_responder_covered_pct,
        }
        rows.append(figures)
        rows.extend(
            {
                **figures,
                "gap_kind": g.kind,
                "gap_from": instant_text(g.from_),
                "gap_to": instant_text(g.to),
                "gap_hours": g.hours,
                "adjacent_cover": g.adjacent_cover,
            }
            for g in d.gaps
        )
    name = _file_name("coverage", context, span=span, district=district)
    return csv_response(_COVERAGE_COLUMNS, rows, name)


@router.get(
    "/v1/program",
    summary="The CIT program at a glance",
    response_model=ProgramReport,
    responses=_answers(
        "A row per figure of the JSON report, with two columns: `figure`, the figure's path"
        " in the JSON (`officers.cit_share_pct`; `certifications_expiring.0.name`, the name"
        " of the officer whose certification lapses first), and `value`.",
        "program_<today>",
        401,
        403,
        422,
        503,
        file_days="The day is today's in the agency's time zone.",
    ),
)
async def get_program(
    who: Caller,
    context: Context,
    session: ReadSession,
    request: Request,
    within_days: Annotated[
        int, Query(ge=1, le=365, description="Expiring certifications: days ahead"), DIGITS
    ] = 90,
) -> ProgramReport | Response:
    """The program at a glance: CIT share of officers, volunteers, training, co-responders,
    and the CIT certifications that end soon. `Accept: text/csv` gives one row per figure."""
    out = await program.report(session, context, now=datetime.now(UTC), within_days=within_days)
    if not wants_csv(request):
        return out
    figures = flatten(out.model_dump(mode="json"))
    return csv_response(
        ["figure", "value"],
        ({"figure": k, "value": v} for k, v in figures.items()),
        _file_name("program", context),
    )


@router.get(
    "/v1/reports/outcomes",
    summary="Outcomes and accountability report",
    response_model=OutcomeReport,
    responses=_answers(
        "A row per group of the JSON report (one alone when group_by is none), with a"
        " column per figure of the group, named by its path in the JSON: "
        + ", ".join(f"`{column}`" for column in _OUTCOME_COLUMNS)
        + ".",
        "outcomes[_<district>]_<first day>_<last day>",
        401,
        403,
        422,
        503,
    ),
)
async def get_outcomes(
    who: Caller,
    context: Context,
    session: ReadSession,
    state: State,
    request: Request,
    from_: From = None,
    to: To = None,
    district: District = None,
    group_by: Annotated[OutcomesGroupBy, Query()] = "none",
) -> OutcomeReport | Response:
    """Calls received in the range (default: the last 30 days): leads recommended and sent,
    why mental-health leads were not followed, capacity warnings, outcomes, diversion, and
    times. `Accept: text/csv` gives one row per group."""
    span = report_range(from_, to, now=datetime.now(UTC), default=timedelta(days=-30))
    context = await _knowing(state, context, district)
    out = await outcomes.report(session, context, span=span, district=district, group_by=group_by)
    if not wants_csv(request):
        return out
    rows = [flatten(g.model_dump(mode="json")) for g in out.groups]
    return csv_response(
        _OUTCOME_COLUMNS, rows, _file_name("outcomes", context, span=span, district=district)
    )
