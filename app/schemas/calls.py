from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    model_validator,
)

from app.schemas.common import (
    JSON_INTEGER,
    NO_NUL,
    DistrictCode,
    Instant,
    Latitude,
    Longitude,
    NatureText,
    NullIsDefaultModel,
    StrictModel,
    worded,
)
from app.schemas.read_only import BY_THE_SERVICE, TellsReadOnly
from app.vocabulary import (
    CALL_STATUSES,
    CONTROLS,
    EXTERNAL_ID_MAX,
    NOTES_MAX,
    SEEN,
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

Notes = Annotated[str, StringConstraints(max_length=NOTES_MAX, pattern=NO_NUL)]

_ONE_STATUS = "|".join(CALL_STATUSES)
# A list filter's value: one call status, or several comma-separated (`pending,dispatched`,
# a console's queue of open calls); the parameter may repeat too.
CallStatuses = Annotated[
    str,
    StringConstraints(
        pattern=worded(
            f"^({_ONE_STATUS})(,({_ONE_STATUS}))*$",
            f"one or more of {', '.join(CALL_STATUSES)}, separated by commas",
        )
    ),
]
# In the schema only (the location's own check words its 422): an address that is not blank.
_NOT_BLANK = worded(r"\S", "text that is not blank")


def _point_or_address_schema(schema: dict[str, Any]) -> None:
    """State in the schema what CallLocation checks: lat and lon together, and a point or
    an address that is not blank."""
    schema["dependentRequired"] = {"lat": ["lon"], "lon": ["lat"]}
    schema["if"] = {"properties": {"lat": {"type": "number"}}, "required": ["lat"]}
    schema["then"] = {"properties": {"lon": {"type": "number"}}}
    schema["else"] = {"properties": {"lon": {"type": "null"}}}
    schema["anyOf"] = [
        {"properties": {"lat": {"type": "number"}}, "required": ["lat"]},
        {
            "properties": {"address": {"type": "string", "pattern": _NOT_BLANK}},
            "required": ["address"],
        },
    ]


class CallLocation(StrictModel):
    """Where the call is: a point (lat and lon together), a civic address, or both. A CAD
    often has the address before the point; the address alone does not place the call in
    a district, and gives no unit an ETA."""

    model_config = ConfigDict(json_schema_extra=_point_or_address_schema)

    lat: Annotated[Latitude, Strict()] | None = None
    lon: Annotated[Longitude, Strict()] | None = None
    address: Annotated[str, StringConstraints(max_length=500, pattern=NO_NUL)] | None = None

    @model_validator(mode="after")
    def _point_or_address(self) -> CallLocation:
        given = {"lat", "lon"} & self.model_fields_set
        if len(given) == 1 or (self.lat is None) != (self.lon is None):
            raise ValueError("give lat and lon together")
        if self.lat is None and not (self.address or "").strip():
            raise ValueError("a location needs lat and lon, or an address")
        return self

    @property
    def point(self) -> tuple[float, float] | None:
        return None if self.lat is None or self.lon is None else (self.lat, self.lon)


class Safety(StrictModel):
    """What is known of danger at the scene: each flag true when reported, false when left
    out. A flag the routing policy lists in `safety_flags` (by default all but
    `medical_emergency`) makes law enforcement lead, with a CIT officer when one is in
    reach; `medical_emergency` requests EMS."""

    # The schema's description is this docstring, read by clients. One field per safety
    # flag of the vocabulary: tests/test_vocabulary.py keeps the two the same.

    weapon: StrictBool = False
    violence: StrictBool = False
    threat_to_others: StrictBool = False
    crime_in_progress: StrictBool = False
    medical_emergency: StrictBool = False


class SafetyPatch(StrictModel):
    """New safety information; flags left out keep their value."""

    weapon: StrictBool | None = None
    violence: StrictBool | None = None
    threat_to_others: StrictBool | None = None
    crime_in_progress: StrictBool | None = None
    medical_emergency: StrictBool | None = None


class Subject(StrictModel):
    age: Annotated[int, Field(ge=0, le=130), JSON_INTEGER] | None = None


Nature = NatureText


# The CAD's id of the incident, taken as sent (ids stored padded must still be found as
# sent), but one with nothing to see is refused: a CAD padding an empty field sent "   ",
# and its next such call was refused as the first one's incident. Nor may it hold a control
# character (a line break, a tab), as no other id or name may: `?external_id=` still finds
# one stored before.
_CAD_ID = worded(
    rf"^[^{CONTROLS}]*{SEEN}[^{CONTROLS}]*$",
    "one line of text with at least one visible character, and no control characters",
)
ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=EXTERNAL_ID_MAX, pattern=_CAD_ID)
]


class CallCreate(NullIsDefaultModel):
    NULL_IS_DEFAULT = frozenset({"safety", "subject"})

    external_id: ExternalId | None = None
    district: DistrictCode | None = None
    location: CallLocation | None = None
    nature: Nature | None = None
    safety: Safety = Safety()
    subject: Subject = Subject()
    notes: Notes | None = None
    received_at: Instant | None = None

    @model_validator(mode="after")
    def _where(self) -> CallCreate:
        if self.district is None and self.location is None:
            raise ValueError("give district, location, or both")
        return self


_BY_CLEARING = "Recorded when the call is cleared (POST /v1/calls/{id}/clear), not by a PATCH"
_BY_DISPATCHING = (
    "Changed by dispatching (POST /v1/calls/{id}/dispatch), clearing (POST"
    " /v1/calls/{id}/clear) and the units' status reports, not by a PATCH"
)


class CallPatch(TellsReadOnly):
    """New information about a call. Its other fields are set elsewhere: one sent is a 422
    saying where."""

    # The schema's description is this docstring, read by clients: how is said here
    # (TellsReadOnly), and test_patching_a_field_set_elsewhere_... sends every field.
    BODY = "a call's PATCH"
    READ_ONLY = {
        "external_id": "Set only when the call is created (POST /v1/calls, or an EIDO's $id"
        " by POST /v1/eido): a PATCH cannot change it",
        "received_at": "Set only when the call is created (POST /v1/calls, or POST"
        " /v1/eido): a PATCH cannot change it",
        "status": "Changed by dispatching (POST /v1/calls/{id}/dispatch) and clearing"
        " (POST /v1/calls/{id}/clear), not by a PATCH",
        "dispatched_at": "Set by the call's first dispatch (POST /v1/calls/{id}/dispatch),"
        " not by a PATCH",
        "recommendation": "The service's: every PATCH re-triages the call and makes a new"
        " one (an empty PATCH too)",
        "assignments": _BY_DISPATCHING,
        "dispatches": "Added by each dispatch (POST /v1/calls/{id}/dispatch), not by a PATCH",
        **dict.fromkeys(
            (
                "cleared_at",
                "disposition",
                "diverted_to",
                "outcome",
                "use_of_force",
                "subject_injured",
                "officer_injured",
            ),
            _BY_CLEARING,
        ),
        **dict.fromkeys(("id", "created_at", "updated_at"), BY_THE_SERVICE),
    }

    safety: SafetyPatch | None = None
    nature: Nature | None = None
    district: DistrictCode | None = None
    location: CallLocation | None = None
    notes: Notes | None = None
    subject: Subject | None = None


class RecommendedUnitOut(BaseModel):
    responder_type: ResponderType
    responder_id: UUID
    name: str
    call_sign: str
    role: UnitRole
    district: str
    cit_certified: bool
    eta_minutes: float | None
    distance_km: float | None


class WarningOut(BaseModel):
    code: WarningCode
    message: str


class ReasonOut(BaseModel):
    rule: str
    message: str


class RecommendationOut(BaseModel):
    id: UUID
    call_id: UUID
    created_at: datetime
    policy_version: int
    lead: Lead
    safety_concern: bool
    units: list[RecommendedUnitOut]
    requests: list[Request]
    warnings: list[WarningOut]
    reasons: list[ReasonOut]


class CallOut(BaseModel):
    id: UUID
    external_id: str | None
    status: CallStatus
    district: str
    location: CallLocation | None
    nature: str | None
    safety: Safety
    subject: dict[str, Any]
    received_at: datetime
    created_at: datetime
    updated_at: datetime
    dispatched_at: datetime | None
    cleared_at: datetime | None
    disposition: str | None
    diverted_to: DivertedTo | None
    outcome: Outcome | None
    use_of_force: bool
    subject_injured: bool
    officer_injured: bool
    recommendation: RecommendationOut | None


class AssignmentOut(BaseModel):
    responder_type: ResponderType
    responder_id: UUID
    role: UnitRole
    assigned_at: datetime
    released_at: datetime | None
    # Recorded since migration 0031; 0032 filled in the releases before it where it could.
    released_status: OffCallStatus | None = Field(
        description="The status the unit was released into when it left the call:"
        " `available` (it reported so, or the call was cleared) or `out_of_service` (it"
        " reported so). Null while the unit is on the call, and for a release made before"
        " the service recorded this status, where it could not be recovered."
    )
    # When the unit first reported on_scene (or transporting) on this call.
    on_scene_at: datetime | None
    call_sign: str | None = Field(
        description="The call sign the unit was dispatched under: its shift's then, as its"
        " `unit.assigned` said. Null for a unit that had no shift at all, and for a unit"
        " dispatched before the service kept it whose shifts have since been deleted."
    )


class DispatchOut(BaseModel):
    """One dispatch: the lead recommended, the lead sent, and why they differ."""

    at: datetime
    recommendation_id: UUID | None
    recommended_lead: Lead | None
    dispatched_lead: Lead | None
    override_code: OverrideCode | None
    override_reason: str | None


class DispatchedCallOut(CallOut):
    """A call with every unit ever assigned to it and every dispatch, oldest first."""

    assignments: list[AssignmentOut]
    dispatches: list[DispatchOut]


class CallDetailOut(DispatchedCallOut):
    notes: str | None


class CallExistsProblem(BaseModel):
    """The 409 for a POST /v1/calls whose external_id another call of the agency holds."""

    type: str
    title: str
    status: int
    detail: str
    call_id: UUID
