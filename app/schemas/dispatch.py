from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from app.schemas.calls import CallOut, RecommendationOut
from app.schemas.common import NO_NUL, StrictModel
from app.vocabulary import DivertedTo, ResponderType, UnitRole

Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=NO_NUL)
]


class UnitChoice(StrictModel):
    responder_type: ResponderType
    responder_id: UUID
    role: UnitRole


class DispatchRequest(StrictModel):
    units: Annotated[list[UnitChoice], Field(min_length=1, max_length=20)] | None = None
    override_reason: Reason | None = None


class ClearRequest(StrictModel):
    disposition: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL),
    ]
    diverted_to: DivertedTo | None = None
    notes: Annotated[str, StringConstraints(max_length=20_000, pattern=NO_NUL)] | None = None


class AssignmentOut(BaseModel):
    responder_type: ResponderType
    responder_id: UUID
    role: UnitRole
    assigned_at: datetime
    released_at: datetime | None


class DispatchedCallOut(CallOut):
    assignments: list[AssignmentOut]
    disposition: str | None = None
    diverted_to: DivertedTo | None = None


class UnitRef(BaseModel):
    responder_type: ResponderType
    responder_id: UUID


class UnitsUnavailableProblem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    unavailable_units: list[UnitRef]
    recommendation: RecommendationOut
