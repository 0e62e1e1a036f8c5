"""Which shift names a unit: the one that started last by now, else its next one. It gives
the unit its call sign and its record (district, also_covers) whether on shift or not: a
unit may still be on a call after its shift ends, or sent by a dispatcher's override before
its first shift starts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CoResponder, District, Officer, Shift
from app.vocabulary import ON_CALL

# The shift that names a unit now, for hand-written statements and call_signs below: the one
# that started last by now (on now, or the one it worked last), else its next one. {unit} is
# the unit's id column; :agency_id and :now are the statement's. Two probes of
# ix_shift_responder_id (responder, starts_at), each one row: ordering all of the unit's
# shifts by their distance from now read every shift it ever worked, on every dispatch and
# clear, once per unit (93 rows and pages a unit at 90 days of history, 4 ms cold).
NAMING_SHIFT = """FROM (
            (SELECT worked.*, 0 AS rank FROM shift worked
             WHERE worked.agency_id = :agency_id AND worked.responder_id = {unit}
               AND worked.starts_at <= CAST(:now AS timestamptz)
             ORDER BY worked.starts_at DESC
             LIMIT 1)
            UNION ALL
            (SELECT ahead.*, 1 AS rank FROM shift ahead
             WHERE ahead.agency_id = :agency_id AND ahead.responder_id = {unit}
               AND ahead.starts_at > CAST(:now AS timestamptz)
             ORDER BY ahead.starts_at
             LIMIT 1)
        ) s
        ORDER BY s.rank
        LIMIT 1"""


# Each responder's naming shift, for many responders in one query (static SQL only).
_CALL_SIGNS = text(
    "SELECT r.id AS responder_id, s.call_sign"  # noqa: S608
    " FROM unnest(CAST(:responder_ids AS uuid[])) AS r(id)"
    f" JOIN LATERAL (SELECT s.call_sign {NAMING_SHIFT.format(unit='r.id')}) s ON true"
)


async def call_signs(
    session: AsyncSession, *, agency_id: UUID, responder_ids: Sequence[UUID], now: datetime
) -> dict[UUID, str]:
    """Each responder's call sign now, from the shift that names it (NAMING_SHIFT: the one
    that started last by now, else its next one). One query."""
    if not responder_ids:
        return {}
    rows = await session.execute(
        _CALL_SIGNS,
        {"agency_id": agency_id, "responder_ids": list(responder_ids), "now": now},
    )
    return {r.responder_id: r.call_sign for r in rows}


UnitRow = tuple[Shift, Officer | None, CoResponder | None]


def _with_active_responder(stmt: Select[Any]) -> Select[Any]:
    """The statement's shifts with their responder, only where the responder is active."""
    return (
        stmt.add_columns(Officer, CoResponder)
        .outerjoin(Officer, Officer.id == Shift.officer_id)
        .outerjoin(CoResponder, CoResponder.id == Shift.co_responder_id)
        .where(
            or_(
                and_(Shift.responder_type == "officer", Officer.active),
                and_(Shift.responder_type == "co_responder", CoResponder.active),
            )
        )
    )


async def terminal_shift(
    session: AsyncSession, *, agency_id: UUID, responder_id: UUID, now: datetime
) -> UnitRow | None:
    """The active responder's shift that started last by now: the one covering now, if any,
    else the one it worked last (a unit may still be on a call after its shift ends). With
    none started, its next one while it is on a call (sent by a dispatcher's override before
    its first shift): the call must reach its terminal. Each is one probe of
    ix_shift_responder_id; the second runs only for a unit with no shift started."""
    mine = (Shift.agency_id == agency_id, Shift.responder_id == responder_id)
    latest = (
        _with_active_responder(select(Shift).where(*mine, Shift.starts_at <= now))
        .order_by(Shift.starts_at.desc())
        .limit(1)
    )
    row = (await session.execute(latest)).first()
    if row is None:
        busy = or_(Officer.status.in_(ON_CALL), CoResponder.status.in_(ON_CALL))
        ahead = (
            _with_active_responder(select(Shift).where(*mine, Shift.starts_at > now))
            .where(busy)
            .order_by(Shift.starts_at)
            .limit(1)
        )
        row = (await session.execute(ahead)).first()
    return None if row is None else (row[0], row[1], row[2])


async def next_shift(
    session: AsyncSession, *, agency_id: UUID, responder_id: UUID, now: datetime
) -> tuple[datetime, str, str] | None:
    """The responder's next shift (its start, call sign and district's code), if one is on
    the roster. One probe of ix_shift_responder_id."""
    stmt = (
        select(Shift.starts_at, Shift.call_sign, District.code)
        .join(District, District.id == Shift.district_id)
        .where(
            Shift.agency_id == agency_id,
            Shift.responder_id == responder_id,
            Shift.starts_at > now,
        )
        .order_by(Shift.starts_at)
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row.starts_at, row.call_sign, row.code)
