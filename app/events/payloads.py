"""The payload of each event type: what a webhook's `data` holds. Never a call's notes."""

from __future__ import annotations

from typing import TypedDict

from app.vocabulary import (
    CallStatus,
    DivertedTo,
    Lead,
    ResponderType,
    UnitRole,
    UnitStatus,
    WarningCode,
)


class PlacePayload(TypedDict):
    lat: float
    lon: float
    address: str | None


class PointPayload(TypedDict):
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


class CallEscalated(CallSummary):
    previous_lead: Lead
    recommendation_id: str


class CallCleared(CallSummary):
    disposition: str | None
    diverted_to: DivertedTo | None


class UnitAssigned(CallSummary):
    responder_type: ResponderType
    responder_id: str
    role: UnitRole


class RecommendedUnitRef(TypedDict):
    responder_type: ResponderType
    responder_id: str
    call_sign: str
    role: UnitRole


class RecommendationCreated(TypedDict):
    call_id: str
    recommendation_id: str
    lead: Lead
    safety_concern: bool
    units: list[RecommendedUnitRef]
    warnings: list[WarningCode]


class UnitReleased(TypedDict):
    call_id: str
    responder_type: ResponderType
    responder_id: str
    role: UnitRole
    # The status the unit was released into.
    status: UnitStatus


class UnitStatusChanged(TypedDict):
    responder_type: ResponderType
    responder_id: str
    status: UnitStatus
    previous_status: UnitStatus
    call_id: str | None
    location: PointPayload | None


Payload = (
    CallSummary
    | CallEscalated
    | CallCleared
    | UnitAssigned
    | RecommendationCreated
    | UnitReleased
    | UnitStatusChanged
)
