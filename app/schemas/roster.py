"""Officers, certifications, co-responders and their live status."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.schemas.common import (
    WORDS_CAP,
    Day,
    GeoLocation,
    IdText,
    Name,
    PatchModel,
    ShortText,
    StrictModel,
    worded,
)
from app.schemas.read_only import BY_THE_SERVICE, TellsReadOnly
from app.vocabulary import (
    OFF_CALL,
    CoResponderKind,
    ResponderType,
    Training,
    UnitStatus,
    person_id,
    specialty,
)

# The person's statewide id, matched whatever the case of its letters: kept and answered
# with its ASCII letters in upper case (app/vocabulary.py, person_id).
PersonId = Annotated[
    ShortText,
    AfterValidator(person_id),
    Field(
        description="The person's statewide id (e.g. a POST number). Letters match whatever"
        " their case: the service keeps and answers it with its ASCII letters in upper case."
    ),
]


def _as_it_looks(value: str) -> str:
    # An id in a compatibility form (full-width letters, U+FF21 on; a ligature) looks like another
    # and matches as another: a new officer's must be given as it looks (NFKC), so no
    # look-alike of an id on the roster is entered. Ids stored before are matched as they
    # are (PersonId), so the API takes them back.
    if unicodedata.normalize("NFKC", value) != value:
        raise PydanticCustomError(
            "person_id_form",
            "Should be given in its plain form (Unicode NFKC: full-width letters and digits"
            " as ASCII, no ligatures)",
        )
    return value


# A statewide id entered for a new officer: nothing invisible in it, and in its plain form.
NewPersonId = Annotated[
    IdText,
    AfterValidator(_as_it_looks),
    AfterValidator(person_id),
    Field(
        description="The person's statewide id (e.g. a POST number), in its plain form"
        " (NFKC) with nothing invisible in it. Letters match whatever their case: the service"
        " keeps and answers it with its ASCII letters in upper case."
    ),
]

# A language tag's case carries no meaning: it is kept in its canonical case (vocabulary).
Specialty = Annotated[
    str,
    StringConstraints(
        pattern=worded(
            r"^(youth|substance_use|developmental_disability|veterans"
            r"|language:([A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*|[Xx](-[A-Za-z0-9]{1,8})+))$",
            "youth, substance_use, developmental_disability, veterans, or language:<tag>"
            " (a BCP 47 tag), such as language:es",
        )
    ),
    AfterValidator(specialty),
    Field(
        description="A language is `language:` and its BCP 47 tag, whose case carries no"
        " meaning: it is kept and answered in the tag's canonical case (language:es-MX)."
    ),
]


class OfficerCreate(StrictModel):
    """A patrol officer joining the agency's roster. CIT certification is recorded apart
    (`POST /v1/certifications`): it belongs to the person."""

    state_officer_id: NewPersonId
    badge_number: IdText
    name: Name
    trainings: Annotated[
        Annotated[list[Training], Field(max_length=WORDS_CAP)],
        Field(
            description="Generalist training: `mh_awareness` (mental-health awareness),"
            " `de_escalation`. A trained officer is preferred to hold a scene for a CIT"
            " officer."
        ),
    ] = []
    active: StrictBool = True


def _reported_by(path: str) -> str:
    return f"Reported by PUT {path}/{{id}}/status, not by a PATCH"


class OfficerPatch(PatchModel, TellsReadOnly):
    """A change to an officer; fields left out keep their value. `active: false` records a
    separation from the agency."""

    BODY = "an officer's PATCH"
    READ_ONLY = {
        "state_officer_id": "The person's state-wide id, set when the officer is created"
        " (POST /v1/officers): a PATCH cannot change it",
        "separated_at": 'Set by a separation (PATCH {"active": false}), cleared by a'
        ' reactivation ({"active": true})',
        **dict.fromkeys(("status", "location"), _reported_by("/v1/officers")),
        "cit": "From the person's CIT certifications (POST /v1/certifications, PATCH"
        " /v1/certifications/{id}), not by a PATCH",
        "id": BY_THE_SERVICE,
    }

    badge_number: IdText | None = None
    name: Name | None = None
    trainings: Annotated[list[Training], Field(max_length=WORDS_CAP)] | None = None
    active: StrictBool | None = None


# Not only what the unit last reported: a dispatch and a clear set its status too.
_STATUS_NOW = (
    "The unit's status now: as last reported (`PUT …/status`), or as set since by a"
    " dispatch that sent it (`dispatched`) or the clear of its call (`available`)"
)


class CitStatus(BaseModel):
    """Whether the officer is CIT-certified today, from the person's certifications."""

    certified: bool = Field(
        description="Whether a CIT certification of the person is valid on the agency's local date"
    )
    certification_number: str | None = None
    expires_on: date | None = Field(
        None, description="The first day the officer is no longer certified by it"
    )


class OfficerOut(BaseModel):
    """An officer on the agency's roster, with their live status and CIT standing."""

    id: UUID
    state_officer_id: str
    badge_number: str
    name: str
    trainings: list[str]
    active: bool = Field(description="False once the officer has left the agency")
    separated_at: datetime | None = Field(
        description="When the officer left (set by `active: false`); null while active"
    )
    status: str = Field(description=_STATUS_NOW)
    location: GeoLocation | None = Field(description="The position last reported, if any")
    cit: CitStatus


class CertificationCreate(StrictModel):
    """A state CIT certification. It belongs to the person, not the agency: every agency
    employing the person sees it and routes by it."""

    state_officer_id: PersonId
    certification_number: IdText
    program: Name
    certified_on: Day = Field(description="The first day the certification is valid")
    expires_on: Day = Field(description="The first day it is no longer valid")
    volunteered: StrictBool = Field(
        description="Whether the officer volunteered for CIT (the volunteer-specialist model)"
    )

    @model_validator(mode="after")
    def _dates(self) -> CertificationCreate:
        if self.expires_on <= self.certified_on:
            raise ValueError("expires_on must be after certified_on")
        return self


class CertificationPatch(PatchModel, TellsReadOnly):
    """A correction to a certification, or its early end (expires_on). Whose it is and its
    number are not changed: that is another certification."""

    BODY = "a certification's PATCH"
    READ_ONLY = {
        **dict.fromkeys(
            ("state_officer_id", "certification_number"),
            "Whose certification it is and its number do not change: record the right one"
            ' (POST /v1/certifications) and void this one (PATCH {"expires_on": its'
            " certified_on})",
        ),
        **dict.fromkeys(("id", "created_at"), BY_THE_SERVICE),
    }

    certified_on: Day | None = None
    expires_on: Day | None = None
    program: Name | None = None
    volunteered: StrictBool | None = None


class CertificationOut(BaseModel):
    """A CIT certification of a person the agency employs or has employed, recorded by any
    agency. Valid from `certified_on` up to, not including, `expires_on`."""

    id: UUID
    state_officer_id: str
    certification_number: str
    program: str
    certified_on: date
    expires_on: date
    volunteered: bool
    created_at: datetime


class CoResponderCreate(StrictModel):
    """A mental-health co-responder joining the roster: a clinician, a peer specialist or a
    mobile crisis team."""

    name: Name
    kind: CoResponderKind
    provider: Annotated[Name, Field(description="The organisation that provides it")]
    specialties: Annotated[list[Specialty], Field(max_length=20)] = []
    active: StrictBool = True


class CoResponderPatch(PatchModel, TellsReadOnly):
    """A change to a co-responder; fields left out keep their value."""

    BODY = "a co-responder's PATCH"
    READ_ONLY = {
        **dict.fromkeys(("status", "location"), _reported_by("/v1/co-responders")),
        "id": BY_THE_SERVICE,
    }

    name: Name | None = None
    kind: CoResponderKind | None = None
    provider: Name | None = None
    specialties: Annotated[list[Specialty], Field(max_length=20)] | None = None
    active: StrictBool | None = None


class CoResponderOut(BaseModel):
    """A co-responder on the agency's roster, with its live status."""

    id: UUID
    name: str
    kind: str = Field(description="`clinician`, `peer_specialist` or `mobile_crisis_team`")
    provider: str
    specialties: list[str]
    active: bool
    status: str = Field(description=_STATUS_NOW)
    location: GeoLocation | None = Field(description="The position last reported, if any")


def _no_incident_when_free(schema: dict[str, Any]) -> None:
    """State in the schema what _busy_only checks: a status, a location or both;
    external_incident only with a busy status."""
    given = {"type": ["string", "object"]}  # (present and not null)
    schema["anyOf"] = [
        {"required": ["status"], "properties": {"status": given}},
        {"required": ["location"], "properties": {"location": given}},
    ]
    schema["allOf"] = [
        {
            "if": {"properties": {"status": {"enum": list(OFF_CALL)}}, "required": ["status"]},
            "then": {"properties": {"external_incident": {"type": "null"}}},
        },
        {
            "if": {
                "required": ["external_incident"],
                "properties": {"external_incident": {"type": "string"}},
            },
            "then": {"required": ["status"], "properties": {"status": {"type": "string"}}},
        },
    ]


class StatusUpdate(StrictModel):
    """A unit's status report, as its terminal or the CAD sends it. A busy status without a
    cit-dispatch call means the unit is busy on an incident of the CAD's own; `available` and
    `out_of_service` release it from its call."""

    model_config = ConfigDict(json_schema_extra=_no_incident_when_free)

    status: Annotated[
        UnitStatus | None,
        Field(
            description="The unit's status now. Left out, the report gives the unit's position"
            " alone (location), and changes nothing else: a terminal's position reports need"
            " not restate a status that may no longer be the unit's."
        ),
    ] = None
    location: GeoLocation | None = None
    call_id: Annotated[
        UUID | None,
        Field(
            description="The cit-dispatch call the report is about, as the terminal knows it."
            " If the unit is no longer on it (released, sent to another call, the call"
            " cleared), the report is refused (409 `not-on-that-call`, naming the unit's call"
            " now in `active_call_id`) and nothing changes: a report queued while the terminal"
            " was offline, or racing the dispatcher, cannot land on another call."
        ),
    ] = None
    # The CAD's incident a busy unit is on (SPEC §6.1), with a busy status only. Left out
    # while the unit moves on through the same incident, the one it has is kept.
    external_incident: Annotated[
        ShortText | None,
        Field(
            description="The CAD's incident the unit is busy on, one cit-dispatch does not"
            " handle; with a busy status only. Shown on the units board."
        ),
    ] = None

    @model_validator(mode="after")
    def _busy_only(self) -> StatusUpdate:
        if self.external_incident is not None and self.status is None:
            raise ValueError("external_incident comes with the busy status it is the incident of")
        if self.status is None and self.location is None:
            raise ValueError("a status report gives a status, a location, or both")
        if self.external_incident is not None and self.status in OFF_CALL:
            raise ValueError(f"external_incident names a busy unit's incident, not {self.status}")
        return self


class UnitStatusOut(BaseModel):
    """A unit's status as it stands after the report."""

    responder_type: ResponderType
    responder_id: UUID
    status: UnitStatus
    status_at: datetime = Field(
        description="When the unit took its status: a report repeating it leaves this as it"
        " was; a dispatch, and the clear of its call, set it as they set the status"
    )
    location: GeoLocation | None
    active_call_id: UUID | None = Field(
        description="The cit-dispatch call the unit is assigned to; null otherwise"
    )
    external_incident: str | None = Field(
        description="The CAD's incident the unit is busy on instead; null otherwise"
    )


class OfficerExistsProblem(BaseModel):
    """The 409 for an officer given a state_officer_id or badge_number an active officer of
    the agency has (created, changed or reactivated)."""

    type: str
    title: str
    status: int
    detail: str
    officer_id: UUID = Field(description="The active officer that has it")


class NotOnThatCallProblem(BaseModel):
    """The 409 for a status report about a call (`call_id`) its unit is no longer on."""

    type: str
    title: str
    status: int
    detail: str
    active_call_id: UUID | None = Field(
        description="The cit-dispatch call the unit is on now; null if none"
    )


class CertificationExistsProblem(BaseModel):
    """The 409 for a certification number the person already has on record."""

    type: str
    title: str
    status: int
    detail: str
    certification_id: UUID = Field(description="The certification that records it")
