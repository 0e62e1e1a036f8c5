"""The payload of each event type: what a webhook's `data` holds. Never a call's notes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict  # pydantic documents it on Python 3.11

from app.vocabulary import (
    CallChange,
    CallStatus,
    CoverageKind,
    DivertedTo,
    Lead,
    OffCallStatus,
    Outcome,
    ReleaseReason,
    ResponderType,
    UnitRole,
    UnitStatus,
    WarningCode,
)

# The fields every payload about a unit has, said once.
UnitKind = Annotated[ResponderType, Field(description="officer or co_responder")]
UnitId = Annotated[str, Field(description="The unit's id")]
Part = Annotated[UnitRole, Field(description="Its part on the call")]
# The CAD's own number for the call, beside its id in every event about one, so that a CAD
# keeps no table of its own from our ids to its numbers (SPEC §6).
CadCallId = Annotated[
    str | None, Field(description="The CAD's id of the incident; null when it has none")
]


class PlacePayload(TypedDict):
    """Where the call is: a point, a civic address, or both."""

    lat: Annotated[
        float | None,
        Field(description="Latitude in degrees; null, with lon, when only the address is known"),
    ]
    lon: Annotated[float | None, Field(description="Longitude in degrees; null with lat")]
    address: Annotated[str | None, Field(description="The civic address; null when not given")]


class PointPayload(TypedDict):
    """A position: latitude and longitude in degrees."""

    lat: Annotated[float, Field(description="Latitude in degrees")]
    lon: Annotated[float, Field(description="Longitude in degrees")]


class CallSummary(TypedDict):
    """What every event about a call says of it: enough for a unit in a car to act on."""

    call_id: Annotated[str, Field(description="The call's id")]
    external_id: CadCallId
    status: Annotated[CallStatus, Field(description="pending, dispatched or cleared")]
    district: Annotated[str, Field(description="The code of the call's district")]
    location: Annotated[
        PlacePayload | None, Field(description="Where the call is; null when not known")
    ]
    nature: Annotated[
        str | None,
        Field(description="The call's nature (an APCO incident type or free text); null if none"),
    ]
    safety: Annotated[dict[str, bool], Field(description="The call's five safety flags")]
    # The lead of the call's latest recommendation: in unit.assigned, what leads the call
    # as sent; in a call.escalated of a dispatcher's override, the kind it sent to lead.
    lead: Annotated[
        Lead | None,
        Field(
            description="The lead of the call's latest recommendation (in call.escalated after"
            " a re-triage, the new one's, which the unit leading the call may not be of yet)."
            " In unit.assigned, what leads the call as sent: the kind of the unit sent to lead"
            " it (a dispatcher's override may make it other than the recommendation's), else"
            " the recommendation's lead; in a call.escalated of such an override (reason"
            " dispatch_override), the kind of unit it sent to lead"
        ),
    ]


class ReasonPayload(TypedDict):
    """A routing rule that shaped the recommendation, and what it did."""

    rule: Annotated[str, Field(description="The rule's id")]
    message: Annotated[str, Field(description="What it did, in words")]


class CallUpdated(CallSummary):
    """The call changed: the call as it is now, and what changed."""

    changed: Annotated[
        list[CallChange] | None,
        Field(
            description="What changed, in this order: nature, safety, location, district,"
            " subject, notes (the notes' text is never sent), as new information changed"
            " them; or lead_left: the unit leading the call left it while others stay"
            " (`lead` is then the new recommendation's); or units: units were sent to join"
            " the units on the call (reinforcements), a dispatch changed their parts, or a"
            " unit not leading it left it while others stay (GET /v1/units/me lists who is"
            " on it now). More values may come: a receiver ignores those it does not know."
            " Null in an event written by a release before this member"
        ),
    ]


class CallEscalated(CallSummary):
    """The lead changed on a dispatched call: the call, the lead before, and why it
    leads now."""

    previous_lead: Annotated[Lead, Field(description="What led the call before")]
    recommendation_id: Annotated[str, Field(description="The call's latest recommendation")]
    # Why it leads now: the new recommendation's safety concern and its reasons (rule ids
    # and messages, as GET /v1/calls/{id} gives them), so a crew told by its terminal alone
    # learns what changed (new danger, or the unit leading gone) without a second read.
    safety_concern: Annotated[
        bool, Field(description="Whether that recommendation found a safety concern")
    ]
    reasons: Annotated[
        list[ReasonPayload],
        Field(
            description="Why the lead changed: the recommendation's reasons, or, when a"
            " dispatcher sent the other kind of unit to lead, the one reason dispatch_override"
            " saying so"
        ),
    ]


class CallCleared(CallSummary):
    """A call was cleared, or what its clear recorded was corrected since (sent again then):
    the call and the record of its outcome as it stands."""

    disposition: Annotated[
        str | None, Field(description="The disposition recorded at clearing, or as corrected")
    ]
    diverted_to: Annotated[
        DivertedTo | None, Field(description="Where the person was diverted to; null if not said")
    ]
    outcome: Annotated[
        Outcome | None, Field(description="How the call ended; null when cleared without one")
    ]
    use_of_force: Annotated[bool, Field(description="As recorded at clearing, or corrected")]
    subject_injured: Annotated[bool, Field(description="As recorded at clearing, or corrected")]
    officer_injured: Annotated[bool, Field(description="As recorded at clearing, or corrected")]


class UnitAssigned(CallSummary):
    """A unit was sent to a call, or given another part on it: what its crew needs to act.
    `lead` is what leads the call as sent."""

    # lead here is what leads the call as sent: the kind of the unit leading it (an override
    # may differ from the recommendation), else the recommendation's lead.
    responder_type: UnitKind
    responder_id: UnitId
    # The call sign of the unit's shift (null only for a unit with no shift at all).
    call_sign: Annotated[
        str | None,
        Field(description="The call sign of the unit's shift; null only for a unit with no shift"),
    ]
    role: Part
    # Null for a unit newly assigned; for a unit already on the call that this dispatch
    # gave another part (a CIT officer taking the lead after an escalation), its role before.
    previous_role: Annotated[
        UnitRole | None,
        Field(
            description="For a unit already on the call given another part, its part before;"
            " null for a unit newly sent"
        ),
    ]
    # Whether the latest recommendation found a safety concern: from the flags, or from
    # the nature by the policy (a WEAPON call with every flag false), which `safety` alone
    # does not tell a crew reading its terminal.
    safety_concern: Annotated[
        bool,
        Field(
            description="Whether the latest recommendation found a safety concern: from the"
            " flags, or from the nature by the policy (a WEAPON call with every flag false)"
        ),
    ]


class RecommendedUnitRef(TypedDict):
    """A unit the recommendation would send, and its part."""

    responder_type: UnitKind
    responder_id: UnitId
    call_sign: Annotated[str, Field(description="The unit's call sign")]
    role: Part


class RecommendationCreated(TypedDict):
    """A call has a new recommendation."""

    call_id: Annotated[str, Field(description="The call's id")]
    external_id: CadCallId
    recommendation_id: Annotated[str, Field(description="The new recommendation's id")]
    lead: Annotated[Lead, Field(description="What it says should lead the call")]
    safety_concern: Annotated[bool, Field(description="Whether it found a safety concern")]
    units: Annotated[
        list[RecommendedUnitRef], Field(description="The units it would send, with their parts")
    ]
    warnings: Annotated[list[WarningCode], Field(description="The codes of its warnings")]


class UnitReleased(TypedDict):
    """A unit left a call: the call was cleared, or a status report (the unit's, its
    dispatcher's or the CAD's) made it available or out of service."""

    call_id: Annotated[str, Field(description="The call the unit left")]
    external_id: CadCallId
    responder_type: UnitKind
    responder_id: UnitId
    # The call sign it was dispatched under (its assignment's): null as in unit.assigned,
    # and for an assignment made before the service kept it whose shifts are gone.
    call_sign: Annotated[
        str | None,
        Field(
            description="The call sign it was dispatched under; null for a unit with no shift,"
            " and for an early assignment whose call sign was not kept"
        ),
    ]
    role: Part
    status: Annotated[
        OffCallStatus,
        Field(description="The status it was released into: available or out_of_service"),
    ]
    # Null for an event an earlier release wrote (kept, or written while this one rolls
    # out: app/events/stored.py).
    reason: Annotated[
        ReleaseReason | None,
        Field(
            description="Why its part ended: call_cleared, the call was cleared (the work is"
            " over); status_report, a status report released it (the unit's own, its"
            " dispatcher's or the CAD's: available or out_of_service), while the call goes"
            " on. Null for an event written by a release before 2026-12-06"
        ),
    ]


class UnitStatusChanged(TypedDict):
    """A unit's status report changed its status, or the CAD's incident it is busy on."""

    responder_type: UnitKind
    responder_id: UnitId
    # Its call sign now, as the units board names it (its shift's now, else its latest;
    # null only for a unit with no shift at all): a console names the unit without a look-up.
    call_sign: Annotated[
        str | None,
        Field(
            description="Its call sign now, as the units board names it (its shift's now, else"
            " its latest); null only for a unit with no shift at all"
        ),
    ]
    status: Annotated[UnitStatus, Field(description="Its status now")]
    previous_status: Annotated[UnitStatus, Field(description="Its status before")]
    call_id: Annotated[
        str | None,
        Field(
            description="The cit-dispatch call the unit was on when it reported (one this report"
            " releases it from included); null when none"
        ),
    ]
    # The CAD's number for that call: not external_incident, which names a CAD incident
    # the unit is busy on outside cit-dispatch (the two are never both set).
    external_id: Annotated[
        str | None,
        Field(
            description="The CAD's id of the call in call_id; null when the unit was on none,"
            " or the call has none"
        ),
    ]
    location: Annotated[
        PointPayload | None,
        Field(description="Its last known position, reported now or before; null when none"),
    ]
    # The CAD's incident while the unit is busy on one cit-dispatch does not handle.
    external_incident: Annotated[
        str | None,
        Field(
            description="The CAD's incident the unit is busy on, one cit-dispatch does not"
            " handle; null otherwise"
        ),
    ]


# A coverage gap ahead (docs/reports.md, "Alerts"): its fields are those of a gap in
# GET /v1/coverage, with the district; "to" and "hours" are null for a gap that no shift
# on the roster ends yet. "from" is a keyword, hence the functional form.
CoverageGapAhead = TypedDict(
    "CoverageGapAhead",
    {
        "district": Annotated[str, Field(description="The district's code")],
        "kind": Annotated[CoverageKind, Field(description="cit or co_responder")],
        "from": Annotated[
            str, Field(description="When the gap begins; for one under way, when it began")
        ],
        "to": Annotated[
            str | None,
            Field(
                description="When it ends; null when the roster does not end it within 31 days"
                " past the policy's coverage_alert_days"
            ),
        ],
        "hours": Annotated[
            float | None,
            Field(
                description="Its length in hours, to two decimals, a half rounded up as"
                " GET /v1/coverage gives it; null with to"
            ),
        ],
        "adjacent_cover": Annotated[
            bool,
            Field(
                description="Whether a district adjacent to it has a unit of this kind on its"
                " roster for the whole gap, as in the coverage report"
            ),
        ],
        "target": Annotated[
            int, Field(description="How many units of this kind the policy's target asks for")
        ],
        "under_way": Annotated[
            bool,
            Field(
                description="Whether the gap had begun when this was sent: true for one first"
                " seen under way (never told ahead), and for one told ahead that is told again,"
                " once begun, for its moved end"
            ),
        ],
    },
)
CoverageGapAhead.__doc__ = (
    "A district lacks, or will lack, the CIT officers or co-responders the policy's target"
    " asks for on the roster: a gap as the coverage report has it, with its district."
)


# A gap told by coverage.gap_ahead that the roster no longer has: "from" and "to" as told
# ("to" null for one told with no end); "part_of", the start of the gap told now that
# holds what is left of it (its start moved, or it became part of another), null when
# the roster covers it.
CoverageGapClosed = TypedDict(
    "CoverageGapClosed",
    {
        "district": Annotated[str, Field(description="The district's code")],
        "kind": Annotated[CoverageKind, Field(description="cit or co_responder")],
        "from": Annotated[str, Field(description="The gap's start, as told")],
        "to": Annotated[
            str | None, Field(description="Its end as told; null for one told without an end")
        ],
        "part_of": Annotated[
            str | None,
            Field(
                description="The start of the gap, told by its own coverage.gap_ahead, that now"
                " holds what is left of this one; null when the roster covers it"
            ),
        ],
    },
)
CoverageGapClosed.__doc__ = (
    "A gap told by coverage.gap_ahead is no longer on the roster as told, before the end it"
    " was told with."
)


class CertificationExpiring(TypedDict):
    """An active officer's CIT certification lapses in 60, 30 or 7 days: it ends, and no
    certification recorded continues it (a later one after a gap does not). Sent once per
    threshold reached, not for each one passed."""

    officer_id: Annotated[str, Field(description="The officer's id")]
    name: Annotated[str, Field(description="The officer's name")]
    badge_number: Annotated[str, Field(description="The officer's badge number")]
    state_officer_id: Annotated[str, Field(description="The officer's statewide id")]
    # The first day the officer is no longer CIT-certified (local date, ISO 8601).
    expires_on: Annotated[
        str,
        Field(
            description="The first day the officer is no longer CIT-certified (a local date,"
            " YYYY-MM-DD)"
        ),
    ]
    days_left: Annotated[int, Field(description="expires_on minus today, in days")]
    threshold_days: Annotated[int, Field(description="The threshold reached: 60, 30 or 7 days")]
    districts: Annotated[
        list[str],
        Field(
            description="The districts the officer's shifts serve from now until 30 days"
            " after expires_on, as in the program report"
        ),
    ]


Payload = (
    CallSummary
    | CallUpdated
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
