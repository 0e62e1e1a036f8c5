"""A call as a client sends it: a new call (POST /v1/calls), new information (PATCH), its
place, flags and subject, and the list filter of call statuses. What the API answers with
is in app/schemas/call_answers.py."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
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
    CLEARING_RECORD,
    CONTROLS,
    EXTERNAL_ID_MAX,
    NOTES_MAX,
    SAFETY_FLAGS,
    SEEN,
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
_CORRECTED = "; a supervisor corrects it after with PATCH /v1/calls/{id}/outcome"
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
        "cleared_at": _BY_CLEARING,
        **dict.fromkeys(CLEARING_RECORD, _BY_CLEARING + _CORRECTED),
        **dict.fromkeys(("id", "created_at", "updated_at"), BY_THE_SERVICE),
    }

    safety: SafetyPatch | None = None
    nature: Nature | None = None
    district: DistrictCode | None = None
    location: CallLocation | None = None
    notes: Notes | None = None
    subject: Subject | None = None
