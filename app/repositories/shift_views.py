"""SQL for what a shift's representation reads besides its own row: its districts' codes
and whether the coverage report counts it (its coverage rows' `active`, with its
responder's standing to say why not)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CoResponder, District, Officer, ShiftCoverage


class ShiftView(NamedTuple):
    """A shift's districts, and what the coverage report makes of it: counted is its rows'
    `active` (the unit's standing as the roster holds it for the shift: migration 0003,
    app/repositories/coverage.py counts only active rows); responder_active and, for an
    officer, separated_at are the responder's as they are now."""

    district: str
    also_covers: list[str]
    counted: bool
    responder_active: bool
    separated_at: datetime | None


def _codes(shift_ids: Sequence[UUID], *columns: Any) -> Select[Any]:
    """Each coverage row of the shifts: its shift, whether it is the home district's, the
    district's code, and columns; by code."""
    return (
        select(ShiftCoverage.shift_id, ShiftCoverage.is_home, District.code, *columns)
        .join(District, District.id == ShiftCoverage.district_id)
        .where(ShiftCoverage.shift_id.in_(shift_ids))
        .order_by(District.code)
    )


async def coverage_codes(
    session: AsyncSession, shift_ids: Sequence[UUID]
) -> dict[UUID, tuple[str, list[str]]]:
    """For each shift: its home district code and the codes it also covers."""
    if not shift_ids:
        return {}
    views = await _grouped(session, _codes(shift_ids))
    return {sid: (home[2], covers) for sid, (home, covers) in views.items()}


async def shift_views(session: AsyncSession, shift_ids: Sequence[UUID]) -> dict[UUID, ShiftView]:
    """For each shift: its ShiftView, in one statement for them all."""
    if not shift_ids:
        return {}
    stmt = (
        _codes(
            shift_ids,
            ShiftCoverage.active,
            func.coalesce(Officer.active, CoResponder.active),
            Officer.separated_at,
        )
        .outerjoin(
            Officer,
            and_(
                ShiftCoverage.responder_type == "officer",
                Officer.id == ShiftCoverage.responder_id,
            ),
        )
        .outerjoin(
            CoResponder,
            and_(
                ShiftCoverage.responder_type == "co_responder",
                CoResponder.id == ShiftCoverage.responder_id,
            ),
        )
    )
    views = await _grouped(session, stmt)
    return {
        sid: ShiftView(home[2], covers, home[3], home[4], home[5])
        for sid, (home, covers) in views.items()
    }


async def _grouped(
    session: AsyncSession, stmt: Select[Any]
) -> dict[UUID, tuple[Sequence[Any], list[str]]]:
    """Each shift's home district row, and the codes of the districts it also covers."""
    home: dict[UUID, Sequence[Any]] = {}
    covers: dict[UUID, list[str]] = defaultdict(list)
    for row in await session.execute(stmt):
        if row[1]:
            home[row[0]] = row
        else:
            covers[row[0]].append(row[2])
    return {sid: (row, covers.get(sid, [])) for sid, row in home.items()}
