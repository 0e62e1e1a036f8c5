"""The CIT program's reports (docs/reports.md): coverage, the program at a glance, outcomes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.vocabulary import CoverageKind, OutcomesGroupBy


class _Aliased(BaseModel):
    """`from` is a Python keyword: the field is `from_`, written `from` in JSON."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


# --- GET /v1/coverage ---------------------------------------------------------------------


class CoverageGap(_Aliased):
    """A stretch of the range in which the district was not covered for one kind of unit:
    a maximal uncovered interval, clipped to the range."""

    kind: CoverageKind = Field(description="cit (CIT officers) or co_responder")
    from_: datetime = Field(
        alias="from", description="When the gap begins; the range's start for one under way then"
    )
    to: datetime = Field(description="When it ends; the range's end for one still open then")
    hours: float = Field(description="Its length in hours, to two decimals")
    # Whether the adjacent districts' roster has a unit of this kind for the whole gap.
    adjacent_cover: bool = Field(
        description="Whether, for the whole gap, at least one unit of this kind is on the"
        " roster of a district adjacent to this one (one step away, whatever the policy's"
        " adjacency_depth). A unit counts for a neighbour it serves through also_covers,"
        " though routing borrows units by their home district"
    )


class HourOfWeek(BaseModel):
    """168 fractions, Monday 00:00 local first; null for an hour the range never reaches."""

    cit: list[float | None] = Field(
        description="For each local hour of the week, the share of it the district was"
        " CIT-covered over the range, from 0 to 1, to three decimals"
    )
    co_responder: list[float | None] = Field(description="The same for co-responder coverage")


class DistrictCoverage(BaseModel):
    """One district's coverage over the range."""

    district: str = Field(description="The district's code")
    cit_covered_pct: float = Field(
        description="The share of the range the district was CIT-covered, in percent to one decimal"
    )
    co_responder_covered_pct: float = Field(
        description="The share of the range it was covered by co-responders, in percent to"
        " one decimal"
    )
    by_hour_of_week: HourOfWeek = Field(
        description="How much of each local hour of the week was covered: the data behind a"
        " heat map"
    )
    gaps: list[CoverageGap] = Field(
        description="The uncovered stretches of both kinds, in time order"
    )


class CoverageTargets(BaseModel):
    """The targets of the routing policy in force now, against which the whole range is
    measured: how many units of each kind make a district covered."""

    cit_officers: int = Field(
        description="Active CIT-certified officers on shift needed (coverage_target_cit)"
    )
    co_responders: int = Field(
        description="Active co-responders on shift needed (coverage_target_co_responders);"
        " with 0 a district is always covered"
    )


class CoverageSummary(BaseModel):
    """The figures over every district reported."""

    cit_covered_pct: float | None = Field(
        description="The mean of the districts' CIT-covered shares, of their exact shares,"
        " rounded once to one decimal (so it may differ by 0.1 from the mean of the figures"
        " shown); null with no district"
    )
    co_responder_covered_pct: float | None = Field(
        description="The same for co-responder coverage; null with no district"
    )
    districts: int = Field(description="How many districts are reported")
    districts_always_cit_covered: int = Field(
        description="How many of them had no CIT gap in the range"
    )


class CoverageReport(_Aliased):
    """Whether the roster gave every district its CIT officers and co-responders over
    [from, to): at each instant, a district is covered when at least the target of active
    units of a kind hold a shift serving it (for CIT, officers with a CIT certification
    valid on that local date). A shift that has ended counts with its unit's active flag and
    certifications as they stood then; one entered after it ended, with the certifications
    as they are now."""

    from_: datetime = Field(alias="from", description="The start of the range (inclusive)")
    to: datetime = Field(description="The end of the range (exclusive)")
    timezone: str = Field(
        description="The agency's time zone (an IANA name), in which hours of the week and"
        " certification days are read"
    )
    targets: CoverageTargets
    summary: CoverageSummary
    districts: list[DistrictCoverage] = Field(
        description="The district asked for, or every district of the agency, by code"
    )


# --- GET /v1/program ----------------------------------------------------------------------


class Trained(BaseModel):
    """Active officers with each generalist training: one officer may count in both."""

    mh_awareness: int = Field(description="Active officers trained in mental health awareness")
    de_escalation: int = Field(description="Active officers trained in de-escalation")
    neither: int = Field(description="Active officers with neither training")


class OfficerFigures(BaseModel):
    """The agency's officers and their CIT certification, today (the agency's local date)."""

    active: int = Field(description="Officers not separated")
    cit_certified: int = Field(description="Active officers with a CIT certification valid today")
    cit_share_pct: float | None = Field(
        description="cit_certified as a share of active, in percent to one decimal; null"
        " with no active officer"
    )
    cit_share_target_pct: float = Field(
        description="The routing policy's target for that share (cit_share_target_pct)"
    )
    cit_volunteered_pct: float | None = Field(
        description="The share of CIT-certified officers whose valid certification is"
        " recorded as volunteered, in percent to one decimal (1,999 of 2,000 shows as 100.0,"
        " beside the warning non_volunteer_certified); null with none certified"
    )
    trained: Trained


class CoResponderFigures(BaseModel):
    """The agency's active co-responders."""

    active: int = Field(description="Active co-responders")
    by_kind: dict[str, int] = Field(
        description="Active co-responders by kind, every kind listed, zeros included"
    )
    by_specialty: dict[str, int] = Field(
        description="Active co-responders by specialty: each specialty at least one of them holds"
    )


class ExpiringCertification(BaseModel):
    """An active officer, certified today, whose CIT certification lapses within the
    report's within_days."""

    officer_id: UUID
    name: str
    badge_number: str
    state_officer_id: str
    # The first day the officer is no longer certified (the certification's expires_on).
    expires_on: date = Field(
        description="The first day after today that no certification of the officer covers:"
        " a renewal starting on or before the day one ends continues it, one starting later"
        " leaves this gap"
    )
    days_left: int = Field(description="expires_on minus today, in days")
    districts: list[str] = Field(
        description="The districts the officer's shifts serve (home and also covered) from"
        " now until 30 days after expires_on, by code"
    )


class ProgramWarning(BaseModel):
    """A target of the program not met."""

    code: str = Field(
        description="cit_share_below_target: the CIT share is below its target;"
        " non_volunteer_certified: a CIT-certified officer did not volunteer (the exact"
        " share below 100, which cit_volunteered_pct may round to 100.0)"
    )
    message: str = Field(description="The shortfall in words, with its figures")


class ProgramReport(BaseModel):
    """The CIT program at a glance: the officers' certification and training, the
    co-responders, and the certifications about to lapse."""

    as_of: datetime = Field(
        description="When the figures were read; today is its date in the agency's time zone"
    )
    officers: OfficerFigures
    co_responders: CoResponderFigures
    certifications_expiring: list[ExpiringCertification] = Field(
        description="Soonest first, then by name"
    )
    warnings: list[ProgramWarning]


# --- GET /v1/reports/outcomes -------------------------------------------------------------


class NotFollowed(BaseModel):
    """Calls whose recommended lead their first dispatch did not send, as the field that
    holds it says."""

    total: int = Field(description="How many")
    by_override_code: dict[str, int] = Field(
        description="Those calls by their first dispatch's override code, every code listed;"
        " a dispatch recorded without a code counts as other"
    )


class Minutes(BaseModel):
    """Percentiles of a time in minutes, by linear interpolation, to one decimal; null with
    nothing to measure."""

    p50: float | None = Field(description="The median")
    p90: float | None = Field(description="The 90th percentile")


class OutcomeGroup(BaseModel):
    """The figures of the calls received in the range that fall in one group."""

    key: str | None = Field(
        description="The group: a district's code, a local month (YYYY-MM) or a lead, as"
        " group_by says; null for none"
    )
    calls: int = Field(description="Calls received in the range")
    cleared: int = Field(description="Those cleared")
    lead_recommended: dict[str, int] = Field(
        description="Calls by the lead of the recommendation their first dispatch was made"
        " on (for a call never dispatched, its latest recommendation's), both leads listed"
    )
    lead_dispatched: dict[str, int] = Field(
        description="Calls by the kind of the unit their first dispatch sent as lead;"
        " no_lead_sent when it sent none, not_dispatched when there was no dispatch. They"
        " add up to calls"
    )
    mh_lead_not_followed: Annotated[
        NotFollowed,
        Field(
            description="Calls whose lead recommended was mental_health and whose first"
            " dispatch sent police instead: an officer as lead, or no unit as lead and no"
            " co-responder (officers as backup only)"
        ),
    ]
    cit_lead_not_followed: Annotated[
        NotFollowed,
        Field(
            description="Calls whose recommendation named a CIT officer to lead (a"
            " law-enforcement lead) and whose first dispatch sent no CIT officer to lead: a"
            " co-responder, no unit as lead, or an officer neither certified when assigned"
            " nor named as certified by that recommendation"
        ),
    ]
    capacity_warnings: dict[str, int] = Field(
        description="Calls whose lead-recommended recommendation carried each warning of"
        " capacity the program lacks, every such code listed; the warnings about the data"
        " sent (location_outside_district, unknown_nature, eta_unknown, caution_not_read)"
        " and no_unit_on_call, news of the call, are not counted"
    )
    with_cit_officer: int = Field(
        description="Calls that had an officer assigned who held a CIT certification valid on"
        " the local date of the assignment, as the certifications read now (corrections"
        " included)"
    )
    with_co_responder: int = Field(description="Calls that had a co-responder assigned")
    outcomes: dict[str, int] = Field(
        description="Cleared calls by outcome, every code listed, and unrecorded for those"
        " cleared without one; they add up to cleared"
    )
    diverted_to_mh_services: int = Field(
        description="Calls diverted to crisis_center, mh_outpatient, hospital or detox, or"
        " with outcome referred"
    )
    justice_involved: int = Field(
        description="Calls with outcome arrest or citation, or diverted to jail; a call may"
        " count here and in diverted_to_mh_services"
    )
    use_of_force: int = Field(description="Calls cleared with use_of_force set")
    subject_injured: int = Field(description="Calls cleared with subject_injured set")
    officer_injured: int = Field(description="Calls cleared with officer_injured set")
    minutes_to_dispatch: Minutes = Field(
        description="From a call's received_at to its first dispatch"
    )
    minutes_to_on_scene: Minutes = Field(
        description="From a call's first dispatch to its first unit on scene"
    )


class OutcomeReport(_Aliased):
    """What was recommended and sent for the calls received in [from, to), why the two
    differed, and how the calls ended, group by group."""

    from_: datetime = Field(alias="from", description="The start of the range (inclusive)")
    to: datetime = Field(description="The end of the range (exclusive)")
    group_by: OutcomesGroupBy = Field(
        description="How the calls are grouped: none, district, month (local) or lead (the"
        " lead recommended)"
    )
    groups: list[OutcomeGroup] = Field(
        description="A group for every key of the grouping, zeros included: every district"
        " (or the one asked for), every month the range reaches, both leads"
    )
