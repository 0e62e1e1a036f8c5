"""SQL for shifts, their district coverage, and who is on shift now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import Select, delete, exists, func, null, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.ids import new_id
from app.models import CoResponder, Officer, Shift, ShiftCoverage
from app.vocabulary import UnitStatus

MAX_SHIFT = timedelta(hours=24)


class Standing(NamedTuple):
    """Whether a responder is active and, for an officer, the period they last served:
    from served_from (None: not on record) until served_until (None: not separated).
    Co-responders keep no such period."""

    active: bool
    served_from: datetime | None
    served_until: datetime | None


async def responder_standing(
    session: AsyncSession, *, agency_id: UUID, responder_type: str, responder_id: UUID
) -> Standing | None:
    """The responder's standing; None when the agency has no such responder. Its row is
    locked as the shift_no_overlap trigger locks it (FOR NO KEY UPDATE): a shift created
    beside a separation waits for it and is refused, or is seen by it
    (app/services/separation.py, lock)."""
    if responder_type == "officer":
        stmt = select(Officer.active, Officer.serving_since, Officer.separated_at).where(
            Officer.agency_id == agency_id, Officer.id == responder_id
        )
    else:
        stmt = select(CoResponder.active, null(), null()).where(
            CoResponder.agency_id == agency_id, CoResponder.id == responder_id
        )
    row = (await session.execute(stmt.with_for_update(key_share=True))).one_or_none()
    return None if row is None else Standing(*row)


async def record_as_worked(session: AsyncSession, shift_id: UUID) -> None:
    """Count the ended shift's coverage rows as an active unit's: the shift of a responder
    who has left since, entered or changed within the period they served. The rows take
    the unit's `active` as it is now (migration 0003's trigger), and the coverage report
    counts only active rows; those of a shift that ended before its unit left keep it as
    it stood then (end_shift_now). Never a row not yet ended: the candidates read those."""
    await session.execute(
        update(ShiftCoverage)
        .where(ShiftCoverage.shift_id == shift_id, ShiftCoverage.ends_at <= func.now())
        .values(active=True)
        .execution_options(synchronize_session=False)
    )


def add_shift(
    session: AsyncSession,
    *,
    agency_id: UUID,
    responder_type: str,
    responder_id: UUID,
    call_sign: str,
    district_id: UUID,
    also_covers: Sequence[UUID],
    starts_at: datetime,
    ends_at: datetime,
) -> Shift:
    shift = Shift(
        id=new_id(),
        agency_id=agency_id,
        responder_type=responder_type,
        officer_id=responder_id if responder_type == "officer" else None,
        co_responder_id=responder_id if responder_type == "co_responder" else None,
        call_sign=call_sign,
        district_id=district_id,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    session.add(shift)
    _add_coverage(session, shift, responder_id, also_covers)
    return shift


def _add_coverage(
    session: AsyncSession, shift: Shift, responder_id: UUID, also_covers: Sequence[UUID]
) -> None:
    """The shift's coverage rows: its home district and each it also covers (the ranking
    state is filled in by migration 0003's trigger)."""
    session.add(_coverage_row(shift, responder_id, shift.district_id, is_home=True))
    for covered in also_covers:
        session.add(_coverage_row(shift, responder_id, covered, is_home=False))


def _coverage_row(
    shift: Shift, responder_id: UUID, district_id: UUID, *, is_home: bool
) -> ShiftCoverage:
    return ShiftCoverage(
        shift_id=shift.id,
        district_id=district_id,
        agency_id=shift.agency_id,
        is_home=is_home,
        responder_type=shift.responder_type,
        responder_id=responder_id,
        call_sign=shift.call_sign,
        home_district_id=shift.district_id,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
    )


async def shift(session: AsyncSession, *, agency_id: UUID, shift_id: UUID) -> Shift | None:
    """The agency's shift, or None."""
    stmt = select(Shift).where(Shift.agency_id == agency_id, Shift.id == shift_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def locked_shift(session: AsyncSession, *, agency_id: UUID, shift_id: UUID) -> Shift | None:
    """The agency's shift, locked for a change (FOR UPDATE): changes to one shift are
    serialised, so its coverage rows are written again by one at a time. Its responder's
    row is locked too, FOR NO KEY UPDATE as the overlap trigger locks it (so two changes to
    the responder's shifts wait for each other rather than deadlock): a status report at
    the same moment, whose trigger copies the unit's state onto its coverage rows, comes
    wholly before they are written again (which reads that state) or after (and finds the
    new rows)."""
    stmt = select(Shift).where(Shift.agency_id == agency_id, Shift.id == shift_id)
    shift = (await session.execute(stmt.with_for_update())).scalar_one_or_none()
    if shift is not None:
        model = Officer if shift.responder_type == "officer" else CoResponder
        responder = select(model.id).where(model.id == shift.responder_id)
        await session.execute(responder.with_for_update(key_share=True))
    return shift


async def lock_current_shift(
    session: AsyncSession, *, agency_id: UUID, responder_id: UUID
) -> tuple[UUID, datetime] | None:
    """The id and end of the responder's shift under way now (the transaction's now()),
    locked FOR UPDATE as locked_shift locks one: before the responder's own row, the order
    a shift's change takes, so a separation and a change to the shift wait rather than
    deadlock. No shift lasts longer than MAX_SHIFT, which bounds the scan."""
    stmt = _current_shift(agency_id, responder_id).with_for_update()
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (row.id, row.ends_at)


async def current_shift_id(
    session: AsyncSession, *, agency_id: UUID, responder_id: UUID
) -> UUID | None:
    """The id of the responder's shift under way now, read without a lock."""
    row = (await session.execute(_current_shift(agency_id, responder_id))).one_or_none()
    return None if row is None else row.id


def _current_shift(agency_id: UUID, responder_id: UUID) -> Select[UUID, datetime]:
    now = func.now()
    return select(Shift.id, Shift.ends_at).where(
        Shift.agency_id == agency_id,
        Shift.responder_id == responder_id,
        Shift.starts_at < now,
        Shift.starts_at > now - MAX_SHIFT,
        Shift.ends_at > now,
    )


async def end_shift_now(session: AsyncSession, shift_id: UUID) -> datetime:
    """End the shift, and its coverage rows, at the transaction's now(), which it returns:
    what was worked stays on the roster as worked. Before its unit is made inactive, whose
    trigger marks only the rows still ahead of now() (migration 0003), so the hours worked
    keep counting as covered."""
    ended = await session.execute(
        update(Shift)
        .where(Shift.id == shift_id)
        .values(ends_at=func.now())
        .returning(Shift.ends_at)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(ShiftCoverage)
        .where(ShiftCoverage.shift_id == shift_id)
        .values(ends_at=func.now())
        .execution_options(synchronize_session=False)
    )
    at: datetime = ended.scalar_one()
    return at


async def rewrite_coverage(
    session: AsyncSession, shift: Shift, also_covers: Sequence[UUID]
) -> None:
    """Bring the changed shift's coverage rows in line with it: the rows of districts it
    still covers are updated in place (a status report or a certification recorded
    meanwhile, whose triggers update them too, then waits and applies to the new
    version), those of districts it no longer covers removed, new ones added (their unit
    state read by migration 0003's trigger). The shift is read back (the database
    computes its responder_id)."""
    responder_id = shift.responder_id  # read before the first statement flushes the change
    covered = [shift.district_id, *also_covers]
    of_shift = ShiftCoverage.shift_id == shift.id
    await session.execute(
        update(ShiftCoverage)
        .where(of_shift, ShiftCoverage.district_id.in_(covered))
        .values(
            is_home=ShiftCoverage.district_id == shift.district_id,
            call_sign=shift.call_sign,
            home_district_id=shift.district_id,
            starts_at=shift.starts_at,
            ends_at=shift.ends_at,
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(ShiftCoverage)
        .where(of_shift, ShiftCoverage.district_id.not_in(covered))
        .execution_options(synchronize_session=False)
    )
    rows = await session.execute(select(ShiftCoverage.district_id).where(of_shift))
    present = set(rows.scalars())
    for district_id in covered:
        if district_id not in present:
            is_home = district_id == shift.district_id
            session.add(_coverage_row(shift, responder_id, district_id, is_home=is_home))
    await session.flush()
    await session.refresh(shift)


def shifts_statement(
    agency_id: UUID,
    *,
    district_id: UUID | None,
    responder_id: UUID | None,
    at: datetime | None,
    window_from: datetime | None,
    window_to: datetime | None,
) -> Select[Shift]:
    stmt = select(Shift).where(Shift.agency_id == agency_id)
    if responder_id is not None:
        stmt = stmt.where(Shift.responder_id == responder_id)
    if district_id is not None:
        stmt = stmt.where(
            exists().where(
                ShiftCoverage.shift_id == Shift.id, ShiftCoverage.district_id == district_id
            )
        )
    if at is not None:
        # starts_at > at - 24h lets the index bound the scan: no shift is longer.
        stmt = stmt.where(
            Shift.starts_at <= at, Shift.starts_at > at - MAX_SHIFT, Shift.ends_at > at
        )
    if window_from is not None:
        # The same bound for a window: a shift ending after its start began at most a day
        # before it. Without it, a window read every shift the agency had before its end.
        stmt = stmt.where(Shift.ends_at > window_from, Shift.starts_at > window_from - MAX_SHIFT)
    if window_to is not None:
        stmt = stmt.where(Shift.starts_at < window_to)
    return stmt


# The shifts of a time (at, or a window) are few among all the roster keeps; planned
# generically (asyncpg prepares statements), the page's ORDER BY id walked the primary key
# through all of them instead (124 ms against 1.4 ms, at 90 days of history). Local to the
# listing's transaction.
_CUSTOM_PLANS = text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")


async def plan_for_its_times(session: AsyncSession) -> None:
    """Plan the transaction's statements for their own values (a listing by time)."""
    await session.execute(_CUSTOM_PLANS)


class UnitState(NamedTuple):
    active_call_id: UUID | None
    external_incident: str | None
    status: UnitStatus


async def unit_if_its_only_shift(session: AsyncSession, *, shift: Shift) -> UnitState | None:
    """The state of the shift's unit (its call, the CAD's incident, its status) when it has
    no other shift: the one that names it on the consoles (NAMING_SHIFT), a unit sent
    before its first shift. None otherwise. Read under locked_shift's locks."""
    model = Officer if shift.responder_type == "officer" else CoResponder
    other = (
        select(Shift.id)
        .where(
            Shift.agency_id == shift.agency_id,
            Shift.responder_id == shift.responder_id,
            Shift.id != shift.id,
        )
        .exists()
    )
    stmt = select(model.active_call_id, model.external_incident, model.status).where(
        model.id == shift.responder_id, ~other
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    return UnitState(row.active_call_id, row.external_incident, row.status)


async def shifts_overlapping(
    session: AsyncSession, agency_id: UUID, start: datetime, end: datetime
) -> dict[UUID, list[tuple[datetime, datetime]]]:
    """Each responder's shifts (start, end) of the agency that overlap [start, end)."""
    stmt = select(Shift.responder_id, Shift.starts_at, Shift.ends_at).where(
        Shift.agency_id == agency_id, Shift.starts_at < end, Shift.ends_at > start
    )
    out: dict[UUID, list[tuple[datetime, datetime]]] = {}
    for row in await session.execute(stmt):
        out.setdefault(row.responder_id, []).append((row.starts_at, row.ends_at))
    return out


async def overlapping_shift(
    conn: AsyncConnection,
    *,
    agency_id: UUID,
    responder_id: UUID,
    starts_at: datetime,
    ends_at: datetime,
    other_than: UUID | None,
) -> tuple[UUID, datetime, datetime] | None:
    """The responder's first shift, other than other_than, that overlaps [starts_at,
    ends_at) (its id, start and end): the one a shift refused by the shift_no_overlap
    trigger clashed with. The trigger's rule (migration 0023), read back; the service
    applies it to the shifts of one request too (app/services/shifts.py, create_many)."""
    stmt = select(Shift.id, Shift.starts_at, Shift.ends_at).where(
        Shift.agency_id == agency_id,
        Shift.responder_id == responder_id,
        Shift.starts_at < ends_at,
        Shift.ends_at > starts_at,
        # A shift lasts at most 24 hours (ck_shift_at_most_24h): the index scan starts there.
        Shift.starts_at > starts_at - MAX_SHIFT,
    )
    if other_than is not None:
        stmt = stmt.where(Shift.id != other_than)
    row = (await conn.execute(stmt.order_by(Shift.starts_at).limit(1))).first()
    return None if row is None else (row.id, row.starts_at, row.ends_at)
