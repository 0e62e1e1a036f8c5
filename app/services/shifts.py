"""Shifts: who works where and when; no responder ever has two overlapping shifts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.errors import Conflict, Invalid
from app.models import Shift
from app.records.units import UnitRecord
from app.repositories import districts as district_repo
from app.repositories import roster as roster_repo
from app.repositories import shifts as repo
from app.repositories import units as unit_repo
from app.repositories.pagination import fetch_page
from app.schemas.common import geo_location
from app.schemas.shifts import ShiftCreate, ShiftOut, UnitOut
from app.services.agency import district_id_of


async def create_many(
    session: AsyncSession, *, agency_id: UUID, bodies: Sequence[ShiftCreate], bulk: bool
) -> list[ShiftOut]:
    """Insert every shift or none: any failure raises and the request rolls back."""
    codes = {b.district for b in bodies} | {c for b in bodies for c in b.also_covers}
    found = await district_repo.by_codes(session, agency_id=agency_id, codes=codes)
    shifts: list[Shift] = []
    for index, body in enumerate(bodies):
        loc: tuple[str | int, ...] = ("body", "shifts", index) if bulk else ("body",)
        if body.district not in found:
            raise Invalid(f"unknown district {body.district}", loc=(*loc, "district"))
        unknown = sorted(set(body.also_covers) - set(found))
        if unknown:
            raise Invalid(
                f"unknown district(s) in also_covers: {', '.join(unknown)}",
                loc=(*loc, "also_covers"),
            )
        active = await repo.responder_active(
            session,
            agency_id=agency_id,
            responder_type=body.responder_type,
            responder_id=body.responder_id,
        )
        if active is None:
            raise Invalid(f"no {body.responder_type} with that id", loc=(*loc, "responder_id"))
        if not active:
            raise Invalid(f"that {body.responder_type} is not active", loc=(*loc, "responder_id"))
        shift = repo.add_shift(
            session,
            agency_id=agency_id,
            responder_type=body.responder_type,
            responder_id=body.responder_id,
            call_sign=body.call_sign,
            district_id=found[body.district].id,
            also_covers=[found[c].id for c in body.also_covers],
            starts_at=body.starts_at,
            ends_at=body.ends_at,
        )
        try:
            async with session.begin_nested():
                await session.flush()
        except IntegrityError:
            where = f"shift {index}" if bulk else "the shift"
            raise Conflict(f"{where} overlaps another shift of the same responder") from None
        shifts.append(shift)
    return await render(session, shifts)


async def render(session: AsyncSession, shifts: Sequence[Shift]) -> list[ShiftOut]:
    codes = await repo.coverage_codes(session, [s.id for s in shifts])
    return [
        ShiftOut(
            id=s.id,
            responder_type=s.responder_type,
            responder_id=s.responder_id,
            call_sign=s.call_sign,
            district=codes[s.id][0],
            also_covers=codes[s.id][1],
            starts_at=s.starts_at,
            ends_at=s.ends_at,
        )
        for s in shifts
    ]


async def _district_id(session: AsyncSession, agency_id: UUID, code: str | None) -> UUID | None:
    if code is None:
        return None
    district = await district_repo.get_by_code(session, agency_id=agency_id, code=code)
    if district is None:
        raise Invalid(f"unknown district {code}", loc=("query", "district"))
    return district.id


async def list_page(
    session: AsyncSession,
    *,
    agency_id: UUID,
    district: str | None,
    at: datetime | None,
    window_from: datetime | None,
    window_to: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ShiftOut], str | None]:
    if window_from and window_to and window_to <= window_from:
        raise Invalid("to must be after from", loc=("query", "to"))
    stmt = repo.shifts_statement(
        agency_id,
        district_id=await _district_id(session, agency_id, district),
        at=at,
        window_from=window_from,
        window_to=window_to,
    )
    rows, next_cursor = await fetch_page(session, stmt, Shift.id, limit=limit, cursor=cursor)
    return await render(session, rows), next_cursor


async def units_on_shift(
    session: AsyncSession, context: AgencyContext, *, district: str | None, now: datetime
) -> list[UnitRecord]:
    """Every active unit on shift now (serving the district, if given), and those held over
    on a call past their shift, by call sign, read from the coverage read model the triggers
    keep current. context must know the district (agency.knowing): an unknown code is a 422."""
    return await unit_repo.units_on_shift(
        await session.connection(),
        agency_id=context.agency_id,
        district_id=district_id_of(context, district),
        now=now,
        today=now.astimezone(context.timezone).date(),
    )


async def my_unit(
    session: AsyncSession, context: AgencyContext, *, responder_id: UUID, now: datetime
) -> UnitOut | None:
    """A unit's own record: from its shift on now, else from the shift it worked last (its
    call may outlast the shift); None when it is inactive or no shift of its has started."""
    row = await repo.latest_started_shift(
        session, agency_id=context.agency_id, responder_id=responder_id, now=now
    )
    return None if row is None else (await _units(session, context, [row], now))[0]


async def _units(
    session: AsyncSession, context: AgencyContext, rows: Sequence[repo.UnitRow], now: datetime
) -> list[UnitOut]:
    codes = await repo.coverage_codes(session, [s.id for s, _, _ in rows])
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
                district=codes[shift.id][0],
                # A shift that has ended covers nothing now (as GET /v1/units shows it).
                also_covers=codes[shift.id][1] if shift.ends_at > now else [],
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
