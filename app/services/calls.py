"""Crisis calls: intake, reads, new information, and the recommendation history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.agency_context import AgencyContext
from app.encryption import CALL_NOTES, DataCipher
from app.errors import Conflict, Invalid, NotFound
from app.ids import new_id
from app.models import Call, Recommendation
from app.repositories import calls as repo
from app.repositories.pagination import fetch_page
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
from app.services import triage
from app.services.events import call_summary


async def create(
    conn: AsyncConnection,
    context: AgencyContext,
    who: Principal,
    body: CallCreate,
    *,
    cipher: DataCipher,
    request_id: str | None,
    idempotency_key: str | None = None,
) -> CallOut:
    now = datetime.now(UTC)
    district_id, code = triage.resolve_district(context, body.district, body.location)
    call_id = new_id()
    facts = triage.call_facts(code, body.location, body.nature, body.safety, body.subject.age)
    result = await triage.triage(conn, context, district_id=district_id, facts=facts, now=now)
    params, rec_id = triage.record_params(
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
        notes=cipher.encrypt_optional(body.notes, column=CALL_NOTES, row_id=call_id),
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
        **triage.recommendation_json(result),
    )


def render_recommendation(row: Recommendation) -> RecommendationOut:
    return RecommendationOut.model_validate(row, from_attributes=True)


def render_call(
    context: AgencyContext,
    call: Call,
    rec: Recommendation | None,
    *,
    notes_cipher: DataCipher | None = None,
) -> CallOut:
    """The call as the API shows it; with notes_cipher, also its decrypted notes."""
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
    if notes_cipher is not None:
        notes = notes_cipher.decrypt_optional(call.notes, column=CALL_NOTES, row_id=call.id)
        return CallDetailOut(**fields, notes=notes)
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


async def get_detail(
    session: AsyncSession, context: AgencyContext, call_id: UUID, *, cipher: DataCipher
) -> CallOut:
    call = await get(session, context, call_id)
    recs = await repo.latest_recommendations(session, [call.id])
    return render_call(context, call, recs.get(call.id), notes_cipher=cipher)


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
    cipher: DataCipher,
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
        call.notes = cipher.encrypt(body.notes, column=CALL_NOTES, row_id=call.id)
    if body.subject is not None:
        call.subject = body.subject.model_dump(exclude_none=True)
    if body.district is not None:
        call.district_id, _ = triage.resolve_district(context, body.district, None)
    elif body.location is not None:
        # A better fix on the caller re-places the call; a point outside every boundary
        # (or an agency without boundaries) keeps the district it has.
        located = context.locate(body.location.lat, body.location.lon)
        if located is not None:
            call.district_id = context.districts_by_code[located].id
    await repo.touch(session, call, now)
    await triage.store_retriage(
        session, context, who, call, request_id=request_id, action="call.update", now=now
    )
    recs = await repo.latest_recommendations(session, [call.id])
    return render_call(context, call, recs[call.id])


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
