from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from app.schemas.call_answers import DispatchedCallOut, RecommendationOut
from app.schemas.common import NO_NUL, VISIBLE, PatchModel, StrictModel, sent_at_most
from app.vocabulary import (
    DISPOSITION_MAX,
    NOTES_MAX,
    RESPONDER_TYPES,
    ROLES_OF,
    DivertedTo,
    Outcome,
    OverrideCode,
    ResponderType,
    UnitRole,
)

__all__ = [
    "ClearRequest",
    "DispatchRequest",
    "DispatchedCallOut",
    "OutcomeCorrection",
    "RecommendationChangedProblem",
    "UnitChoice",
    "UnitRef",
    "UnitsUnavailableProblem",
]

Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=VISIBLE),
    sent_at_most(2000),
]


Disposition = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=DISPOSITION_MAX, pattern=VISIBLE
    ),
    sent_at_most(DISPOSITION_MAX),
]


def _parts_of_each_kind(schema: dict[str, Any]) -> None:
    """In the schema only (dispatch_request.chosen words the 422, naming the parts a kind
    plays): the role a unit of each kind may be sent in, so that a client, or a generator
    of valid requests, knows a co-responder is never sent to stabilise. As `if`/`then`,
    which a client generator passes over: a `oneOf` beside `properties` makes some of them
    drop the properties (a generated type without `responder_id`)."""
    schema["allOf"] = [
        {
            "if": {
                "properties": {"responder_type": {"const": kind}},
                "required": ["responder_type"],
            },
            "then": {"properties": {"role": {"enum": list(ROLES_OF[kind])}}},
        }
        for kind in RESPONDER_TYPES
    ]


class UnitChoice(StrictModel):
    """A unit to send and the part it plays: an officer as `lead`, `backup` or `stabilize`, a
    co-responder as `lead` or `support`."""

    model_config = ConfigDict(json_schema_extra=_parts_of_each_kind)

    responder_type: ResponderType
    responder_id: UUID
    role: UnitRole


class DispatchRequest(StrictModel):
    """Send units to a call: the latest recommendation's, or those given. Units that differ
    from the recommendation are an override, which needs a code other than `other`, a
    reason, or both."""

    units: Annotated[
        Annotated[list[UnitChoice], Field(min_length=1, max_length=20)] | None,
        Field(
            description="The units to send; left out, the latest recommendation's units with"
            " their roles, but beside a lead already on the call as the operation says (a"
            " CIT officer taking charge from an officer leading who is not CIT)",
        ),
    ] = None
    # Why the units differ from the recommendation: a code for the reports, words for people.
    override_code: Annotated[
        OverrideCode | None,
        Field(
            description="Why the units differ from the recommendation, for the program's"
            " reports; an override with only a reason is coded `other`"
        ),
    ] = None
    override_reason: Annotated[
        Reason | None,
        Field(description="Why, in words; kept with the dispatch and in the audit trail"),
    ] = None
    # The recommendation the dispatcher saw: when the call's latest is another (re-triaged
    # on another console, or by a unit's report), nothing is assigned (a 409 with it).
    recommendation_id: Annotated[
        UUID | None,
        Field(
            description="The recommendation the dispatcher saw. When the call's latest is"
            " another, nothing is assigned: a 409 giving the latest."
        ),
    ] = None


class ClearRequest(StrictModel):
    """Close a call: what came of it. Every unit still on the call is released as
    `available`."""

    disposition: Annotated[
        Disposition, Field(description="Free text: how the call was disposed of")
    ]
    diverted_to: Annotated[
        DivertedTo | None,
        Field(
            description="Where the person was diverted. `crisis_center`, `mh_outpatient`,"
            " `hospital` and `detox` count as diverted to mental-health services in the"
            " reports; `jail` as justice-involved."
        ),
    ] = None
    outcome: Annotated[
        Outcome | None,
        Field(
            description="How the call ended for the person. Optional: the reports count a"
            " call cleared without one as `unrecorded`."
        ),
    ] = None
    use_of_force: StrictBool = False
    subject_injured: StrictBool = False
    officer_injured: StrictBool = False
    notes: Annotated[
        Annotated[str, StringConstraints(max_length=NOTES_MAX, pattern=NO_NUL)] | None,
        Field(description="Appended to the call's notes, not substituted for them"),
    ] = None


class OutcomeCorrection(PatchModel):
    """Correct what was recorded when the call was cleared (a mistyped outcome, a flag
    left unset): each field given replaces the one recorded, each left out keeps it. The
    reason is kept in the audit trail, with what each field was and became."""

    NULLABLE = frozenset({"diverted_to", "outcome"})

    reason: Annotated[
        Reason,
        Field(description="Why the record is corrected, in words; kept in the audit trail"),
    ]
    disposition: Annotated[
        Disposition | None, Field(description="Free text, as `POST …/clear` takes it")
    ] = None
    diverted_to: Annotated[
        DivertedTo | None,
        Field(
            description="As `POST …/clear` takes it; null: not recorded, as a clear that left"
            " it out (`none` says the person was taken nowhere)"
        ),
    ] = None
    outcome: Annotated[
        Outcome | None,
        Field(description="As `POST …/clear` takes it; null: not recorded (`unrecorded`)"),
    ] = None
    use_of_force: Annotated[StrictBool | None, Field(description="As the clear takes it")] = None
    subject_injured: Annotated[StrictBool | None, Field(description="As the clear takes it")] = None
    officer_injured: Annotated[StrictBool | None, Field(description="As the clear takes it")] = None


class UnitRef(BaseModel):
    """A unit, by its kind and id."""

    responder_type: ResponderType
    responder_id: UUID


class RecommendationChangedProblem(BaseModel):
    """The 409 for a dispatch whose recommendation_id is no longer the call's latest
    recommendation: nothing was assigned; the latest one, as stored, is given."""

    type: str
    title: str
    status: int
    detail: str
    recommendation: RecommendationOut


class UnitsUnavailableProblem(BaseModel):
    """The 409 for a dispatch that could not assign its units: nothing was assigned and no
    status changed."""

    type: str
    title: str
    status: int
    detail: str = Field(
        description="Names each unit not sent by its call sign (its id without one) and says"
        " why it is not free; with no unit left to assign, says so"
    )
    unavailable_units: list[UnitRef] = Field(
        description="The units that could not be sent; empty when nothing was left to assign"
    )
    recommendation: RecommendationOut = Field(
        description="A fresh recommendation, kept in the call's history"
    )
