"""Triage: place a call, run the routing rules on its candidates, record the result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.agency_context import AgencyContext
from app.errors import Invalid
from app.ids import new_id
from app.models import Call
from app.repositories import calls as repo
from app.repositories.candidates import load_candidates
from app.routing import is_minor, recommend
from app.routing.types import CallFacts, GeoPoint
from app.routing.types import Recommendation as RoutingResult
from app.schemas.calls import CallLocation, Safety
from app.security import Principal
from app.services.events import call_summary, event_row


def resolve_district(
    context: AgencyContext, code: str | None, location: CallLocation | None
) -> tuple[UUID, str]:
    """The call's district: the one given, else the one whose boundary holds the location."""
    if code is None:
        assert location is not None
        code = context.locate(location.lat, location.lon)
        if code is None:
            raise Invalid(
                "no district boundary contains the location; give a district",
                loc=("body", "location"),
            )
    info = context.districts_by_code.get(code)
    if info is None:
        raise Invalid(f"unknown district {code}", loc=("body", "district"))
    return info.id, code


def call_facts(
    district: str, location: CallLocation | None, nature: str | None, safety: Safety, age: Any
) -> CallFacts:
    return CallFacts(
        district=district,
        location=GeoPoint(location.lat, location.lon) if location else None,
        nature=nature,
        safety=frozenset(flag for flag, on in safety.model_dump().items() if on),
        subject_age=age if isinstance(age, int) else None,
    )


async def triage(
    conn: AsyncConnection,
    context: AgencyContext,
    *,
    district_id: UUID,
    facts: CallFacts,
    now: datetime,
) -> RoutingResult:
    """Load the reachable candidates and run the pure routing rules."""
    policy = context.policy
    reach_codes = context.reach(facts.district, policy.adjacency_depth)
    local_now = now.astimezone(context.timezone)
    candidates = await load_candidates(
        conn,
        agency_id=context.agency_id,
        district_id=district_id,
        district_code=facts.district,
        reach={context.districts_by_code[c].id: hop for c, hop in reach_codes.items()},
        codes_by_id={i: d.code for i, d in context.districts_by_id.items()},
        now=now,
        today=local_now.date(),
        location=facts.location,
        minor=is_minor(facts),
        longest_shift=context.longest_shift,
    )
    return recommend(facts, candidates, policy, local_now, adjacency=context.adjacency)


def recommendation_json(result: RoutingResult) -> dict[str, Any]:
    """The recommendation's lists as JSON-ready values (no dataclasses.asdict: it deep-copies)."""
    return {
        "units": [
            {
                "responder_type": u.responder_type,
                "responder_id": str(u.responder_id),
                "name": u.name,
                "call_sign": u.call_sign,
                "role": u.role,
                "district": u.district,
                "cit_certified": u.cit_certified,
                "eta_minutes": u.eta_minutes,
                "distance_km": u.distance_km,
            }
            for u in result.units
        ],
        "requests": list(result.requests),
        "warnings": [{"code": w.code, "message": w.message} for w in result.warnings],
        "reasons": [{"rule": r.rule, "message": r.message} for r in result.reasons],
    }


def record_params(
    who: Principal,
    *,
    call_id: UUID,
    result: RoutingResult,
    now: datetime,
    action: str,
    request_id: str | None,
    summary: dict[str, Any],
    call_event: str | None,
    escalated_from: str | None = None,
    outcome: str = "success",
) -> tuple[dict[str, Any], UUID]:
    """Parameters of the batched insert: recommendation, events and audit entry."""
    rec_id = new_id()
    body = recommendation_json(result)
    events = [] if call_event is None else [event_row(call_event, call_id=call_id, payload=summary)]
    events += [
        event_row(
            "recommendation.created",
            call_id=call_id,
            payload={
                "call_id": str(call_id),
                "recommendation_id": str(rec_id),
                "lead": result.lead,
                "safety_concern": result.safety_concern,
                "units": [
                    {k: u[k] for k in ("responder_type", "responder_id", "call_sign", "role")}
                    for u in body["units"]
                ],
                "warnings": [w["code"] for w in body["warnings"]],
            },
        ),
    ]
    if escalated_from is not None:
        events.append(
            event_row(
                "call.escalated",
                call_id=call_id,
                payload={
                    **summary,
                    "previous_lead": escalated_from,
                    "recommendation_id": str(rec_id),
                },
            )
        )
    params = {
        "rec_id": rec_id,
        "agency_id": who.agency_id,
        "call_id": call_id,
        "call_id_text": str(call_id),
        "now": now,
        "policy_version": result.policy_version,
        "lead": result.lead,
        "safety_concern": result.safety_concern,
        "events": events,
        "audit_id": new_id(),
        "key_id": who.key_id,
        "role": who.role,
        "action": action,
        "outcome": outcome,
        "request_id": request_id,
        **body,
    }
    return params, rec_id


async def store_retriage(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call: Call,
    *,
    request_id: str | None,
    action: str = "call.dispatch",
    now: datetime | None = None,
) -> None:
    """Re-triage the call as it stands and store the new recommendation in its history.

    A change of lead on a dispatched call also emits call.escalated. Only call.update
    announces the call itself as changed (call.updated).
    """
    now = now or datetime.now(UTC)
    code = context.district_code(call.district_id)
    location = (
        CallLocation(lat=call.lat, lon=call.lon, address=call.address)
        if call.lat is not None and call.lon is not None
        else None
    )
    safety = Safety(**call.safety)
    facts = call_facts(code, location, call.nature, safety, call.subject.get("age"))
    conn = await session.connection()
    result = await triage(conn, context, district_id=call.district_id, facts=facts, now=now)
    previous = (await repo.latest_recommendations(session, [call.id])).get(call.id)
    escalated_from = (
        previous.lead
        if call.status == "dispatched" and previous is not None and previous.lead != result.lead
        else None
    )
    params, _ = record_params(
        who,
        call_id=call.id,
        result=result,
        now=now,
        action=action,
        request_id=request_id,
        summary=call_summary(
            call.id,
            external_id=call.external_id,
            status=call.status,
            district=code,
            location=location.model_dump() if location else None,
            nature=call.nature,
            safety=safety.model_dump(),
            lead=result.lead,
        ),
        call_event="call.updated" if action == "call.update" else None,
        escalated_from=escalated_from,
        outcome="success" if action == "call.update" else "error",
    )
    await repo.insert_recommendation(session, params)
