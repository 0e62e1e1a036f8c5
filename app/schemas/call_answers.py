"""A call as the API answers with it: its recommendation (units, warnings, reasons), the
call itself, its assignments and dispatches, and the 409 of a CAD id taken. What a client
sends (a new call, new information) is in app/schemas/calls.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from app.schemas.calls import CallLocation, Safety
from app.vocabulary import (
    CallStatus,
    DivertedTo,
    Lead,
    OffCallStatus,
    Outcome,
    OverrideCode,
    Request,
    ResponderType,
    UnitRole,
    WarningCode,
)


class RecommendedUnitOut(BaseModel):
    """A unit the recommendation would send, and the part it would play."""

    responder_type: ResponderType
    responder_id: UUID
    name: str
    call_sign: str
    role: UnitRole = Field(
        description="`lead`: a co-responder (mental-health lead) or an officer"
        " (law-enforcement lead); `backup`: the officer behind a mental-health lead;"
        " `support`: the co-responder beside a law-enforcement lead; `stabilize`: an officer"
        " serving the district who holds the scene until a CIT officer from further away"
        " arrives"
    )
    district: str = Field(description="The home district of the unit's shift")
    cit_certified: bool = Field(
        description="Whether the officer holds a CIT certification valid on the agency's"
        " local date; false for a co-responder"
    )
    eta_minutes: float | None = Field(
        description="Minutes to the call at the policy's `speed_kmh`, to one decimal; null"
        " when the unit's or the call's position is unknown; 0 for a unit on the call that"
        " reported `on_scene`, wherever it last reported from"
    )
    distance_km: float | None = Field(
        description="Straight-line (haversine) distance to the call in kilometres, to one"
        " decimal; null when unknown; 0 for a unit on the call that reported `on_scene`"
    )


class WarningOut(BaseModel):
    """Something missing or uncertain the dispatcher should know, such as no CIT officer
    in the district or no co-responder available."""

    code: WarningCode
    message: str = Field(description="The warning in words, for a person")


class ReasonOut(BaseModel):
    """A routing rule that shaped the recommendation, and what it did."""

    rule: str = Field(
        description="The rule's id, such as `safety_flagged`, `le_lead`, `mh_lead`,"
        " `cit_scene_lead` or `rank`"
    )
    message: str = Field(description="What the rule did, in words, for a person")


class RecommendationOut(BaseModel):
    """Who the service recommends sending to a call, and why: the lead, the units with their
    roles, what else to request, warnings, and the rules that applied. One is made for
    every new call and at every re-triage, and all are kept."""

    id: UUID
    call_id: UUID
    created_at: datetime
    policy_version: int = Field(
        description="The version of the routing policy it was made with"
        " (`GET /v1/policy/versions/{version}`)"
    )
    lead: Lead = Field(
        description="`mental_health`: a co-responder leads; `law_enforcement`: an officer"
        " leads, a CIT officer whenever one is in reach"
    )
    safety_concern: bool = Field(
        description="Whether a safety concern was found: a flag of the policy's"
        " `safety_flags` set, or implied by the call's nature through `nature_flags`"
    )
    units: list[RecommendedUnitOut] = Field(
        description="At most one unit per role and exactly one `lead` when not empty, listed"
        " by role (`lead`, `backup`, `support`, `stabilize`); empty, with a warning, when no"
        " unit is available"
    )
    requests: list[Request] = Field(
        description="What to ask for besides units: `ems` (a medical emergency),"
        " `mh_phone_consult` (a mental-health consultation by phone, for want of a"
        " co-responder), `cit_when_available` (a CIT officer once one is free)"
    )
    warnings: list[WarningOut]
    reasons: list[ReasonOut] = Field(description="The rules that applied, in the order they did")


class CallOut(BaseModel):
    """A crisis call as the service holds it, with its latest recommendation. Never its
    notes, which only `GET /v1/calls/{id}` returns."""

    id: UUID
    external_id: str | None = Field(description="The CAD's id of the incident; null when none")
    status: CallStatus = Field(
        description="`pending` until the first dispatch, then `dispatched`; `cleared` once"
        " cleared, a pending call too"
    )
    district: str
    location: CallLocation | None
    nature: str | None
    safety: Safety
    subject: dict[str, Any] = Field(description="The person the call is about: `age`, if known")
    received_at: datetime
    created_at: datetime
    updated_at: datetime = Field(
        description="Moves whenever the call changes: new information, a dispatch or clear, a"
        " renewed recommendation, a unit first on scene or released by its own status report,"
        " a correction of its outcome"
    )
    dispatched_at: datetime | None = Field(
        description="When the call was first dispatched; null before"
    )
    cleared_at: datetime | None = Field(description="When the call was cleared; null before")
    disposition: str | None = Field(
        description="Free text recorded when the call was cleared (as corrected since, if it"
        " was: PATCH /v1/calls/{id}/outcome); null before"
    )
    diverted_to: DivertedTo | None = Field(
        description="Where the person was diverted, as recorded when the call was cleared (or"
        " corrected since); null when not recorded"
    )
    outcome: Outcome | None = Field(
        description="How the call ended for the person, as recorded when it was cleared (or"
        " corrected since); null when not recorded (the reports count it as `unrecorded`)"
    )
    use_of_force: bool = Field(description="Recorded when the call was cleared (or corrected)")
    subject_injured: bool = Field(description="Recorded when the call was cleared (or corrected)")
    officer_injured: bool = Field(description="Recorded when the call was cleared (or corrected)")
    recommendation: RecommendationOut | None = Field(description="The latest recommendation")


class AssignmentOut(BaseModel):
    """A unit assigned to the call, its role, and when it came and left."""

    responder_type: ResponderType
    responder_id: UUID
    role: UnitRole
    assigned_at: datetime
    dispatch_id: UUID | None = Field(
        description="The dispatch that sent the unit (its `id` among the call's"
        " `dispatches`); null only for an assignment older than dispatch records"
    )
    released_at: datetime | None = Field(
        description="When the unit left the call; null while it is on it"
    )
    # Recorded since migration 0031; 0032 filled in the releases before it where it could.
    released_status: OffCallStatus | None = Field(
        description="The status the unit was released into when it left the call:"
        " `available` (it reported so, or the call was cleared) or `out_of_service` (it"
        " reported so). Null while the unit is on the call, and for a release made before"
        " the service recorded this status, where it could not be recovered."
    )
    on_scene_at: datetime | None = Field(
        description="When the unit first reported `on_scene` (or, skipping ahead,"
        " `transporting`) on this call; null before"
    )
    call_sign: str | None = Field(
        description="The call sign the unit was dispatched under: its shift's then, as its"
        " `unit.assigned` said. Null for a unit that had no shift at all, and for a unit"
        " dispatched before the service kept it whose shifts have since been deleted."
    )


class DispatchOut(BaseModel):
    """One dispatch: the lead recommended, the lead sent, and why they differ."""

    id: UUID = Field(description="The dispatch's id: the units it sent name it (`dispatch_id`)")
    at: datetime
    recommendation_id: UUID | None = Field(
        description="The recommendation in force when the dispatch was made"
    )
    recommended_lead: Lead | None = Field(description="That recommendation's lead")
    dispatched_lead: Lead | None = Field(
        description="The kind of the unit sent as `lead`: `mental_health` for a co-responder,"
        " `law_enforcement` for an officer; null when no unit was sent as lead"
    )
    override_code: OverrideCode | None = Field(
        description="Why the units sent differ from the recommendation, for the program's reports"
    )
    override_reason: str | None = Field(description="The dispatcher's words for the override")


class DispatchedCallOut(CallOut):
    """A call with every unit ever assigned to it and every dispatch, oldest first."""

    assignments: list[AssignmentOut]
    dispatches: list[DispatchOut]


class CallDetailOut(DispatchedCallOut):
    """One call in full, as `GET /v1/calls/{id}` gives it: with its notes."""

    notes: str | None = Field(
        description="The call's notes, sensitive: given only here; clearing notes are"
        " appended to them"
    )


class CallExistsProblem(BaseModel):
    """The 409 for a POST /v1/calls whose external_id another call of the agency holds."""

    type: str
    title: str
    status: int
    detail: str
    call_id: UUID
