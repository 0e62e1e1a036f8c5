"""EIDO export (NENA-STA-021): a call as an EIDO document, by the call's id or by its
incident id (STA-024 retrieval); and finding the agency's call an incident id names, which
import uses too (app/services/eido.py). Never the call's notes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.eido import outgoing, registry
from app.errors import NotFound
from app.models import Officer
from app.records.calls import CallRecord
from app.repositories import agencies as agency_repo
from app.repositories import assignments as assignment_repo
from app.repositories import calls as call_repo
from app.repositories import naming_shift
from app.repositories import roster as roster_repo
from app.services import call_views


def incident_id(call: CallRecord) -> str:
    """The call's Incident Tracking Identifier: the one it was imported with (or given as
    external_id), else the one the export assigns it."""
    if outgoing.is_incident_id(call.external_id):
        assert call.external_id is not None
        return call.external_id
    return outgoing.incident_id_for(call.id, call.agency_id)


async def export_call(
    session: AsyncSession, context: AgencyContext, call_id: UUID
) -> dict[str, Any]:
    """The call's current state as an EIDO document (never its notes)."""
    call = await call_views.get(session, context, call_id)
    return await _document(session, context, call)


async def export_incident(
    session: AsyncSession, context: AgencyContext, incident: str
) -> tuple[UUID, dict[str, Any]]:
    """The call and EIDO document of the agency's incident with this id (STA-024 retrieval)."""
    call = await incident_call(session, context, incident, for_update=False)
    if call is None:
        raise NotFound("incident not found")
    return call.id, await _document(session, context, call)


async def incident_call(
    session: AsyncSession, context: AgencyContext, incident: str, *, for_update: bool
) -> CallRecord | None:
    """The agency's call whose incident id this is: its external_id, or the id the export
    assigned it (a call the agency's own exports named)."""
    incident = registry.canonical_incident_id(incident)
    # By id first, cheaply: most documents a CAD sends name a new incident.
    call_id = await call_repo.call_id_for_external_id(
        await session.connection(), agency_id=context.agency_id, external_id=incident
    )
    if call_id is None:
        call_id = outgoing.assigned_call_id(incident, context.agency_id)
    if call_id is None:
        return None
    call = await call_repo.get_call(
        session, agency_id=context.agency_id, call_id=call_id, for_update=for_update
    )
    return call if call is not None and incident_id(call) == incident else None


async def _document(
    session: AsyncSession, context: AgencyContext, call: CallRecord
) -> dict[str, Any]:
    return outgoing.document(await _snapshot(session, context, call))


async def last_exported(
    session: AsyncSession, context: AgencyContext, call: CallRecord
) -> datetime:
    """The lastUpdateTimeStamp the call's export would carry now."""
    return outgoing.last_update(await _snapshot(session, context, call))


async def _snapshot(
    session: AsyncSession, context: AgencyContext, call: CallRecord
) -> outgoing.CallSnapshot:
    units = await _units(session, context, call)
    agency = await agency_repo.get_agency(session, context.agency_id)
    return outgoing.CallSnapshot(
        call=call,
        incident_id=incident_id(call),
        units=units,
        agency_name=None if agency is None else agency.name,
    )


async def _units(
    session: AsyncSession, context: AgencyContext, call: CallRecord
) -> tuple[outgoing.UnitOnCall, ...]:
    """Every unit ever assigned to the call, as its latest assignment left it."""
    latest = {a.responder_id: a for a in await assignment_repo.for_call(session, call.id)}
    if not latest:
        return ()
    now = datetime.now(UTC)
    people = await roster_repo.units_by_id(
        session,
        agency_id=context.agency_id,
        officer_ids=[i for i, a in latest.items() if a.responder_type == "officer"],
        co_ids=[i for i, a in latest.items() if a.responder_type == "co_responder"],
    )
    # Each unit under the call sign it was dispatched under (its assignment's), as the
    # call's assignments name it: a cleared call's export named its units by the shifts they
    # work today. Only an assignment that kept none (no shift named its unit then) is named
    # by its unit's shift now, if it has one since.
    unsigned = [i for i, a in latest.items() if a.call_sign is None]
    signs = await naming_shift.call_signs(
        session, agency_id=context.agency_id, responder_ids=unsigned, now=now
    )
    # An officer is CIT on the call when certified on the agency's date they were assigned
    # to it, as the outcome report's with_cit_officer counts them. Read on the date of the
    # export, a cleared call's CIT officer whose certification lapsed since was shown as
    # not CIT on it, and one certified since as CIT.
    assigned_on = {
        i: (person.state_officer_id, latest[i].assigned_at.astimezone(context.timezone).date())
        for i, person in people.items()
        if isinstance(person, Officer)
    }
    certified = await roster_repo.certified_on_days(session, days=assigned_on.values())
    return tuple(
        outgoing.UnitOnCall(
            responder_type=a.responder_type,
            responder_id=a.responder_id,
            name=people[a.responder_id].name,
            call_sign=a.call_sign or signs.get(a.responder_id),
            role=a.role,
            cit_certified=assigned_on.get(a.responder_id) in certified,
            status=people[a.responder_id].status,
            assigned_at=a.assigned_at,
            released_at=a.released_at,
            released_status=a.released_status,
            # Once released, what the unit does is no longer the incident's news (outgoing:
            # a released unit is shown as the incident left it).
            status_at=people[a.responder_id].status_at if a.released_at is None else None,
        )
        for a in sorted(latest.values(), key=lambda a: (a.assigned_at, a.id))
        if a.responder_id in people
    )
