"""A stored recommendation: the routing core's answer, in the JSON shape it is kept in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict
from uuid import UUID

from app.routing.types import Recommendation
from app.vocabulary import Lead, Request, ResponderType, UnitRole, WarningCode


class RecommendedUnitJson(TypedDict):
    responder_type: ResponderType
    responder_id: str
    name: str
    call_sign: str
    role: UnitRole
    district: str
    cit_certified: bool
    eta_minutes: float | None
    distance_km: float | None


class WarningJson(TypedDict):
    code: WarningCode
    message: str


class ReasonJson(TypedDict):
    rule: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecommendationRecord:
    id: UUID
    agency_id: UUID
    call_id: UUID
    created_at: datetime
    policy_version: int
    lead: Lead
    safety_concern: bool
    units: list[RecommendedUnitJson]
    requests: list[Request]
    warnings: list[WarningJson]
    reasons: list[ReasonJson]


def recommendation_record(
    result: Recommendation, *, id: UUID, agency_id: UUID, call_id: UUID, created_at: datetime
) -> RecommendationRecord:
    """The routing result as it is stored and shown (no dataclasses.asdict: it deep-copies)."""
    return RecommendationRecord(
        id=id,
        agency_id=agency_id,
        call_id=call_id,
        created_at=created_at,
        policy_version=result.policy_version,
        lead=result.lead,
        safety_concern=result.safety_concern,
        units=[
            RecommendedUnitJson(
                responder_type=u.responder_type,
                responder_id=str(u.responder_id),
                name=u.name,
                call_sign=u.call_sign,
                role=u.role,
                district=u.district,
                cit_certified=u.cit_certified,
                eta_minutes=u.eta_minutes,
                distance_km=u.distance_km,
            )
            for u in result.units
        ],
        requests=list(result.requests),
        warnings=[WarningJson(code=w.code, message=w.message) for w in result.warnings],
        reasons=[ReasonJson(rule=r.rule, message=r.message) for r in result.reasons],
    )


@dataclass(frozen=True, slots=True)
class Decided:
    """What a recommendation a dispatch decided on said, and what its call's said since
    (app/repositories/dispatch_reads.py reads it; app/services/dispatch_roles.py, pure,
    decides by it)."""

    # It found a safety concern.
    safety_concern: bool
    # One made for the call after it recommended another lead: the facts changed since,
    # though they may have changed back.
    lead_changed_since: bool
