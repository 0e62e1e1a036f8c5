"""The unit lifecycle: dispatched -> en_route -> on_scene -> transporting, and back to service."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.db.unit_of_work import of_session
from app.errors import Conflict, Forbidden, NotFound, NotOnThatCall
from app.events import catalogue as events
from app.events.catalogue import OutboxEvent
from app.models import Assignment, CoResponder, Officer
from app.repositories import assignments as assignment_repo
from app.repositories import calls as call_repo
from app.repositories import dispatch_reads, naming_shift
from app.repositories import events as outbox
from app.routing.types import LeftUnit
from app.schemas.common import geo_location
from app.schemas.roster import StatusUpdate, UnitStatusOut
from app.security import Principal
from app.services import call_views, triage, unit_kind
from app.vocabulary import (
    OFF_CALL,
    ON_CALL,
    OffCallStatus,
    ResponderType,
    UnitStatus,
    is_off_call,
)


async def set_status(
    session: AsyncSession,
    context: AgencyContext,
    *,
    who: Principal,
    responder_type: ResponderType,
    responder_id: UUID,
    body: StatusUpdate,
    request_id: str | None = None,
) -> UnitStatusOut:
    """Apply a status report from a unit, its dispatcher or the CAD.

    A unit on a cit-dispatch call moves forward only (going back is a 409); any other unit
    may report busy on the CAD's own incident, and is then not eligible (SPEC §6.1). The
    unit leading a call, released by its report while others stay on it, and the last unit
    on a call, gone out of service, leave the call re-triaged (_after_leaving)."""
    if who.role == "unit" and who.responder_id != responder_id:
        raise Forbidden("a unit key may set only its own responder's status")
    session, unit, cad_id = await _lock(session, context, responder_type, responder_id)
    now = datetime.now(UTC)
    previous, call_id = unit.status, unit.active_call_id
    if body.call_id is not None and body.call_id != call_id:
        if not _already(unit, body):
            # The call the report is about, by the CAD's number too: the crew knows it so.
            # Another agency's call is named by the id the report gave, as it was.
            told = await dispatch_reads.external_ids_of(
                await session.connection(), agency_id=context.agency_id, call_ids=[body.call_id]
            )
            raise _not_on_that_call(
                (body.call_id, told.get(body.call_id)), call_id=call_id, cad_id=cad_id
            )
        # Taken as it stands, and nothing changes, its position neither: a retry may come
        # after reports that moved the unit since (review r15).
        return _answer(responder_type, unit)
    # A report of the unit's position alone keeps its status (and its CAD incident).
    new = previous if body.status is None else body.status
    if not unit.active and body.status is not None and new not in OFF_CALL:
        # Deactivating a unit busy on the CAD's incident is refused, so that the units
        # board is not left showing it busy: nor may a report make a separated one busy.
        kind = responder_type.replace("_", "-")
        raise Conflict(f"this {kind} is not active: reactivate it before reporting it {new}")
    if call_id is not None and new in ON_CALL and ON_CALL.index(new) < ON_CALL.index(previous):
        # The lifecycle of §3.4 holds for a unit on a cit-dispatch call; a unit busy on the
        # CAD's own incidents (call_id None) reports whatever the CAD says (SPEC §6.1).
        raise _going_back(previous, new, call_views.named(call_id, cad_id))
    if call_id is not None and body.external_incident is not None:
        # Its incident is the cit-dispatch call (active_call_id): a CAD incident beside it
        # would show the unit busy on two at once. The body is well formed; the unit's
        # state refuses it, as it refuses going back: a 409 (the fuzzer's ST202 found the
        # 422 this was).
        raise Conflict(
            "external_incident names the CAD's incident of a unit on no cit-dispatch call;"
            f" this unit is on call {call_views.named(call_id, cad_id)}: report it"
            " available first (which releases it)"
        )
    incident = (
        unit.external_incident
        if body.status is None
        else _external_incident(unit.external_incident, previous, body.status, body)
    )

    if body.location is not None:
        unit.lat, unit.lon, unit.location_at = body.location.lat, body.location.lon, now
    if new != previous or incident != unit.external_incident:
        # Named by its call sign, as the units board names it, for a console on the feed.
        signs = await naming_shift.call_signs(
            session, agency_id=context.agency_id, responder_ids=[responder_id], now=now
        )
        # Made first, so it comes before the release it causes (events sort by id) on the
        # live feed.
        changed = events.unit_status_changed(
            responder_type=responder_type,
            responder_id=responder_id,
            call_sign=signs.get(responder_id),
            status=new,
            previous_status=previous,
            call_id=call_id,
            external_id=cad_id,
            # Its last known position, reported now or before: a receiver keeping only
            # events would otherwise lose the unit on a report without one.
            location=None if unit.lat is None or unit.lon is None else (unit.lat, unit.lon),
            external_incident=incident,
        )
        call_changed = led = False
        released: list[OutboxEvent] = []
        if is_off_call(new) and call_id is not None:
            # As a CAD does: a unit reporting back in service is released from its call.
            active = await assignment_repo.active_for_responder(session, responder_id)
            if active is not None:
                released = await _release(
                    session, context, call_id, cad_id, [active], now=now, new_status=new
                )
                call_changed, led = True, active.role == "lead"
        if new in ("on_scene", "transporting") and call_id is not None:
            # A unit may skip ahead to transporting: it was on scene all the same.
            call_changed = await assignment_repo.mark_on_scene(session, responder_id, now)
        if call_changed and call_id is not None:
            await assignment_repo.mark_call_changed(
                session, agency_id=context.agency_id, call_id=call_id, at=now
            )
        if new != previous:
            unit.status, unit.status_at = new, now
        unit.external_incident = incident
        if new in OFF_CALL:
            unit.active_call_id = None
        await outbox.write(
            session, agency_id=context.agency_id, at=now, events=[changed, *released]
        )
        if released and call_id is not None:
            await _after_leaving(
                session,
                context,
                who,
                call_id,
                led=led,
                unit=(responder_type, responder_id, new),
                name=signs.get(responder_id, unit.name),
                request_id=request_id,
                now=now,
            )
    await session.flush()
    return _answer(responder_type, unit)


def _answer(responder_type: ResponderType, unit: Officer | CoResponder) -> UnitStatusOut:
    return UnitStatusOut(
        responder_type=responder_type,
        responder_id=unit.id,
        status=unit.status,
        status_at=unit.status_at,
        location=geo_location(unit.lat, unit.lon),
        active_call_id=unit.active_call_id,
        external_incident=unit.external_incident,
    )


async def _after_leaving(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call_id: UUID,
    *,
    led: bool,
    unit: tuple[ResponderType, UUID, UnitStatus],
    name: str,  # its call sign now, else its name
    request_id: str | None,
    now: datetime,
) -> None:
    """A unit left the call by its report. When it led the call (available, or out of
    service) while others stay on it, the call is re-triaged, so the consoles see who
    should lead now (recommendation.created) and, when that is the other kind of unit, the
    units on it hear so (call.escalated); the unit that left is not named. One not leading
    it leaves the units on it told so (call.updated, `units`). When it was the last on the
    call and went out of service, it did not finish the work: the call is re-triaged, its
    recommendation warning that no unit is on it (no_unit_on_call), so the consoles see
    whom to send. The last unit reporting available ends the work, not the call: it waits
    to be cleared, and nothing is recommended."""
    await session.flush()  # the candidates read the unit as it now stands
    responder_type, responder_id, status = unit
    worked = await assignment_repo.worked(session, call_id)
    if not (worked or status == "out_of_service"):
        return
    call = await call_repo.get_call(session, agency_id=context.agency_id, call_id=call_id)
    if call is None or call.status != "dispatched":
        return
    if worked and not led:
        # Its terminals hear unit.released of their own unit alone: without this, a crew
        # counting on the unit that left would learn of it by radio, or not at all.
        latest = (await call_repo.latest_recommendations(session, [call_id])).get(call_id)
        told = events.call_updated(
            call, lead=None if latest is None else latest.lead, changed=["units"]
        )
        await outbox.write(session, agency_id=context.agency_id, at=now, events=[told])
        return
    await triage.retriage(
        session,
        context,
        who,
        call,
        request_id=request_id,
        now=now,
        cause="lead_left" if worked else "units_gone",
        # Back in service, it is free: but it has just left this call, and named again
        # to lead it, it would be no answer to the dispatcher's question. Gone last, it
        # was called away from no one (assignment_repo.left_leads).
        left=LeftUnit(responder_type, responder_id, name, status) if worked else None,
        detail={
            "reason": "the unit leading the call left it"
            if worked
            else "the last unit on the call went out of service",
            "responder_type": responder_type,
            "responder_id": str(responder_id),
            "status": status,
        },
    )


# How many times a status report looks for its unit's call again, when the unit was
# dispatched to another call between the look and the lock.
_LOCK_ATTEMPTS = 3


async def _lock(
    session: AsyncSession,
    context: AgencyContext,
    responder_type: ResponderType,
    responder_id: UUID,
) -> tuple[AsyncSession, Officer | CoResponder, str | None]:
    """Lock the unit, and first its call if it is on one: the order dispatch and clear lock
    in. A report that releases the unit and a clear of its call then take turns, and the
    second sees what the first did (one release, one unit.released). The session to go on
    with: a new one if the unit moved to another call between the look and the lock (the
    transaction then began again, holding nothing); and the CAD's id of the unit's call
    (None when it is on none, or the call has none), read by the lock, for its events."""
    for _ in range(_LOCK_ATTEMPTS):
        seen = await assignment_repo.call_of_unit(
            session,
            agency_id=context.agency_id,
            responder_type=responder_type,
            responder_id=responder_id,
        )
        cad_id = None
        if seen is not None:
            cad_id = await assignment_repo.lock_call(
                session, agency_id=context.agency_id, call_id=seen
            )
        locked = await assignment_repo.lock_units(
            session,
            agency_id=context.agency_id,
            officer_ids=[responder_id] if responder_type == "officer" else [],
            co_ids=[responder_id] if responder_type == "co_responder" else [],
        )
        unit = locked.get(responder_id)
        if unit is None:
            raise NotFound(
                await unit_kind.not_found_at(
                    session,
                    context.agency_id,
                    named_as=responder_type,
                    responder_id=responder_id,
                    tail="/status",
                )
            )
        # Released from the call meanwhile (a clear): nothing of that call is left to do.
        if unit.active_call_id is None:
            return session, unit, None
        if unit.active_call_id == seen:
            return session, unit, cad_id
        work = of_session(session)
        await work.restart()
        session = await work.session()
    raise Conflict("the unit was dispatched again while its status was being set; retry")


def _going_back(previous: UnitStatus, new: UnitStatus, call: str) -> Conflict:
    """The 409 of a unit going back on its call: what it may report from where it is, and
    how a status tapped by mistake is undone while the lifecycle only moves forward (the
    rule is the product's: this only says how to live with it)."""
    onward = [*ON_CALL[ON_CALL.index(previous) :], *OFF_CALL]
    return Conflict(
        f"a unit cannot go back from {previous} to {new} on its call ({call}): on a call"
        f" its status only moves forward; from {previous} it may report"
        f" {', '.join(onward[:-1])} or {onward[-1]}. A status reported by mistake cannot be"
        " stepped back: keep it until the unit leaves the call, or report available, which"
        " releases the unit from the call (the call is re-triaged if the unit led it and"
        " others stay), and have a dispatcher dispatch it to the call again, naming it in"
        " units with an override_reason"
    )


def _already(unit: Officer | CoResponder, body: StatusUpdate) -> bool:
    """Whether a report about a call the unit is off asks what it already is: back in
    service (or out of it) on no call. A retry of the report that released it, its answer
    lost, is taken (nothing changes), not told that nothing was changed; a stale busy report
    is not, nor one that would release the unit from another call."""
    return (
        body.status is not None
        and body.status in OFF_CALL
        and unit.status == body.status
        and unit.active_call_id is None
    )


def _not_on_that_call(
    about: tuple[UUID, str | None], *, call_id: UUID | None, cad_id: str | None
) -> NotOnThatCall:
    now = (
        "on no cit-dispatch call now (released from it, or the call cleared)"
        if call_id is None
        else f"on call {call_views.named(call_id, cad_id)} now"
    )
    return NotOnThatCall(
        f"this report is about call {call_views.named(*about)}, but the unit is {now}: nothing"
        " was changed. Read"
        " the unit's state (GET /v1/units/me from its terminal) and report again as it stands",
        call_id,
    )


def _external_incident(
    current: str | None, previous: UnitStatus, new: UnitStatus, body: StatusUpdate
) -> str | None:
    """The CAD incident a unit is busy on after this report: the one named, else the one it
    had while it moves on through the same incident; none once it is back in service or
    starts over (e.g. on_scene, then dispatched again: a new incident)."""
    if body.external_incident is not None or new in OFF_CALL:
        return body.external_incident
    moving_on = previous in ON_CALL and ON_CALL.index(new) >= ON_CALL.index(previous)
    return current if moving_on else None


async def _release(
    session: AsyncSession,
    context: AgencyContext,
    call_id: UUID,
    cad_id: str | None,  # the call's external_id
    assignments: list[Assignment],
    *,
    now: datetime,
    new_status: OffCallStatus = "available",
) -> list[OutboxEvent]:
    """Release assignments: units become new_status; their unit.released events, for the
    caller to write after the report that caused them (the ORM's way; a clear releases
    with its own statement, app/repositories/dispatches.py)."""
    if not assignments:
        return []
    locked = await assignment_repo.lock_units(
        session,
        agency_id=context.agency_id,
        officer_ids=sorted(a.responder_id for a in assignments if a.responder_type == "officer"),
        co_ids=sorted(a.responder_id for a in assignments if a.responder_type == "co_responder"),
    )
    await assignment_repo.release(session, [a.id for a in assignments], now, into=new_status)
    released = []
    for a in assignments:
        unit = locked.get(a.responder_id)
        if unit is not None and unit.active_call_id == call_id:
            unit.status, unit.status_at, unit.active_call_id = new_status, now, None
            unit.external_incident = None
        released.append(
            events.unit_released(
                call_id=call_id,
                external_id=cad_id,
                responder_type=a.responder_type,
                responder_id=a.responder_id,
                call_sign=a.call_sign,
                role=a.role,
                status=new_status,
                reason="status_report",
            )
        )
    return released
