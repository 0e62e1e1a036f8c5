"""Dispatch: assign units atomically, never double-book; give units on the call new parts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app import metrics
from app.agency_context import AgencyContext
from app.db.unit_of_work import of_session
from app.errors import Conflict, Invalid, NotFound, RecommendationChanged
from app.events.body import instant_text
from app.ids import new_id
from app.models import Assignment, Dispatch
from app.records.calls import CallRecord
from app.records.recommendations import Decided, RecommendationRecord
from app.repositories import assignments as assignment_repo
from app.repositories import calls as call_repo
from app.repositories import dispatch_reads
from app.repositories import dispatches as dispatch_repo
from app.schemas.call_answers import RecommendationOut
from app.schemas.dispatch import (
    DispatchedCallOut,
    DispatchRequest,
    UnitRef,
)
from app.security import Principal
from app.services import (
    audit,
    call_views,
    dispatch_news,
    dispatch_request,
    dispatch_roles,
    triage,
    unit_kind,
)
from app.services.dispatch_roles import Unit
from app.vocabulary import invisible_escaped


@dataclass(frozen=True)
class UnitsUnavailable:
    """A dispatch that could not assign everything: nothing was assigned."""

    unavailable: list[UnitRef]
    recommendation: RecommendationOut
    detail: str


async def _beside_the_lead(
    conn: AsyncConnection,
    context: AgencyContext,
    requested: list[Unit],
    found: dispatch_reads.CallForDispatch,
) -> list[Unit]:
    """A plain dispatch's units beside the call's lead (dispatch_roles.beside_the_lead);
    whether the officer leading is CIT is read only when a CIT officer the recommendation
    names would take charge from it (dispatch_roles.charge_taker)."""
    rec, active = found.recommendation, [a for a in found.assignments if a.released_at is None]
    decided = rec is not None and any(
        d.recommendation_id == rec.id and d.dispatched_lead is not None for d in found.dispatches
    )
    in_charge = None
    pair = dispatch_roles.charge_taker(requested, active, rec)
    if pair is not None and not await dispatch_reads.cit_today(
        conn,
        agency_id=context.agency_id,
        officer_id=pair[1].responder_id,
        today=datetime.now(context.timezone).date(),
    ):
        in_charge = pair[0]
    return dispatch_roles.beside_the_lead(requested, active, decided=decided, in_charge=in_charge)


async def _decided_then(
    conn: AsyncConnection,
    context: AgencyContext,
    found: dispatch_reads.CallForDispatch,
    active: list[Assignment],
) -> Decided | None:
    """The recommendation in force at the deciding dispatch, and whether the lead
    recommended changed since, read only when it decides the dispatch
    (dispatch_roles.rerole_by_recommendation): the latest one recommends the lead
    recommended then, the other kind leads the call (a dispatcher sent it), and another was
    in force then. A call led by the kind recommended (a flagged call an officer leads,
    re-triaged since) is dispatched without it."""
    rec, then = found.recommendation, dispatch_roles.deciding_dispatch(found.dispatches)
    if rec is None or then is None or then.recommendation_id in (None, rec.id):
        return None
    leading = dispatch_roles.lead_kind([(a.responder_type, a.responder_id, a.role) for a in active])
    if rec.lead != then.recommended_lead or leading in (None, rec.lead):
        return None
    return await dispatch_reads.decided_on(
        conn, agency_id=context.agency_id, recommendation_id=then.recommendation_id
    )


def _why_not(unit_id: UUID, unit: dispatch_reads.LockedUnit, cad_ids: dict[UUID, str]) -> str:
    """A unit not sent, by its call sign, and why: for a dispatcher to choose another. The
    call it is on is named by the CAD's number too, when it has one (call_views.named)."""
    if not unit.active:
        why = "no longer active"
    elif unit.active_call_id is not None:
        call_id = unit.active_call_id
        why = f"on call {call_views.named(call_id, cad_ids.get(call_id))}"
    elif unit.status == "out_of_service":
        why = "out of service"
    elif unit.status != "available":
        # Named as deactivating it names it (separation.py): the dispatcher can ask the
        # CAD's dispatcher about that incident.
        incident = unit.external_incident
        where = (
            "an incident of the CAD's"
            if incident is None
            else f"the CAD's incident {invisible_escaped(incident)}"
        )
        why = f"{unit.status.replace('_', ' ')} on {where}"
    else:
        why = "off shift"
    return f"{unit.call_sign or unit_id} ({why})"


def _available(unit: dispatch_reads.LockedUnit, *, off_shift_too: bool) -> bool:
    return (
        unit.active
        and unit.status == "available"
        and unit.active_call_id is None
        and (unit.on_shift or off_shift_too)
    )


async def _not_the_latest(
    session: AsyncSession, call: CallRecord, rec: RecommendationRecord | None, seen: UUID
) -> None:
    """Refuse a dispatch of a recommendation the call no longer follows: the dispatcher
    saw one that a re-triage (a PATCH on another console, a unit's report) has replaced
    since, and what it sends (its units, or none: the latest's) would answer the old one.
    The latest is given, as stored: no new one is made."""
    if rec is None or not await call_repo.is_recommendation_of(session, call.id, seen):
        raise Invalid(
            f"recommendation {seen} is not a recommendation of this call",
            loc=("body", "recommendation_id"),
        )
    raise RecommendationChanged(
        f"the call was re-triaged after recommendation {seen}: its latest is {rec.id}, made"
        f" {instant_text(rec.created_at)}; nothing was assigned: review it and dispatch again",
        call_views.render_recommendation(rec).model_dump(mode="json"),
    )


async def _fresh_recommendation(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call: CallRecord,
    request_id: str | None,
) -> RecommendationOut:
    """Re-triage the call now and store the result in its history (the call changed)."""
    now = datetime.now(UTC)
    rec = await triage.retriage(
        session, context, who, call, request_id=request_id, now=now, cause="dispatch"
    )
    await assignment_repo.mark_call_changed(
        session, agency_id=context.agency_id, call_id=call.id, at=now
    )
    return call_views.render_recommendation(rec)


async def dispatch(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call_id: UUID,
    body: DispatchRequest,
    *,
    request_id: str | None,
) -> DispatchedCallOut | UnitsUnavailable:
    """Assign every requested unit, or none; a taken unit gives a fresh recommendation.

    One statement reads the call (locked) with its recommendation, assignments and
    dispatches and locks the units (app/repositories/dispatch_reads.py), one writes the
    dispatch with everything it changes (app/repositories/dispatches.py); the answer is
    rendered from what was read and written.
    """
    conn = await session.connection()
    officer_ids, co_ids = dispatch_request.named_ids(body)
    found = await read_call(
        conn, context, call_id, units="dispatching", officer_ids=officer_ids, co_ids=co_ids
    )
    call, rec, earlier = found.call, found.recommendation, found.assignments
    if call.status == "cleared":
        raise Conflict("the call is cleared; it cannot be dispatched")
    if body.recommendation_id is not None and (rec is None or rec.id != body.recommendation_id):
        await _not_the_latest(session, call, rec, body.recommendation_id)
    choice = dispatch_request.chosen(body, rec)
    requested = choice.units
    active = [a for a in earlier if a.released_at is None]
    on_call = {a.responder_id: a for a in active}
    wrong = [u for u in requested if u[1] in on_call and on_call[u[1]].responder_type != u[0]]
    if wrong:
        raise Invalid(
            f"no such {wrong[0][0].replace('_', '-')} {wrong[0][1]} on this call",
            loc=("body", "units"),
        )
    # A call with units on it but none leading (its lead left) takes the parts the
    # recommendation names, as after an escalation.
    escalated = dispatch_roles.rerole_by_recommendation(
        rec, found.dispatches, then=await _decided_then(conn, context, found, active)
    )
    rerole = (
        body.units is not None
        or escalated
        or bool(active and not any(a.role == "lead" for a in active))
    )
    if not rerole:
        requested = await _beside_the_lead(conn, context, requested, found)
    wanted = [u for u in requested if u[1] not in on_call]
    changes = dispatch_roles.role_changes(requested, active, rerole=rerole)
    if dispatch_roles.leaves_no_lead(active, changes, wanted):
        raise Invalid(
            "the call would be left without a lead: send the unit that takes over as lead",
            loc=("body", "units"),
        )
    if not wanted and not changes:
        fresh = await _fresh_recommendation(session, context, who, call, request_id)
        _count_conflict(session)
        return UnitsUnavailable([], fresh, "there are no units to assign to this call")

    # Locked with the call, unless another transaction held the call as it was read.
    locked = found.units
    if locked is None and not wanted:
        locked = {}
    elif locked is None:
        locked = await dispatch_reads.lock_units(
            conn,
            agency_id=context.agency_id,
            officer_ids=[u[1] for u in wanted if u[0] == "officer"],
            co_ids=[u[1] for u in wanted if u[0] == "co_responder"],
            now=datetime.now(UTC),
        )
    unknown = [u for u in wanted if u[1] not in locked or locked[u[1]].responder_type != u[0]]
    if unknown:
        kind, unit_id, _ = unknown[0]
        said = await unit_kind.not_in_agency(session, context, named_as=kind, responder_id=unit_id)
        raise Invalid(said, loc=("body", "units"))
    # Off shift, a unit is sent only when a dispatcher names it and says why (a code, a
    # reason or both): the recommendation may have named it before its shift was ended.
    said_why = choice.override_code is not None or choice.override_reason is not None
    named = body.units is not None and said_why
    taken = [u for u in wanted if not _available(locked[u[1]], off_shift_too=named)]
    if taken:
        fresh = await _fresh_recommendation(session, context, who, call, request_id)
        _count_conflict(session)
        elsewhere = [c for _, i, _ in taken if (c := locked[i].active_call_id) is not None]
        cad_ids = await dispatch_reads.external_ids_of(
            conn, agency_id=context.agency_id, call_ids=elsewhere
        )
        # "No longer" only of units the recommendation named, free then: one sent by
        # override may never have been (busy on the CAD's own incident since before).
        recommended = {u["responder_id"] for u in rec.units} if rec is not None else set()
        was = "no longer" if all(str(i) in recommended for _, i, _ in taken) else "not"
        return UnitsUnavailable(
            [UnitRef(responder_type=t, responder_id=i) for t, i, _ in taken],
            fresh,
            f"some units are {was} available; nothing was assigned: "
            + ", ".join(_why_not(i, locked[i], cad_ids) for _, i, _ in taken),
        )

    now = datetime.now(UTC)
    lead = rec.lead if rec is not None else None
    call = replace(
        call, status="dispatched", dispatched_at=call.dispatched_at or now, updated_at=now
    )
    record = dispatch_repo.NewDispatch(
        id=new_id(),
        agency_id=context.agency_id,
        call_id=call.id,
        at=now,
        recommendation_id=None if rec is None else rec.id,
        recommended_lead=lead,
        # The lead this dispatch decided: the one it names (kept in its part or not), else
        # the one it sends or re-roles (app/services/dispatch_roles.py reads it).
        dispatched_lead=dispatch_roles.lead_kind(
            requested if body.units is not None else [*wanted, *(c.unit for c in changes)]
        ),
        override_code=choice.override_code,
        override_reason=choice.override_reason,
        assignments=tuple(
            (new_id(), kind, unit, role, locked[unit].call_sign) for kind, unit, role in wanted
        ),
        role_changes=tuple((c.assignment.id, c.role) for c in changes),
    )
    after = [*dispatch_roles.with_roles(earlier, changes), *_assignments(record)]
    sent = dispatch_news.Sent(wanted, changes, choice.override_code, choice.override_reason)
    told = await dispatch_news.dispatch_events(
        session,
        call,
        rec,
        sent,
        active=active,
        after=after,
        escalated=escalated,
        locked=locked,
        now=now,
    )
    entry = audit.call_entry(
        who,
        call.id,
        action="call.dispatch",
        request_id=request_id,
        at=now,
        detail=dispatch_news.audit_detail(sent),
    )
    try:
        await dispatch_repo.write(conn, record, call=call, events=told, entry=entry)
    except dispatch_repo.UnitTaken:
        # The unique index on active assignments caught what the locks should have.
        raise Conflict("a unit was assigned elsewhere at the same moment; retry") from None
    rec = await triage.staffed(session, context, who, call, rec, request_id=request_id, now=now)
    return call_views.render_dispatched(call, rec, after, [*found.dispatches, _dispatch(record)])


async def read_call(
    conn: AsyncConnection,
    context: AgencyContext,
    call_id: UUID,
    *,
    units: Literal["dispatching"] | None = None,
    officer_ids: list[UUID] | None = None,
    co_ids: list[UUID] | None = None,
) -> dispatch_reads.CallForDispatch:
    """The agency's call, locked, with what a dispatch or a clear needs, and (most often)
    its units locked too (dispatch_reads.read_for_dispatch)."""
    found = await dispatch_reads.read_for_dispatch(
        conn,
        agency_id=context.agency_id,
        call_id=call_id,
        units=units,
        officer_ids=officer_ids,
        co_ids=co_ids or (),
        now=datetime.now(UTC),
    )
    if found is None:
        raise NotFound("call not found")
    return found


def _assignments(record: dispatch_repo.NewDispatch) -> list[Assignment]:
    """The assignments the dispatch wrote, as a read would return them."""
    return [
        Assignment(
            id=assignment_id,
            agency_id=record.agency_id,
            call_id=record.call_id,
            dispatch_id=record.id,
            responder_type=responder_type,
            responder_id=responder_id,
            role=role,
            override_reason=record.override_reason,
            assigned_at=record.at,
            released_at=None,
            released_status=None,
            on_scene_at=None,
            call_sign=call_sign,
        )
        for assignment_id, responder_type, responder_id, role, call_sign in record.assignments
    ]


def _dispatch(record: dispatch_repo.NewDispatch) -> Dispatch:
    return Dispatch(
        id=record.id,
        agency_id=record.agency_id,
        call_id=record.call_id,
        at=record.at,
        recommendation_id=record.recommendation_id,
        recommended_lead=record.recommended_lead,
        dispatched_lead=record.dispatched_lead,
        override_code=record.override_code,
        override_reason=record.override_reason,
    )


def _count_conflict(session: AsyncSession) -> None:
    """Count a dispatch answered 409 with a fresh recommendation, once it commits. The rare
    race the unique index catches (a plain 409) commits nothing and is not counted; its
    retry, which finds the units taken, is."""
    of_session(session).after_commit(metrics.count_dispatch_conflict)
