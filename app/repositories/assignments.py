"""SQL for assignments and the unit rows they lock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Assignment, Call, CoResponder, Dispatch, Officer
from app.repositories.naming_shift import NAMING_SHIFT
from app.vocabulary import OffCallStatus, ResponderType


async def call_of_unit(
    session: AsyncSession, *, agency_id: UUID, responder_type: ResponderType, responder_id: UUID
) -> UUID | None:
    """The call the unit is on, as last committed (its row is not locked)."""
    model = Officer if responder_type == "officer" else CoResponder
    found: UUID | None = (
        await session.execute(
            select(model.active_call_id).where(
                model.agency_id == agency_id, model.id == responder_id
            )
        )
    ).scalar_one_or_none()
    return found


async def lock_call(session: AsyncSession, *, agency_id: UUID, call_id: UUID) -> str | None:
    """Lock the call's row, and give its external_id (the CAD's id of it; None when it has
    none), which the events of a status report name it by. A call is locked before its
    units (dispatch and clear do so)."""
    external_id: str | None = (
        await session.execute(
            select(Call.external_id)
            .where(Call.agency_id == agency_id, Call.id == call_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    return external_id


async def mark_call_changed(
    session: AsyncSession, *, agency_id: UUID, call_id: UUID, at: datetime
) -> None:
    """The call's assignments or recommendation changed: so has the call (updated_at).

    Not only for clients: a read of the call that takes its lock in the same statement
    (dispatch_reads.read_for_dispatch) tells that its snapshot is older than the lock by the
    call's row alone. A transaction that holds the call and changes what that read returns
    must give the call a new row version before it commits."""
    await session.execute(
        update(Call).where(Call.agency_id == agency_id, Call.id == call_id).values(updated_at=at)
    )


async def touch_call(session: AsyncSession, *, agency_id: UUID, call_id: UUID) -> None:
    """A new row version of the call, its values as they were: mark_call_changed's duty
    (above) for a transaction that changes what a dispatch reads of the call (a
    recommendation renewed) but nothing the call shows, its updated_at included."""
    await session.execute(
        update(Call)
        .where(Call.agency_id == agency_id, Call.id == call_id)
        .values(updated_at=Call.updated_at)
    )


async def lock_units(
    session: AsyncSession, *, agency_id: UUID, officer_ids: Sequence[UUID], co_ids: Sequence[UUID]
) -> dict[UUID, Officer | CoResponder]:
    """Lock the units' rows, officers then co-responders, each by id: one global order.

    Every dispatch, release and status change locks in this order, so concurrent
    dispatches wait for each other instead of deadlocking.
    """
    locked: dict[UUID, Officer | CoResponder] = {}
    if officer_ids:
        officers = (
            select(Officer)
            .where(Officer.agency_id == agency_id, Officer.id.in_(officer_ids))
            .order_by(Officer.id)
            .with_for_update()
        )
        locked.update((o.id, o) for o in (await session.execute(officers)).scalars())
    if co_ids:
        co_responders = (
            select(CoResponder)
            .where(CoResponder.agency_id == agency_id, CoResponder.id.in_(co_ids))
            .order_by(CoResponder.id)
            .with_for_update()
        )
        locked.update((c.id, c) for c in (await session.execute(co_responders)).scalars())
    return locked


async def for_call(session: AsyncSession, call_id: UUID) -> list[Assignment]:
    return (await for_calls(session, [call_id])).get(call_id, [])


async def for_calls(
    session: AsyncSession, call_ids: Sequence[UUID]
) -> dict[UUID, list[Assignment]]:
    """Each call's assignments, oldest first, in one query."""
    found: dict[UUID, list[Assignment]] = {}
    if call_ids:
        stmt = (
            select(Assignment)
            .where(Assignment.call_id.in_(call_ids))
            .order_by(Assignment.assigned_at, Assignment.id)
        )
        for assignment in (await session.execute(stmt)).scalars():
            found.setdefault(assignment.call_id, []).append(assignment)
    return found


async def dispatches_for_calls(
    session: AsyncSession, call_ids: Sequence[UUID]
) -> dict[UUID, list[Dispatch]]:
    """Each call's dispatches, oldest first, in one query."""
    found: dict[UUID, list[Dispatch]] = {}
    if call_ids:
        stmt = (
            select(Dispatch)
            .where(Dispatch.call_id.in_(call_ids))
            .order_by(Dispatch.at, Dispatch.id)
        )
        for dispatch in (await session.execute(stmt)).scalars():
            found.setdefault(dispatch.call_id, []).append(dispatch)
    return found


async def mark_on_scene(session: AsyncSession, responder_id: UUID, at: datetime) -> bool:
    """Record when the unit first reached the scene of the call it is assigned to; whether
    this was the first time."""
    result = await session.execute(
        update(Assignment)
        .where(
            Assignment.responder_id == responder_id,
            Assignment.released_at.is_(None),
            Assignment.on_scene_at.is_(None),
        )
        .values(on_scene_at=at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def worked(session: AsyncSession, call_id: UUID) -> bool:
    """Whether any unit is still on the call."""
    stmt = select(Assignment.id).where(
        Assignment.call_id == call_id, Assignment.released_at.is_(None)
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def leading(session: AsyncSession, call_id: UUID) -> ResponderType | None:
    """The kind of unit leading the call now, if one does."""
    stmt = select(Assignment.responder_type).where(
        Assignment.call_id == call_id,
        Assignment.released_at.is_(None),
        Assignment.role == "lead",
    )
    found: ResponderType | None = (await session.execute(stmt)).scalars().first()
    return found


# The units that led the call and last left it while others stayed on it (called away
# from it: a lead's leaving re-triaged the call, unit_status._after_leaving), each
# named by its call sign now (else its name), in the order they last left: released on a
# call that is still open, which only a unit's own report does (clearing ends the call),
# not back on it since. Each is judged by its last leaving, in whatever part: one sent
# back as support and called away again is still called away; one sent back and then last
# to leave was called away from no one. A lead that left last, or once the others had, is
# no unit called away, and may be recommended again (the call waits to be cleared, or needs
# units again).
_LEFT_LEADS = text(
    "SELECT a.responder_type, a.responder_id,"  # noqa: S608
    " coalesce(min(s.call_sign), min(o.name), min(c.name)) AS call_sign"
    " FROM assignment a"
    " LEFT JOIN officer o ON a.responder_type = 'officer' AND o.id = a.responder_id"
    " LEFT JOIN co_responder c ON a.responder_type = 'co_responder' AND c.id = a.responder_id"
    f" LEFT JOIN LATERAL (SELECT s.call_sign {NAMING_SHIFT.format(unit='a.responder_id')}) s"
    " ON true"
    " WHERE a.agency_id = :agency_id AND a.call_id = :call_id AND a.released_at IS NOT NULL"
    " AND EXISTS (SELECT 1 FROM assignment l WHERE l.call_id = a.call_id"
    " AND l.responder_id = a.responder_id AND l.role = 'lead' AND l.released_at IS NOT NULL)"
    " AND NOT EXISTS (SELECT 1 FROM assignment b WHERE b.call_id = a.call_id"
    " AND b.responder_id = a.responder_id AND b.released_at IS NULL)"
    " AND a.released_at = (SELECT max(x.released_at) FROM assignment x"
    " WHERE x.call_id = a.call_id AND x.responder_id = a.responder_id)"
    " AND EXISTS (SELECT 1 FROM assignment o WHERE o.call_id = a.call_id AND o.id <> a.id"
    " AND o.assigned_at <= a.released_at"
    " AND (o.released_at IS NULL OR o.released_at > a.released_at))"
    " GROUP BY a.responder_type, a.responder_id"
    " ORDER BY min(a.released_at), a.responder_id"
)


async def left_leads(
    session: AsyncSession, *, agency_id: UUID, call_id: UUID, now: datetime
) -> list[tuple[ResponderType, UUID, str]]:
    """The units that led the call and last left it, by their own report, while others
    stayed on it, and are not on it now, in the order of that last leaving: (type, id,
    call sign, else name). One query."""
    rows = await session.execute(
        _LEFT_LEADS, {"agency_id": agency_id, "call_id": call_id, "now": now}
    )
    return [(r.responder_type, r.responder_id, r.call_sign) for r in rows]


# The unit whose out-of-service report ended the last assignment on the call, when no unit
# is on it now: it left the call without units, not having finished the work (a unit
# reporting available last finished it). Named by the call sign it was on the call under,
# else its name. None when a unit is on the call, or the last to leave reported available
# (or none ever was on it).
_STRANDED_BY = text(
    "SELECT a.responder_type, a.responder_id,"
    " coalesce(a.call_sign, o.name, c.name) AS call_sign"
    " FROM assignment a"
    " LEFT JOIN officer o ON a.responder_type = 'officer' AND o.id = a.responder_id"
    " LEFT JOIN co_responder c ON a.responder_type = 'co_responder' AND c.id = a.responder_id"
    " WHERE a.agency_id = :agency_id AND a.call_id = :call_id"
    " AND a.released_status = 'out_of_service'"
    " AND NOT EXISTS (SELECT 1 FROM assignment b WHERE b.call_id = a.call_id"
    " AND (b.released_at IS NULL OR b.released_at > a.released_at))"
    " ORDER BY a.released_at DESC, a.responder_id LIMIT 1"
)


async def stranded_by(
    session: AsyncSession, *, agency_id: UUID, call_id: UUID
) -> tuple[ResponderType, UUID, str] | None:
    """The unit that left the call without units by going out of service, if it did:
    (type, id, call sign, else name). One query."""
    row = (
        await session.execute(_STRANDED_BY, {"agency_id": agency_id, "call_id": call_id})
    ).first()
    return None if row is None else (row.responder_type, row.responder_id, row.call_sign)


async def active_for_responder(session: AsyncSession, responder_id: UUID) -> Assignment | None:
    stmt = select(Assignment).where(
        Assignment.responder_id == responder_id, Assignment.released_at.is_(None)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def release(
    session: AsyncSession, assignment_ids: Sequence[UUID], at: datetime, *, into: OffCallStatus
) -> None:
    """End the assignments at `at`, their units released into status `into`."""
    if assignment_ids:
        await session.execute(
            update(Assignment)
            .where(Assignment.id.in_(assignment_ids))
            .values(released_at=at, released_status=into)
        )
