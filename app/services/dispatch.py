"""Dispatch and clearing: assign units atomically, never double-book, release on clear."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.encryption import CALL_NOTES, DataCipher
from app.errors import Conflict, Invalid
from app.ids import new_id
from app.models import Assignment, Call, CoResponder, Officer, Recommendation
from app.repositories import assignments as assignment_repo
from app.repositories import calls as call_repo
from app.schemas.calls import RecommendationOut
from app.schemas.dispatch import (
    AssignmentOut,
    ClearRequest,
    DispatchedCallOut,
    DispatchRequest,
    UnitRef,
)
from app.security import Principal
from app.services import audit, triage
from app.services import calls as call_service
from app.services.events import add_events, call_summary, event_row

Unit = tuple[str, UUID, str]  # (responder_type, responder_id, role)


@dataclass(frozen=True)
class UnitsUnavailable:
    """A dispatch that could not assign everything: nothing was assigned."""

    unavailable: list[UnitRef]
    recommendation: RecommendationOut
    detail: str


def _recommended_units(rec: Recommendation | None) -> list[Unit]:
    if rec is None:
        return []
    return [(u["responder_type"], UUID(u["responder_id"]), u["role"]) for u in rec.units]


def _requested_units(body: DispatchRequest, rec: Recommendation | None) -> list[Unit]:
    recommended = _recommended_units(rec)
    if body.units is None:
        return recommended
    requested: list[Unit] = [(u.responder_type, u.responder_id, u.role) for u in body.units]
    if len({u[1] for u in requested}) != len(requested):
        raise Invalid("a unit appears twice in units", loc=("body", "units"))
    if set(requested) != set(recommended) and body.override_reason is None:
        raise Invalid(
            "these units differ from the latest recommendation: give an override_reason",
            loc=("body", "override_reason"),
        )
    return requested


def _available(unit: Officer | CoResponder | None) -> bool:
    return (
        unit is not None
        and unit.active
        and unit.status == "available"
        and unit.active_call_id is None
    )


def _summary(context: AgencyContext, call: Call, lead: str | None) -> dict[str, Any]:
    return call_summary(
        call.id,
        external_id=call.external_id,
        status=call.status,
        district=context.district_code(call.district_id),
        location=(
            {"lat": call.lat, "lon": call.lon, "address": call.address}
            if call.lat is not None
            else None
        ),
        nature=call.nature,
        safety=call.safety,
        lead=lead,
    )


async def _fresh_recommendation(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call: Call,
    request_id: str | None,
) -> RecommendationOut:
    """Re-triage the call now and store the result in its history."""
    await triage.store_retriage(session, context, who, call, request_id=request_id)
    latest = (await call_repo.latest_recommendations(session, [call.id]))[call.id]
    return call_service.render_recommendation(latest)


async def dispatch(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call_id: UUID,
    body: DispatchRequest,
    *,
    request_id: str | None,
) -> DispatchedCallOut | UnitsUnavailable:
    """Assign every requested unit, or none; a taken unit gives a fresh recommendation."""
    call = await call_service.get(session, context, call_id, for_update=True)
    if call.status == "cleared":
        raise Conflict("the call is cleared; it cannot be dispatched")
    rec = (await call_repo.latest_recommendations(session, [call.id])).get(call.id)
    requested = _requested_units(body, rec)
    already = {
        a.responder_id
        for a in await assignment_repo.for_call(session, call.id)
        if a.released_at is None
    }
    wanted = [u for u in requested if u[1] not in already]
    if not wanted:
        fresh = await _fresh_recommendation(session, context, who, call, request_id)
        return UnitsUnavailable([], fresh, "there are no units to assign to this call")

    locked = await assignment_repo.lock_units(
        session,
        agency_id=context.agency_id,
        officer_ids=sorted(u[1] for u in wanted if u[0] == "officer"),
        co_ids=sorted(u[1] for u in wanted if u[0] == "co_responder"),
    )
    unknown = [u for u in wanted if u[1] not in locked or _type_of(locked[u[1]]) != u[0]]
    if unknown:
        raise Invalid(
            f"no such {unknown[0][0].replace('_', '-')} {unknown[0][1]} in this agency",
            loc=("body", "units"),
        )
    taken = [u for u in wanted if not _available(locked[u[1]])]
    if taken:
        fresh = await _fresh_recommendation(session, context, who, call, request_id)
        return UnitsUnavailable(
            [UnitRef(responder_type=t, responder_id=i) for t, i, _ in taken],
            fresh,
            "some units are no longer available; nothing was assigned",
        )

    now = datetime.now(UTC)
    lead = rec.lead if rec is not None else None
    call.status = "dispatched"
    call.dispatched_at = call.dispatched_at or now
    call.updated_at = now
    events = []
    summary = _summary(context, call, lead)
    for responder_type, responder_id, role in wanted:
        session.add(
            Assignment(
                id=new_id(),
                agency_id=context.agency_id,
                call_id=call.id,
                responder_type=responder_type,
                responder_id=responder_id,
                role=role,
                override_reason=body.override_reason if body.units is not None else None,
                assigned_at=now,
            )
        )
        unit = locked[responder_id]
        unit.status, unit.status_at, unit.active_call_id = "dispatched", now, call.id
        events.append(
            event_row(
                "unit.assigned",
                call_id=call.id,
                responder_id=responder_id,
                payload={
                    **summary,
                    "responder_type": responder_type,
                    "responder_id": str(responder_id),
                    "role": role,
                },
            )
        )
    add_events(session, agency_id=context.agency_id, at=now, rows=events)
    audit.record(
        session,
        who,
        action="call.dispatch",
        call_id=call.id,
        request_id=request_id,
        detail={"override_reason": body.override_reason} if body.units is not None else None,
        at=now,
    )
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # The unique index on active assignments caught what the locks should have.
        raise Conflict("a unit was assigned elsewhere at the same moment; retry") from None
    return await render(session, context, call, rec)


def _type_of(unit: Officer | CoResponder) -> str:
    return "officer" if isinstance(unit, Officer) else "co_responder"


async def clear(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call_id: UUID,
    body: ClearRequest,
    *,
    cipher: DataCipher,
    request_id: str | None,
) -> DispatchedCallOut:
    """Record the disposition, release every unit on the call, and close it."""
    call = await call_service.get(session, context, call_id, for_update=True)
    if call.status == "cleared":
        raise Conflict("the call is already cleared")
    now = datetime.now(UTC)
    active = [a for a in await assignment_repo.for_call(session, call.id) if a.released_at is None]
    await release_units(session, context, call, active, now=now)
    call.status, call.cleared_at, call.updated_at = "cleared", now, now
    call.disposition, call.diverted_to = body.disposition, body.diverted_to
    if body.notes:
        earlier = cipher.decrypt_optional(call.notes, column=CALL_NOTES, row_id=call.id)
        notes = f"{earlier}\n{body.notes}" if earlier else body.notes
        call.notes = cipher.encrypt(notes, column=CALL_NOTES, row_id=call.id)
    rec = (await call_repo.latest_recommendations(session, [call.id])).get(call.id)
    summary = _summary(context, call, rec.lead if rec else None)
    add_events(
        session,
        agency_id=context.agency_id,
        at=now,
        rows=[
            event_row(
                "call.cleared",
                call_id=call.id,
                payload={
                    **summary,
                    "disposition": body.disposition,
                    "diverted_to": body.diverted_to,
                },
            )
        ],
    )
    audit.record(
        session,
        who,
        action="call.clear",
        call_id=call.id,
        request_id=request_id,
        at=now,
        detail={"disposition": body.disposition, "diverted_to": body.diverted_to},
    )
    await session.flush()
    return await render(session, context, call, rec)


async def release_units(
    session: AsyncSession,
    context: AgencyContext,
    call: Call,
    assignments: list[Assignment],
    *,
    now: datetime,
    new_status: str = "available",
) -> None:
    """Release assignments: units become available (or new_status) and unit.released is sent."""
    if not assignments:
        return
    locked = await assignment_repo.lock_units(
        session,
        agency_id=context.agency_id,
        officer_ids=sorted(a.responder_id for a in assignments if a.responder_type == "officer"),
        co_ids=sorted(a.responder_id for a in assignments if a.responder_type == "co_responder"),
    )
    await assignment_repo.release(session, [a.id for a in assignments], now)
    events = []
    for a in assignments:
        unit = locked.get(a.responder_id)
        if unit is not None and unit.active_call_id == call.id:
            unit.status, unit.status_at, unit.active_call_id = new_status, now, None
        events.append(
            event_row(
                "unit.released",
                call_id=call.id,
                responder_id=a.responder_id,
                payload={
                    "call_id": str(call.id),
                    "responder_type": a.responder_type,
                    "responder_id": str(a.responder_id),
                    "role": a.role,
                    "status": new_status,
                },
            )
        )
    add_events(session, agency_id=context.agency_id, at=now, rows=events)


async def render(
    session: AsyncSession, context: AgencyContext, call: Call, rec: Recommendation | None
) -> DispatchedCallOut:
    base = call_service.render_call(context, call, rec)
    assignments = await assignment_repo.for_call(session, call.id)
    return DispatchedCallOut(
        **base.model_dump(),
        assignments=[AssignmentOut.model_validate(a, from_attributes=True) for a in assignments],
        disposition=call.disposition,
        diverted_to=call.diverted_to,
    )
