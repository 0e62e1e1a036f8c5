"""Shifts: who works where and when; no responder ever has two overlapping shifts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.failures import constraint_of
from app.db.unit_of_work import read_after_failure
from app.errors import Conflict, Invalid, NotFound, ShiftOverlaps
from app.events.body import instant_text
from app.models import District, Shift
from app.repositories import districts as district_repo
from app.repositories import shifts as repo
from app.repositories.pagination import fetch_page
from app.repositories.shift_views import shift_views
from app.schemas.shifts import ShiftCreate, ShiftOut, ShiftPatch, shift_window_problem
from app.services import audit, shift_standing
from app.services.busy import busy_on
from app.services.districts import unknown_codes


async def create_many(
    session: AsyncSession, *, agency_id: UUID, bodies: Sequence[ShiftCreate], bulk: bool
) -> list[ShiftOut]:
    """Insert every shift or none: any failure raises and the request rolls back."""
    codes = {b.district for b in bodies} | {c for b in bodies for c in b.also_covers}
    found = await district_repo.by_codes(session, agency_id=agency_id, codes=codes)
    shifts: list[Shift] = []
    for index, body in enumerate(bodies):
        loc: tuple[str | int, ...] = ("body", "shifts", index) if bulk else ("body",)
        await _known(session, agency_id, found, body.district, body.also_covers, loc)
        standing = await shift_standing.admit(
            session,
            agency_id=agency_id,
            responder_type=body.responder_type,
            responder_id=body.responder_id,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            loc=loc,
            responder_loc=(*loc, "responder_id"),
        )
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
        except IntegrityError as exc:
            if constraint_of(exc) != "shift_no_overlap":
                raise _districts_changed() from None
            where = f"shift {index}" if bulk else "the shift"
            # The shift_no_overlap trigger's rule (migration 0023), for the shifts of this
            # request it has seen (they are gone with the restart below); overlapping_shift
            # applies it to those stored.
            earlier = next(
                (
                    i
                    for i, b in enumerate(bodies[:index])
                    if b.responder_id == body.responder_id
                    and b.starts_at < body.ends_at
                    and b.ends_at > body.starts_at
                ),
                None,
            )
            if earlier is not None:
                raise ShiftOverlaps(f"{where} overlaps shift {earlier} of this request") from None
            raise await _overlap(
                session, where, agency_id, body.responder_id, body.starts_at, body.ends_at, None
            ) from None
        if not standing.active:
            await repo.record_as_worked(session, shift.id)
        shifts.append(shift)
    return await render(session, shifts)


def _districts_changed() -> Conflict:
    """The 409 for a shift whose write failed on a district removed at the same moment:
    nothing was changed."""
    return Conflict("the shift's districts changed meanwhile: read them again, and retry")


async def _overlap(
    session: AsyncSession,
    where: str,
    agency_id: UUID,
    responder_id: UUID,
    starts_at: datetime,
    ends_at: datetime,
    other_than: UUID | None,
) -> Conflict:
    """The 409 for a shift the overlap trigger refused, naming the shift it overlaps
    (shift_id), so a coordinator can find it. Read in a fresh transaction: the failed
    statement aborted this one, and the request is refused, so nothing of it is kept."""
    found = await repo.overlapping_shift(
        await read_after_failure(session),
        agency_id=agency_id,
        responder_id=responder_id,
        starts_at=starts_at,
        ends_at=ends_at,
        other_than=other_than,
    )
    if found is None:  # changed since: a retry may succeed
        return Conflict(f"{where} overlapped another shift of the same responder; retry")
    shift_id, its_start, its_end = found
    return ShiftOverlaps(
        f"{where} overlaps shift {shift_id} of the same responder,"
        f" {instant_text(its_start)} to {instant_text(its_end)}",
        shift_id,
    )


async def _known(
    session: AsyncSession,
    agency_id: UUID,
    found: Mapping[str, District],
    district: str | None,
    also_covers: Sequence[str] | None,
    loc: tuple[str | int, ...],
) -> None:
    """A 422 at loc for a district code the agency does not have."""
    if district is not None and district not in found:
        named = await unknown_codes(session, agency_id=agency_id, codes=[district])
        raise Invalid(f"unknown district {named}", loc=(*loc, "district"))
    unknown = sorted(set(also_covers or ()) - set(found))
    if unknown:
        named = await unknown_codes(session, agency_id=agency_id, codes=unknown)
        raise Invalid(f"unknown district(s) in also_covers: {named}", loc=(*loc, "also_covers"))


# How far before now a started shift may be told to have ended: the time a request takes
# to arrive, and a console's clock a little behind.
END_SKEW = timedelta(minutes=1)


async def update(
    session: AsyncSession, *, agency_id: UUID, shift_id: UUID, body: ShiftPatch, now: datetime
) -> tuple[ShiftOut, dict[str, dict[str, Any]]]:
    """Change a shift that has not ended; the shift as it is now, and each field changed
    with its value before and after (for the audit trail).

    A shift that has ended is the record of who worked (409). One that has started may
    only end earlier (now at the soonest: an officer sent home sick at 3 a.m. leaves the
    candidates at once) or later; the rest of it stays as worked (409: end it, and
    schedule a new shift from now to move the unit). One that has not started may change
    in every way a new shift could, but not into one that has already ended. So may one
    entered after it had ended (_entered_late), into the past too. Overlaps are a 409, as
    on create. As on create too, a responder who has left keeps only shifts within the
    period they served (shift_standing; a 422 otherwise).
    """
    shift = await repo.locked_shift(session, agency_id=agency_id, shift_id=shift_id)
    if shift is None:
        raise NotFound("shift not found")
    late = _entered_late(shift)
    if shift.ends_at <= now and not late:
        raise Conflict("the shift has ended: it stays as the record of who worked")
    was = (await render(session, [shift]))[0]
    found = await district_repo.by_codes(
        session,
        agency_id=agency_id,
        codes={body.district or was.district, *was.also_covers} | set(body.also_covers or ()),
    )
    await _known(session, agency_id, found, body.district, body.also_covers, ("body",))
    district = was.district if body.district is None else body.district
    # A new home district it already covered is no longer among those it also covers.
    also = (
        [c for c in was.also_covers if c != district]
        if body.also_covers is None
        else sorted(body.also_covers)
    )
    if district in also:
        raise Invalid(
            "also_covers must not repeat the shift's own district", loc=("body", "also_covers")
        )
    starts_at = was.starts_at if body.starts_at is None else body.starts_at
    ends_at = was.ends_at if body.ends_at is None else body.ends_at
    call_sign = was.call_sign if body.call_sign is None else body.call_sign
    if (problem := shift_window_problem(starts_at, ends_at)) is not None:
        raise Invalid(problem, loc=("body", "ends_at"))
    kept = (call_sign, district, set(also), starts_at) == (
        was.call_sign,
        was.district,
        set(was.also_covers),
        was.starts_at,
    )
    if kept and ends_at == was.ends_at:
        return was, {}  # its own values sent again: nothing to write
    # As on create: a responder who has left keeps only shifts within the period served;
    # but a shift still ahead, kept at a deactivation (it counts again at a reactivation),
    # may change while it stays ahead, as before: its coverage rows are the unit's,
    # inactive while it is, and none has ended to be counted as worked. One so kept that
    # has started since may be ended, as any started shift may (neither PATCH nor DELETE
    # could end it, and a reactivation put the officer on shift until its end); its rows
    # stay inactive, as what they served is none of it.
    ahead = was.starts_at > now and starts_at > now
    ending = not late and shift.starts_at <= now and kept and ends_at <= was.ends_at
    standing = (
        None
        if ahead or ending
        else await shift_standing.admit(
            session,
            agency_id=agency_id,
            responder_type=shift.responder_type,
            responder_id=was.responder_id,
            starts_at=starts_at,
            ends_at=ends_at,
            loc=("body",),
            responder_loc=("body",),
        )
    )
    if late:
        pass  # never a roster anyone worked from: corrected as entered
    elif shift.starts_at <= now:
        if not kept:
            raise Conflict(
                "the shift has started: only its end may change; to move the unit, end this"
                " shift now and schedule a new one from now"
            )
        if ends_at < now - END_SKEW:
            raise Invalid(
                "a started shift cannot have ended in the past: end it now at the soonest",
                loc=("body", "ends_at"),
            )
    elif ends_at <= now:
        raise Invalid(
            "a shift not yet started cannot be moved to one that has ended",
            loc=("body", "ends_at"),
        )
    try:
        async with session.begin_nested():
            shift.call_sign, shift.district_id = call_sign, found[district].id
            shift.starts_at, shift.ends_at = starts_at, ends_at
            await repo.rewrite_coverage(session, shift, [found[c].id for c in also])
            if standing is not None and not standing.active:
                await repo.record_as_worked(session, shift.id)
    except IntegrityError as exc:
        if constraint_of(exc) == "shift_no_overlap":
            raise await _overlap(
                session, "the shift", agency_id, was.responder_id, starts_at, ends_at, shift_id
            ) from None
        raise _districts_changed() from None
    now_is = (await render(session, [shift]))[0]
    before, after = was.model_dump(mode="json"), now_is.model_dump(mode="json")
    changed = audit.changes(before, after)
    return now_is, changed


def _entered_late(shift: Shift) -> bool:
    """Whether the shift was entered after it had ended (a roster written up afterwards,
    or a date mistyped): no dispatch ever read it, so it is corrected, or cancelled, as
    entered. One entered before its end was the roster dispatch worked from: it stays."""
    # END_SKEW: a started shift may be told to have ended up to a minute before now, so
    # one entered a moment ago may end before it was entered: it was still worked from.
    return shift.created_at > shift.ends_at + END_SKEW


async def cancel(
    session: AsyncSession, *, agency_id: UUID, shift_id: UUID, now: datetime
) -> ShiftOut:
    """Cancel a shift that has not started, or one entered after it had ended (a record
    entered in error: _entered_late); the shift as it was (for the audit trail). One that
    has started is a 409: end it early instead, so the record of who worked stays. So is
    the only shift of a busy unit (on a call, or a CAD's incident, named or not): it names
    the unit on the consoles."""
    shift = await repo.locked_shift(session, agency_id=agency_id, shift_id=shift_id)
    if shift is None:
        raise NotFound("shift not found")
    if shift.ends_at <= now and not _entered_late(shift):
        raise Conflict("the shift has ended: it stays as the record of who worked")
    if now >= shift.starts_at and not _entered_late(shift):
        raise Conflict(
            "the shift has started: it stays as the record of who worked;"
            " to end it early, PATCH its ends_at"
        )
    unit = await repo.unit_if_its_only_shift(session, shift=shift)
    busy = None if unit is None else busy_on(unit)
    if busy is not None:
        # Sent before its first shift, the unit is on the consoles as this shift's: without
        # it the dispatcher would lose sight of a unit still on scene.
        raise Conflict(
            f"the unit is on {busy}, and this is its only shift: it names the unit on the"
            " consoles; release the unit (status available), or give it its right shift,"
            " then cancel this one"
        )
    out = (await render(session, [shift]))[0]
    await session.delete(shift)
    await session.flush()
    return out


async def render(session: AsyncSession, shifts: Sequence[Shift]) -> list[ShiftOut]:
    """The shifts as the API shows them: with their districts and whether they count for
    coverage, read in one statement for them all."""
    views = await shift_views(session, [s.id for s in shifts])
    return [
        ShiftOut(
            id=s.id,
            responder_type=s.responder_type,
            responder_id=s.responder_id,
            call_sign=s.call_sign,
            district=views[s.id].district,
            also_covers=views[s.id].also_covers,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            counts_for_coverage=views[s.id].counted,
            not_counted=shift_standing.not_counted(s.responder_type, s.ends_at, views[s.id]),
        )
        for s in shifts
    ]


async def _district_id(session: AsyncSession, agency_id: UUID, code: str | None) -> UUID | None:
    if code is None:
        return None
    district = await district_repo.get_by_code(session, agency_id=agency_id, code=code)
    if district is None:
        named = await unknown_codes(session, agency_id=agency_id, codes=[code])
        raise Invalid(f"unknown district {named}", loc=("query", "district"))
    return district.id


async def get(session: AsyncSession, *, agency_id: UUID, shift_id: UUID) -> ShiftOut:
    """One shift of the agency, as the list shows it (404 for any other)."""
    found = await repo.shift(session, agency_id=agency_id, shift_id=shift_id)
    if found is None:
        raise NotFound("shift not found")
    return (await render(session, [found]))[0]


async def list_page(
    session: AsyncSession,
    *,
    agency_id: UUID,
    district: str | None,
    responder_id: UUID | None,
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
        responder_id=responder_id,
        at=at,
        window_from=window_from,
        window_to=window_to,
    )
    if at is not None or window_from is not None or window_to is not None:
        await repo.plan_for_its_times(session)
    rows, next_cursor = await fetch_page(session, stmt, Shift.id, limit=limit, cursor=cursor)
    return await render(session, rows), next_cursor
