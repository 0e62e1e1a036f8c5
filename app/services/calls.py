"""Crisis calls: intake, reads, new information, and the recommendation history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.db.unit_of_work import UnitOfWork
from app.eido import outgoing
from app.encryption import CALL_NOTES, DataCipher
from app.errors import CallExists, Conflict, Invalid, NotFound
from app.events import catalogue as events
from app.ids import new_id
from app.models import Assignment, Dispatch
from app.records.calls import CallRecord, Location, SubjectFacts
from app.records.recommendations import RecommendationRecord
from app.repositories import assignments as assignment_repo
from app.repositories import calls as repo
from app.repositories.idempotency import Answer
from app.schemas.calls import (
    AssignmentOut,
    CallCreate,
    CallDetailOut,
    CallLocation,
    CallOut,
    CallPatch,
    DispatchedCallOut,
    DispatchOut,
    RecommendationOut,
    Safety,
    Subject,
)
from app.security import Principal
from app.services import audit, triage


def _location(body: CallLocation | None) -> Location | None:
    return None if body is None else Location(lat=body.lat, lon=body.lon, address=body.address)


def _subject(body: Subject) -> SubjectFacts:
    return SubjectFacts() if body.age is None else SubjectFacts(age=body.age)


# How far ahead of this service's clock a client's timestamp may be: CAD and service clocks
# differ a little. Further ahead is a mistake that would count a call's response time as
# negative, and keep an EIDO incident from taking any real update (none would be newer).
CLOCK_SKEW = timedelta(minutes=5)


def refuse_the_future(at: datetime, now: datetime, loc: tuple[str, ...]) -> None:
    """A 422 at loc when at is more than CLOCK_SKEW ahead of now."""
    if at > now + CLOCK_SKEW:
        minutes = int(CLOCK_SKEW.total_seconds() // 60)
        raise Invalid(f"more than {minutes} minutes ahead of the service's clock", loc=loc)


async def create(
    work: UnitOfWork,
    context: AgencyContext,
    who: Principal,
    body: CallCreate,
    *,
    cipher: DataCipher,
    request_id: str | None,
    idempotency_key: str | None,
) -> CallOut:
    """Take a call: one candidate query, then one statement writes the call with its
    recommendation, events, audit entry and (with a key) the replayable answer."""
    now = datetime.now(UTC)
    if body.received_at is not None:
        refuse_the_future(body.received_at, now, ("body", "received_at"))
    call = new_call(context, body, cipher=cipher, now=now)
    await _refuse_an_exported_incident_id(work, call)
    return await intake(
        work, context, who, call, now=now, request_id=request_id, idempotency_key=idempotency_key
    )


async def _refuse_an_exported_incident_id(work: UnitOfWork, call: CallRecord) -> None:
    """A CallExists when the new call's external_id is the incident id this agency's EIDO
    export gave another call (docs/api.md, "EIDO export"): the two would share it, and a
    later import or retrieval by it would find the new call, not the incident's. Only an id
    of the export's own form is read for (app/eido/outgoing.py), so intake pays nothing."""
    named = outgoing.assigned_call_id(call.external_id or "", call.agency_id)
    if named is None:
        return
    holder = await repo.get_call(await work.session(), agency_id=call.agency_id, call_id=named)
    # A call imported (or created) with an incident id of its own is known by that one; and
    # retrieval matches the export's id exactly (the hex in its case), as here.
    if (
        holder is not None
        and not outgoing.is_incident_id(holder.external_id)
        and outgoing.incident_id_for(named, call.agency_id) == call.external_id
    ):
        raise CallExists(str(call.external_id), named)


def new_call(
    context: AgencyContext, body: CallCreate, *, cipher: DataCipher, now: datetime
) -> CallRecord:
    """A new call as the client describes it, placed in its district (not yet written)."""
    location = _location(body.location)
    district_id, code = triage.resolve_district(context, body.district, location)
    call_id = new_id()
    return CallRecord(
        id=call_id,
        agency_id=context.agency_id,
        external_id=body.external_id,
        status="pending",
        district_id=district_id,
        district=code,
        location=location,
        nature=body.nature,
        safety=body.safety.model_dump(),
        subject=_subject(body.subject),
        notes=cipher.encrypt_optional(body.notes, column=CALL_NOTES, row_id=call_id),
        received_at=body.received_at or now,
        created_at=now,
        updated_at=now,
        dispatched_at=None,
        cleared_at=None,
        disposition=None,
        diverted_to=None,
        outcome=None,
        use_of_force=False,
        subject_injured=False,
        officer_injured=False,
        eido_updated_at=None,
    )


async def intake(
    work: UnitOfWork,
    context: AgencyContext,
    who: Principal,
    call: CallRecord,
    *,
    now: datetime,
    request_id: str | None,
    idempotency_key: str | None,
) -> CallOut:
    """Triage a new call and write it with its recommendation, events, audit entry and
    (with a key) the replayable answer, in one statement. A call of the agency that
    already has its external_id is a CallExists, raised in a fresh transaction."""
    conn = await work.connection()
    rec = await triage.triage(conn, context, call, now=now)
    out = render_call(call, rec)
    answer = (
        None
        if idempotency_key is None
        else Answer(
            agency_id=call.agency_id,
            key=idempotency_key,
            status=201,
            body=out.model_dump(mode="json"),
        )
    )
    entry = audit.call_entry(who, call.id, action="call.create", request_id=request_id, at=now)
    try:
        await repo.insert_call(
            conn,
            call,
            recommendation=rec,
            events=[events.call_created(call, lead=rec.lead), events.recommendation_created(rec)],
            entry=entry,
            answer=answer,
        )
    except repo.ExternalIdTaken:
        # The failed statement aborted the transaction: read the holder in a fresh one.
        await work.restart()
        existing = await repo.call_id_for_external_id(
            await work.connection(), agency_id=call.agency_id, external_id=call.external_id
        )
        if existing is None:  # cleared by a rollback since: unlikely, and worth a retry
            raise Conflict(f"external_id {call.external_id} was taken; retry") from None
        raise CallExists(str(call.external_id), existing) from None
    except repo.DistrictGone:
        raise Invalid(f"unknown district {call.district}", loc=("body", "district")) from None
    triage.count_when_committed(work, rec)
    return out


def render_recommendation(rec: RecommendationRecord) -> RecommendationOut:
    return RecommendationOut(
        id=rec.id,
        call_id=rec.call_id,
        created_at=rec.created_at,
        policy_version=rec.policy_version,
        lead=rec.lead,
        safety_concern=rec.safety_concern,
        units=rec.units,
        requests=rec.requests,
        warnings=rec.warnings,
        reasons=rec.reasons,
    )


def render_call(call: CallRecord, rec: RecommendationRecord | None) -> CallOut:
    """The call as the API shows it in lists and answers: never its notes."""
    place = call.location
    return CallOut(
        id=call.id,
        external_id=call.external_id,
        status=call.status,
        district=call.district,
        location=(
            None
            if place is None
            else CallLocation(lat=place.lat, lon=place.lon, address=place.address)
        ),
        nature=call.nature,
        safety=Safety(**call.safety),
        subject=dict(call.subject),
        received_at=call.received_at,
        created_at=call.created_at,
        updated_at=call.updated_at,
        dispatched_at=call.dispatched_at,
        cleared_at=call.cleared_at,
        disposition=call.disposition,
        diverted_to=call.diverted_to,
        outcome=call.outcome,
        use_of_force=call.use_of_force,
        subject_injured=call.subject_injured,
        officer_injured=call.officer_injured,
        recommendation=None if rec is None else render_recommendation(rec),
    )


async def get(
    session: AsyncSession, context: AgencyContext, call_id: UUID, *, for_update: bool = False
) -> CallRecord:
    call = await repo.get_call(
        session, agency_id=context.agency_id, call_id=call_id, for_update=for_update
    )
    if call is None:
        raise NotFound("call not found")
    return call


async def latest_recommendation(
    session: AsyncSession, call: CallRecord
) -> RecommendationRecord | None:
    return (await repo.latest_recommendations(session, [call.id])).get(call.id)


async def render_with_units(
    session: AsyncSession, call: CallRecord, rec: RecommendationRecord | None
) -> DispatchedCallOut:
    """The call with every assignment and dispatch it has had."""
    return (await _render_many(session, [call], {} if rec is None else {call.id: rec}))[0]


async def _render_many(
    session: AsyncSession, calls: list[CallRecord], recs: Mapping[UUID, RecommendationRecord]
) -> list[DispatchedCallOut]:
    """Calls with their assignments and dispatches: two queries for any number of calls."""
    ids = [c.id for c in calls]
    assignments = await assignment_repo.for_calls(session, ids)
    dispatches = await assignment_repo.dispatches_for_calls(session, ids)
    return [
        render_dispatched(
            call, recs.get(call.id), assignments.get(call.id, []), dispatches.get(call.id, [])
        )
        for call in calls
    ]


def render_dispatched(
    call: CallRecord,
    rec: RecommendationRecord | None,
    assignments: Sequence[Assignment],
    dispatches: Sequence[Dispatch],
) -> DispatchedCallOut:
    """The call with these assignments and dispatches (each oldest first)."""
    return DispatchedCallOut(
        **dict(render_call(call, rec)),
        assignments=[AssignmentOut.model_validate(a, from_attributes=True) for a in assignments],
        dispatches=[DispatchOut.model_validate(d, from_attributes=True) for d in dispatches],
    )


async def get_detail(
    session: AsyncSession, context: AgencyContext, call_id: UUID, *, cipher: DataCipher
) -> CallDetailOut:
    """The call with its latest recommendation, its units and its decrypted notes."""
    call = await get(session, context, call_id)
    out = await render_with_units(session, call, await latest_recommendation(session, call))
    notes = cipher.decrypt_optional(call.notes, column=CALL_NOTES, row_id=call.id)
    return CallDetailOut(**dict(out), notes=notes)


async def get_summary(session: AsyncSession, context: AgencyContext, call_id: UUID) -> CallOut:
    """A call as lists show it: without notes."""
    call = await get(session, context, call_id)
    return render_call(call, await latest_recommendation(session, call))


async def list_page(
    session: AsyncSession,
    context: AgencyContext,
    *,
    status: str | None,
    district: str | None,
    external_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[DispatchedCallOut], str | None]:
    """A page of calls, newest first, each with its assignments and dispatches (never its
    notes); external_id finds the call the CAD knows by that id."""
    district_id = None
    if district is not None:
        info = context.districts_by_code.get(district)
        if info is None:
            raise Invalid(f"unknown district {district}", loc=("query", "district"))
        district_id = info.id
    calls, next_cursor = await repo.list_calls(
        session,
        agency_id=context.agency_id,
        status=status,
        district_id=district_id,
        external_id=external_id,
        limit=limit,
        cursor=cursor,
    )
    recs = await repo.latest_recommendations(session, [c.id for c in calls])
    return await _render_many(session, calls, recs), next_cursor


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
    call, rec = await revise(
        session, context, who, call, body, cipher=cipher, request_id=request_id
    )
    return render_call(call, rec)


async def revise(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call: CallRecord,
    body: CallPatch,
    *,
    cipher: DataCipher,
    request_id: str | None,
) -> tuple[CallRecord, RecommendationRecord]:
    """Apply new information to a call locked for update (get(..., for_update=True)), store
    it, re-triage and store the new recommendation; a cleared call is a Conflict."""
    if call.status == "cleared":
        raise Conflict("the call is cleared; it can no longer be changed")
    now = datetime.now(UTC)
    district_id, district = call.district_id, call.district
    if body.district is not None:
        district_id, district = triage.resolve_district(context, body.district, None)
    elif body.location is not None and body.location.point is not None:
        # A better fix on the caller re-places the call; a point outside every boundary
        # (or an agency without boundaries) keeps the district it has. An address alone
        # keeps it too.
        located = context.locate(*body.location.point)
        if located is not None:
            district_id, district = context.districts_by_code[located].id, located
    call = replace(
        call,
        safety=(
            call.safety
            if body.safety is None
            else {**call.safety, **body.safety.model_dump(exclude_none=True)}
        ),
        nature=call.nature if body.nature is None else body.nature,
        location=call.location if body.location is None else _location(body.location),
        notes=(
            call.notes
            if body.notes is None
            else cipher.encrypt(body.notes, column=CALL_NOTES, row_id=call.id)
        ),
        subject=call.subject if body.subject is None else _subject(body.subject),
        district_id=district_id,
        district=district,
        updated_at=now,
    )
    await repo.update_call(session, call)
    rec = await triage.retriage(
        session, context, who, call, request_id=request_id, now=now, announce_update=True
    )
    return call, rec


async def recommendations(
    session: AsyncSession, context: AgencyContext, call_id: UUID, *, limit: int, cursor: str | None
) -> tuple[list[RecommendationOut], str | None]:
    await get(session, context, call_id)
    recs, next_cursor = await repo.list_recommendations(
        session, call_id, limit=limit, cursor=cursor
    )
    return [render_recommendation(r) for r in recs], next_cursor
