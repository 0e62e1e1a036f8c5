"""The payload of each event type: what a webhook's `data` holds. Never a call's notes."""

from __future__ import annotations

from typing_extensions import TypedDict  # pydantic documents it on Python 3.11

from app.vocabulary import (
    CallStatus,
    CoverageKind,
    DivertedTo,
    Lead,
    Outcome,
    ResponderType,
    UnitRole,
    UnitStatus,
    WarningCode,
)


class PlacePayload(TypedDict):
    """Where the call is: a point, a civic address, or both."""

    lat: float | None  # None, with lon, when only the civic address is known
    lon: float | None
    address: str | None


class PointPayload(TypedDict):
    """A position: latitude and longitude in degrees."""

    lat: float
    lon: float


class CallSummary(TypedDict):
    """What every event about a call says of it: enough for a unit in a car to act on."""

    call_id: str
    external_id: str | None
    status: CallStatus
    district: str
    location: PlacePayload | None
    nature: str | None
    safety: dict[str, bool]
    # The lead of the call's latest recommendation.
    lead: Lead | None


class ReasonPayload(TypedDict):
    """A routing rule that shaped the recommendation, and what it did."""

    rule: str
    message: str


class CallEscalated(CallSummary):
    """The lead changed on a dispatched call: the call, the lead before, and why it
    leads now."""

    previous_lead: Lead
    recommendation_id: str
    # Why it leads now: the new recommendation's safety concern and its reasons (rule ids
    # and messages, as GET /v1/calls/{id} gives them), so a crew told by its terminal alone
    # learns what changed (new danger, or the unit leading gone) without a second read.
    safety_concern: bool
    reasons: list[ReasonPayload]


class CallCleared(CallSummary):
    """A call was cleared: the call and what was recorded of its outcome."""

    disposition: str | None
    diverted_to: DivertedTo | None
    outcome: Outcome | None
    use_of_force: bool
    subject_injured: bool
    officer_injured: bool


class UnitAssigned(CallSummary):
    """A unit was sent to a call, or given another part on it: what its crew needs to act.
    `lead` is what leads the call as sent."""

    # lead here is what leads the call as sent: the kind of the unit leading it (an override
    # may differ from the recommendation), else the recommendation's lead.
    responder_type: ResponderType
    responder_id: str
    # The call sign of the unit's shift (null only for a unit with no shift at all).
    call_sign: str | None
    role: UnitRole
    # Null for a unit newly assigned; for a unit already on the call that this dispatch
    # gave another part (a CIT officer taking the lead after an escalation), its role before.
    previous_role: UnitRole | None
    # Whether the latest recommendation found a safety concern: from the flags, or from
    # the nature by the policy (a WEAPON call with every flag false), which `safety` alone
    # does not tell a crew reading its terminal.
    safety_concern: bool


class RecommendedUnitRef(TypedDict):
    """A unit the recommendation would send, and its part."""

    responder_type: ResponderType
    responder_id: str
    call_sign: str
    role: UnitRole


class RecommendationCreated(TypedDict):
    """A call has a new recommendation."""

    call_id: str
    recommendation_id: str
    lead: Lead
    safety_concern: bool
    units: list[RecommendedUnitRef]
    warnings: list[WarningCode]


class UnitReleased(TypedDict):
    """A unit left a call: the call was cleared, or a status report (the unit's, its
    dispatcher's or the CAD's) made it available or out of service."""

    call_id: str
    responder_type: ResponderType
    responder_id: str
    # The call sign it was dispatched under (its assignment's): null as in unit.assigned,
    # and for an assignment made before the service kept it whose shifts are gone.
    call_sign: str | None
    role: UnitRole
    # The status the unit was released into.
    status: UnitStatus


class UnitStatusChanged(TypedDict):
    """A unit's status report changed its status, or the CAD's incident it is busy on."""

    responder_type: ResponderType
    responder_id: str
    # Its call sign now, as the units board names it (its shift's now, else its latest;
    # null only for a unit with no shift at all): a console names the unit without a look-up.
    call_sign: str | None
    status: UnitStatus
    previous_status: UnitStatus
    call_id: str | None
    location: PointPayload | None
    # The CAD's incident while the unit is busy on one cit-dispatch does not handle.
    external_incident: str | None


# A coverage gap ahead (docs/reports.md, "Alerts"): its fields are those of a gap in
# GET /v1/coverage, with the district; "to" and "hours" are null for a gap that no shift
# on the roster ends yet. "from" is a keyword, hence the functional form.
CoverageGapAhead = TypedDict(
    "CoverageGapAhead",
    {
        "district": str,
        "kind": CoverageKind,
        "from": str,
        "to": str | None,
        "hours": float | None,
        "adjacent_cover": bool,
        "target": int,
        "under_way": bool,
    },
)


# A gap told by coverage.gap_ahead that the roster no longer has: "from" and "to" as told
# ("to" null for one told with no end); "part_of", the start of the gap told now that
# holds what is left of it (its start moved, or it became part of another), null when
# the roster covers it.
CoverageGapClosed = TypedDict(
    "CoverageGapClosed",
    {"district": str, "kind": CoverageKind, "from": str, "to": str | None, "part_of": str | None},
)


class CertificationExpiring(TypedDict):
    """An active officer's CIT certification lapses in 60, 30 or 7 days: it ends, and no
    certification recorded continues it (a later one after a gap does not). Sent once per
    threshold reached, not for each one passed."""

    officer_id: str
    name: str
    badge_number: str
    state_officer_id: str
    # The first day the officer is no longer CIT-certified (local date, ISO 8601).
    expires_on: str
    days_left: int
    # The alert's threshold: 60, 30 or 7 days.
    threshold_days: int
    districts: list[str]


Payload = (
    CallSummary
    | CallEscalated
    | CallCleared
    | UnitAssigned
    | RecommendationCreated
    | UnitReleased
    | UnitStatusChanged
    | CoverageGapAhead
    | CoverageGapClosed
    | CertificationExpiring
)
