"""Crisis calls: triage on intake, re-triage on new information, recommendation history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.agency_context import AgencyContext
from app.errors import Conflict, Invalid, NotFound
from app.ids import new_id
from app.models import AuditEntry, Call, Recommendation
from app.repositories import calls as repo
from app.repositories.candidates import load_candidates
from app.repositories.pagination import fetch_page
from app.routing import recommend
from app.routing.types import CallFacts, GeoPoint
from app.routing.types import Recommendation as RoutingResult
from app.schemas.calls import (
    CallCreate,
    CallDetailOut,
    CallLocation,
    CallOut,
    CallPatch,
    RecommendationOut,
    Safety,
)
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
        district_id=district_id,
        district_code=facts.district,
        reach={context.districts_by_code[c].id: hop for c, hop in reach_codes.items()},
        codes_by_id={i: d.code for i, d in context.districts_by_id.items()},
        now=now,
        today=local_now.date(),
        location=facts.location,
    )
    return recommend(facts, candidates, policy, local_now, adjacency=context.adjacency)


def _recommendation_json(result: RoutingResult) -> dict[str, Any]:
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


def _record_params(
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
    body = _recommendation_json(result)
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


async def create(
    conn: AsyncConnection,
    context: AgencyContext,
    who: Principal,
    body: CallCreate,
    *,
    request_id: str | None,
    idempotency_key: str | None = None,
) -> CallOut:
    now = datetime.now(UTC)
    district_id, code = resolve_district(context, body.district, body.location)
    call_id = new_id()
    facts = call_facts(code, body.location, body.nature, body.safety, body.subject.age)
    result = await triage(conn, context, district_id=district_id, facts=facts, now=now)
    params, rec_id = _record_params(
        who,
        call_id=call_id,
        result=result,
        now=now,
        action="call.create",
        request_id=request_id,
        call_event="call.created",
        summary=call_summary(
            call_id,
            external_id=body.external_id,
            status="pending",
            district=code,
            location=body.location.model_dump() if body.location else None,
            nature=body.nature,
            safety=body.safety.model_dump(),
            lead=result.lead,
        ),
    )
    location = body.location
    subject = body.subject.model_dump(exclude_none=True)
    params.update(
        external_id=body.external_id,
        district_id=district_id,
        lat=location.lat if location else None,
        lon=location.lon if location else None,
        address=location.address if location else None,
        nature=body.nature,
        safety=body.safety.model_dump(),
        subject=subject,
        notes=body.notes,
        received_at=body.received_at or now,
    )
    out = CallOut(
        id=call_id,
        external_id=body.external_id,
        status="pending",
        district=code,
        location=location,
        nature=body.nature,
        safety=body.safety,
        subject=subject,
        received_at=params["received_at"],
        created_at=now,
        updated_at=now,
        recommendation=render_result(result, rec_id=rec_id, call_id=call_id, created_at=now),
    )
    if idempotency_key is not None:
        params.update(idem_key=idempotency_key, idem_body=out.model_dump(mode="json"))
    try:
        await repo.insert_call(conn, params)
    except repo.ExternalIdTaken:
        raise Conflict(f"a call with external_id {body.external_id} already exists") from None
    except repo.DistrictGone:
        raise Invalid(f"unknown district {code}", loc=("body", "district")) from None
    return out


def render_result(
    result: RoutingResult, *, rec_id: UUID, call_id: UUID, created_at: datetime
) -> RecommendationOut:
    return RecommendationOut(
        id=rec_id,
        call_id=call_id,
        created_at=created_at,
        policy_version=result.policy_version,
        lead=result.lead,
        safety_concern=result.safety_concern,
        **_recommendation_json(result),
    )


def render_recommendation(row: Recommendation) -> RecommendationOut:
    return RecommendationOut.model_validate(row, from_attributes=True)


def render_call(
    context: AgencyContext, call: Call, rec: Recommendation | None, *, with_notes: bool = False
) -> CallOut:
    fields: dict[str, Any] = {
        "id": call.id,
        "external_id": call.external_id,
        "status": call.status,
        "district": context.district_code(call.district_id),
        "location": (
            CallLocation(lat=call.lat, lon=call.lon, address=call.address)
            if call.lat is not None and call.lon is not None
            else None
        ),
        "nature": call.nature,
        "safety": Safety(**call.safety),
        "subject": call.subject,
        "received_at": call.received_at,
        "created_at": call.created_at,
        "updated_at": call.updated_at,
        "recommendation": render_recommendation(rec) if rec else None,
    }
    if with_notes:
        return CallDetailOut(**fields, notes=call.notes)
    return CallOut(**fields)


async def get(
    session: AsyncSession, context: AgencyContext, call_id: UUID, *, for_update: bool = False
) -> Call:
    call = await repo.get_call(
        session, agency_id=context.agency_id, call_id=call_id, for_update=for_update
    )
    if call is None:
        raise NotFound("call not found")
    return call


async def get_detail(session: AsyncSession, context: AgencyContext, call_id: UUID) -> CallOut:
    call = await get(session, context, call_id)
    recs = await repo.latest_recommendations(session, [call.id])
    return render_call(context, call, recs.get(call.id), with_notes=True)


async def list_page(
    session: AsyncSession,
    context: AgencyContext,
    *,
    status: str | None,
    district: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[CallOut], str | None]:
    district_id = None
    if district is not None:
        info = context.districts_by_code.get(district)
        if info is None:
            raise Invalid(f"unknown district {district}", loc=("query", "district"))
        district_id = info.id
    stmt = repo.calls_statement(context.agency_id, status=status, district_id=district_id)
    rows, next_cursor = await fetch_page(
        session, stmt, Call.id, limit=limit, cursor=cursor, newest_first=True
    )
    recs = await repo.latest_recommendations(session, [c.id for c in rows])
    return [render_call(context, c, recs.get(c.id)) for c in rows], next_cursor


async def update(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call_id: UUID,
    body: CallPatch,
    *,
    request_id: str | None,
) -> CallOut:
    """Apply new information, re-triage and store a new recommendation (history is kept)."""
    call = await get(session, context, call_id, for_update=True)
    if call.status == "cleared":
        raise Conflict("the call is cleared; it can no longer be changed")
    now = datetime.now(UTC)
    if body.safety is not None:
        merged = dict(call.safety)
        merged.update(body.safety.model_dump(exclude_none=True))
        call.safety = merged
    if body.nature is not None:
        call.nature = body.nature
    if body.location is not None:
        call.lat, call.lon, call.address = (
            body.location.lat,
            body.location.lon,
            body.location.address,
        )
    if body.notes is not None:
        call.notes = body.notes
    if body.subject is not None:
        call.subject = body.subject.model_dump(exclude_none=True)
    if body.district is not None:
        call.district_id, _ = resolve_district(context, body.district, None)
    elif body.location is not None:
        # A better fix on the caller re-places the call; a point outside every boundary
        # (or an agency without boundaries) keeps the district it has.
        located = context.locate(body.location.lat, body.location.lon)
        if located is not None:
            call.district_id = context.districts_by_code[located].id
    await repo.touch(session, call, now)
    await store_retriage(
        session, context, who, call, request_id=request_id, action="call.update", now=now
    )
    recs = await repo.latest_recommendations(session, [call.id])
    return render_call(context, call, recs[call.id])


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
    params, _ = _record_params(
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


def audit(
    session: AsyncSession,
    who: Principal,
    *,
    action: str,
    call_id: UUID,
    request_id: str | None,
    at: datetime,
    detail: dict[str, Any] | None = None,
    outcome: str = "success",
) -> None:
    """Stage an audit entry for a call action in the request's transaction."""
    session.add(
        AuditEntry(
            id=new_id(),
            agency_id=who.agency_id,
            at=at,
            key_id=who.key_id,
            role=who.role,
            action=action,
            resource_type="call",
            resource_id=str(call_id),
            outcome=outcome,
            request_id=request_id,
            detail=detail,
        )
    )


async def recommendations(
    session: AsyncSession, context: AgencyContext, call_id: UUID, *, limit: int, cursor: str | None
) -> tuple[list[RecommendationOut], str | None]:
    await get(session, context, call_id)
    rows, next_cursor = await fetch_page(
        session,
        repo.recommendations_statement(call_id),
        Recommendation.id,
        limit=limit,
        cursor=cursor,
    )
    return [render_recommendation(r) for r in rows], next_cursor


async def get_summary(session: AsyncSession, context: AgencyContext, call_id: UUID) -> CallOut:
    """A call as lists show it: without notes."""
    call = await get(session, context, call_id)
    recs = await repo.latest_recommendations(session, [call.id])
    return render_call(context, call, recs.get(call.id))
