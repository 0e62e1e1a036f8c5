from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from app.schemas.calls import DispatchedCallOut, RecommendationOut
from app.schemas.common import NO_NUL, VISIBLE, StrictModel, sent_at_most
from app.vocabulary import (
    DISPOSITION_MAX,
    NOTES_MAX,
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


class UnitChoice(StrictModel):
    responder_type: ResponderType
    responder_id: UUID
    role: UnitRole


class DispatchRequest(StrictModel):
    units: Annotated[list[UnitChoice], Field(min_length=1, max_length=20)] | None = None
    # Why the units differ from the recommendation: a code for the reports, words for people.
    override_code: OverrideCode | None = None
    override_reason: Reason | None = None
    # The recommendation the dispatcher saw: when the call's latest is another (re-triaged
    # on another console, or by a unit's report), nothing is assigned (a 409 with it).
    recommendation_id: UUID | None = None


class ClearRequest(StrictModel):
    disposition: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=DISPOSITION_MAX, pattern=VISIBLE
        ),
        sent_at_most(DISPOSITION_MAX),
    ]
    diverted_to: DivertedTo | None = None
    outcome: Outcome | None = None
    use_of_force: StrictBool = False
    subject_injured: StrictBool = False
    officer_injured: StrictBool = False
    notes: Annotated[str, StringConstraints(max_length=NOTES_MAX, pattern=NO_NUL)] | None = None


class UnitRef(BaseModel):
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
    type: str
    title: str
    status: int
    detail: str
    unavailable_units: list[UnitRef]
    recommendation: RecommendationOut
