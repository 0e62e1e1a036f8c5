"""The CIT program's reports (docs/reports.md): coverage, the program at a glance, outcomes."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.vocabulary import CoverageKind, OutcomesGroupBy


class _Aliased(BaseModel):
    """`from` is a Python keyword: the field is `from_`, written `from` in JSON."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


# --- GET /v1/coverage ---------------------------------------------------------------------


class CoverageGap(_Aliased):
    kind: CoverageKind
    from_: datetime = Field(alias="from")
    to: datetime
    hours: float
    # Whether the adjacent districts' roster has a unit of this kind for the whole gap.
    adjacent_cover: bool


class HourOfWeek(BaseModel):
    """168 fractions, Monday 00:00 local first; null for an hour the range never reaches."""

    cit: list[float | None]
    co_responder: list[float | None]


class DistrictCoverage(BaseModel):
    district: str
    cit_covered_pct: float
    co_responder_covered_pct: float
    by_hour_of_week: HourOfWeek
    gaps: list[CoverageGap]


class CoverageTargets(BaseModel):
    cit_officers: int
    co_responders: int


class CoverageSummary(BaseModel):
    cit_covered_pct: float | None
    co_responder_covered_pct: float | None
    districts: int
    districts_always_cit_covered: int


class CoverageReport(_Aliased):
    from_: datetime = Field(alias="from")
    to: datetime
    timezone: str
    targets: CoverageTargets
    summary: CoverageSummary
    districts: list[DistrictCoverage]


# --- GET /v1/program ----------------------------------------------------------------------


class Trained(BaseModel):
    mh_awareness: int
    de_escalation: int
    neither: int


class OfficerFigures(BaseModel):
    active: int
    cit_certified: int
    cit_share_pct: float | None
    cit_share_target_pct: float
    cit_volunteered_pct: float | None
    trained: Trained


class CoResponderFigures(BaseModel):
    active: int
    by_kind: dict[str, int]
    by_specialty: dict[str, int]


class ExpiringCertification(BaseModel):
    officer_id: UUID
    name: str
    badge_number: str
    state_officer_id: str
    # The first day the officer is no longer certified (the certification's expires_on).
    expires_on: date
    days_left: int
    districts: list[str]


class ProgramWarning(BaseModel):
    code: str
    message: str


class ProgramReport(BaseModel):
    as_of: datetime
    officers: OfficerFigures
    co_responders: CoResponderFigures
    certifications_expiring: list[ExpiringCertification]
    warnings: list[ProgramWarning]


# --- GET /v1/reports/outcomes -------------------------------------------------------------


class NotFollowed(BaseModel):
    total: int
    by_override_code: dict[str, int]


class Minutes(BaseModel):
    p50: float | None
    p90: float | None


class OutcomeGroup(BaseModel):
    key: str | None
    calls: int
    cleared: int
    lead_recommended: dict[str, int]
    lead_dispatched: dict[str, int]
    mh_lead_not_followed: NotFollowed
    capacity_warnings: dict[str, int]
    with_cit_officer: int
    with_co_responder: int
    outcomes: dict[str, int]
    diverted_to_mh_services: int
    justice_involved: int
    use_of_force: int
    subject_injured: int
    officer_injured: int
    minutes_to_dispatch: Minutes
    minutes_to_on_scene: Minutes


class OutcomeReport(_Aliased):
    from_: datetime = Field(alias="from")
    to: datetime
    group_by: OutcomesGroupBy
    groups: list[OutcomeGroup]
