"""The units on the consoles: who is on shift now, and a unit's own record, read from the
shifts that name them (the roster itself: app/services/shifts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.agency_context import AgencyContext
from app.events.body import instant_text
from app.records.units import UnitRecord
from app.repositories import naming_shift, shift_views
from app.repositories import roster as roster_repo
from app.repositories import units as unit_repo
from app.schemas.common import geo_location
from app.schemas.shifts import UnitOut
from app.services.agency import district_id_of
from app.vocabulary import invisible_escaped


async def units_on_shift(
    conn: AsyncConnection, context: AgencyContext, *, district: str | None, now: datetime
) -> list[UnitRecord]:
    """Every active unit on shift now (serving the district, if given), and those held over
    on a call past their shift, by call sign, read from the coverage read model the triggers
    keep current. context must know the district (agency.knowing): an unknown code is a 422.
    It takes the unit of work's connection, as intake does: an ORM session, made and closed
    for the two raw statements, was about a twentieth of serve's work on one district."""
    return await unit_repo.units_on_shift(
        conn,
        agency_id=context.agency_id,
        district_id=district_id_of(context, district),
        now=now,
        today=now.astimezone(context.timezone).date(),
    )


async def my_unit(
    session: AsyncSession, context: AgencyContext, *, responder_id: UUID, now: datetime
) -> UnitOut | None:
    """A unit's own record: from its shift on now, else from the shift it worked last (its
    call may outlast the shift), else, while it is on a call, from its next one (sent by
    override before its first shift); None when it is inactive, or no shift of its has
    started and it is on no call."""
    row = await naming_shift.terminal_shift(
        session, agency_id=context.agency_id, responder_id=responder_id, now=now
    )
    return None if row is None else (await _units(session, context, [row], now))[0]


async def without_a_record(
    session: AsyncSession, context: AgencyContext, *, responder_id: UUID, now: datetime
) -> str:
    """Why a unit has no record (my_unit gave none), for its terminal: off duty until its
    first shift, named with its start, call sign and district, or with none on the roster;
    or no longer active (its keys are revoked with its separation, but a key checked a
    moment before, or held in another instance's cache for its seconds, still gets here)."""
    unit = (
        await roster_repo.units_by_id(
            session, agency_id=context.agency_id, officer_ids=[responder_id], co_ids=[responder_id]
        )
    ).get(responder_id)
    if unit is None or not unit.active:
        return "your unit is not active: it has left the agency's roster"
    ahead = await naming_shift.next_shift(
        session, agency_id=context.agency_id, responder_id=responder_id, now=now
    )
    if ahead is None:
        # On a call or not: a record needs a call sign, which comes from a shift.
        return (
            "your unit has no shift on the roster: its record (its call sign) comes from"
            " one; a supervisor enters them"
        )
    starts, call_sign, district = ahead
    return (
        f"your unit is off duty: its first shift starts at {instant_text(starts)} (call"
        f" sign {invisible_escaped(call_sign)}, district {invisible_escaped(district)}); its"
        " record shows here from then, or once a dispatcher sends it"
    )


async def _units(
    session: AsyncSession,
    context: AgencyContext,
    rows: Sequence[naming_shift.UnitRow],
    now: datetime,
) -> list[UnitOut]:
    codes = await shift_views.coverage_codes(session, [s.id for s, _, _ in rows])
    certs = await roster_repo.valid_certifications(
        session,
        state_officer_ids=[o.state_officer_id for _, o, _ in rows if o is not None],
        on=now.astimezone(context.timezone).date(),
    )
    units = []
    for shift, officer, co_responder in rows:
        person = officer or co_responder
        assert person is not None
        location = geo_location(person.lat, person.lon)
        units.append(
            UnitOut(
                responder_type=shift.responder_type,
                responder_id=person.id,
                name=person.name,
                call_sign=shift.call_sign,
                # The shift's districts, on now or not (ended, or not yet begun), as GET
                # /v1/units lists the unit.
                district=codes[shift.id][0],
                also_covers=codes[shift.id][1],
                shift_ends_at=shift.ends_at,
                status=person.status,
                location=location,
                cit_certified=officer is not None and officer.state_officer_id in certs,
                trainings=officer.trainings if officer else None,
                specialties=co_responder.specialties if co_responder else None,
                active_call_id=person.active_call_id,
                external_incident=person.external_incident,
            )
        )
    return units
