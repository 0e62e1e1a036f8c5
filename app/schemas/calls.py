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
    SAFETY_FLAGS,
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


class SafetyIn(NullIsDefaultModel, Safety):
    """What is known of danger at the scene, as a new call gives it: each flag true when
    reported, false when left out or null. A flag the routing policy lists in
    `safety_flags` (by default all but `medical_emergency`) makes law enforcement lead, with
    a CIT officer when one is in reach; `medical_emergency` requests EMS."""

    # A CAD that sends every field writes an unknown flag as null: it was a 422 ("Input
    # should be a valid boolean") that lost the call, where a flag left out is false.
    NULL_IS_DEFAULT = frozenset(SAFETY_FLAGS)


class SafetyPatch(StrictModel):
    """New safety information; flags left out (or null) keep their value, the others are
    set as sent."""

    weapon: StrictBool | None = None
    violence: StrictBool | None = None
    threat_to_others: StrictBool | None = None
    crime_in_progress: StrictBool | None = None
    medical_emergency: StrictBool | None = None


class Subject(StrictModel):
    """The person the call is about."""

    age: Annotated[
        Annotated[int, Field(ge=0, le=130), JSON_INTEGER] | None,
        Field(
            description="Age in years; under 18 favours co-responders with the `youth` specialty"
        ),
    ] = None


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
    """A crisis call as a CAD or a console takes it. Give `district`, `location`, or both;
    a field sent as null means the same as one left out."""

    NULL_IS_DEFAULT = frozenset({"safety", "subject"})

    external_id: Annotated[
        ExternalId | None,
        Field(
            description="The CAD's id of the incident, unique in the agency and taken as sent"
            " (spaces around it included). A second call with it is a 409 naming the call that"
            " has it; `GET /v1/calls?external_id=` finds the call by it."
        ),
    ] = None
    district: Annotated[
        DistrictCode | None,
        Field(
            description="The district's code, used as given. Left out, the call goes to the"
            " district whose boundary contains the location's point."
        ),
    ] = None
    location: CallLocation | None = None
    nature: Annotated[
        Nature | None,
        Field(
            description="An APCO incident type (`MNTL`, `MTLV`, `WEAPON`, ...) or free text,"
            " kept on one line. The routing policy maps codes to safety flags; a nature that is"
            " neither an APCO type nor a code of the policy gets the warning `unknown_nature`."
        ),
    ] = None
    safety: SafetyIn = SafetyIn()
    subject: Subject = Subject()
    notes: Annotated[
        Notes | None,
        Field(
            description="Free text, sensitive: encrypted at rest and returned only by"
            " `GET /v1/calls/{id}`; never in lists, other answers, events or logs."
        ),
    ] = None
    received_at: Annotated[
        Instant | None,
        Field(
            description="When the call was received; left out, the time of intake. More than"
            " 5 minutes ahead of the service's clock is a 422; less is taken as the time of"
            " intake."
        ),
    ] = None

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
        " renewed recommendation, a unit first on scene or released by its own status report"
    )
    dispatched_at: datetime | None = Field(
        description="When the call was first dispatched; null before"
    )
    cleared_at: datetime | None = Field(description="When the call was cleared; null before")
    disposition: str | None = Field(
        description="Free text recorded when the call was cleared; null before"
    )
    diverted_to: DivertedTo | None = Field(
        description="Where the person was diverted, as recorded when the call was cleared"
    )
    outcome: Outcome | None = Field(
        description="How the call ended for the person, as recorded when it was cleared; null"
        " when not recorded (the reports count it as `unrecorded`)"
    )
    use_of_force: bool = Field(description="Recorded when the call was cleared")
    subject_injured: bool = Field(description="Recorded when the call was cleared")
    officer_injured: bool = Field(description="Recorded when the call was cleared")
    recommendation: RecommendationOut | None = Field(description="The latest recommendation")


class AssignmentOut(BaseModel):
    """A unit assigned to the call, its role, and when it came and left."""

    responder_type: ResponderType
    responder_id: UUID
    role: UnitRole
    assigned_at: datetime
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
