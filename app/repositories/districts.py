"""SQL for districts and their adjacency pairs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.models import Call, District, DistrictAdjacency, ShiftCoverage


async def by_codes(
    session: AsyncSession, *, agency_id: UUID, codes: Iterable[str]
) -> dict[str, District]:
    wanted = set(codes)
    if not wanted:
        return {}
    stmt = select(District).where(District.agency_id == agency_id, District.code.in_(wanted))
    return {d.code: d for d in (await session.execute(stmt)).scalars()}


async def get_by_code(session: AsyncSession, *, agency_id: UUID, code: str) -> District | None:
    stmt = select(District).where(District.agency_id == agency_id, District.code == code)
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_district(session: AsyncSession, district: District) -> District | None:
    """The district read again under a FOR NO KEY UPDATE lock; None if it was deleted."""
    stmt = (
        select(District)
        .where(District.id == district.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def code_folded(session: AsyncSession, *, agency_id: UUID, code: str) -> str | None:
    """The agency's district code that is code but for the case of its letters, if any."""
    stmt = select(District.code).where(
        District.agency_id == agency_id, func.lower(District.code) == code.lower()
    )
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


# The class of the advisory locks that serialise one agency's district changes: boundaries,
# and new codes.
BOUNDARIES_LOCK = 0x0C17B0D5


async def lock_boundaries(session: AsyncSession, agency_id: UUID) -> None:
    """Wait for, and hold to the end of the transaction, the agency's boundary lock: what
    a boundary is checked against is then what is committed beside it (a read alone lets
    two requests each miss the other's new boundary)."""
    key = func.hashtext(str(agency_id))
    await session.execute(select(func.pg_advisory_xact_lock(BOUNDARIES_LOCK, key)))


async def boundaries(session: AsyncSession, agency_id: UUID) -> list[tuple[str, dict[str, Any]]]:
    """Each district's code and boundary, as committed now (not as this session may have
    loaded them before), for those that have one (a JSON null is none)."""
    stmt = select(District.code, District.boundary).where(District.agency_id == agency_id)
    return [(code, drawn) for code, drawn in await session.execute(stmt) if drawn is not None]


def list_statement(agency_id: UUID) -> Select[District]:
    return select(District).where(District.agency_id == agency_id)


async def created_since(
    session: AsyncSession, *, agency_id: UUID, since: datetime
) -> dict[str, datetime]:
    """The agency's districts created after since: when, by code."""
    stmt = select(District.code, District.created_at).where(
        District.agency_id == agency_id, District.created_at > since
    )
    return {row.code: row.created_at for row in await session.execute(stmt)}


async def all_districts(session: AsyncSession, agency_id: UUID) -> Sequence[District]:
    return (await session.execute(list_statement(agency_id))).scalars().all()


async def adjacent_codes(
    session: AsyncSession, *, agency_id: UUID, district_ids: Sequence[UUID]
) -> dict[UUID, list[str]]:
    """Codes adjacent to each of district_ids, sorted. One statement, so one snapshot: a
    neighbour deleted, or a pair made, by another request meanwhile is seen whole or not
    at all."""
    if not district_ids:
        return {}
    pair = DistrictAdjacency
    left, right = aliased(District), aliased(District)
    stmt = (
        select(left.id, left.code, right.id, right.code)
        .select_from(pair)
        .join(left, left.id == pair.district_a_id)
        .join(right, right.id == pair.district_b_id)
        .where(pair.agency_id == agency_id)
        .where(or_(pair.district_a_id.in_(district_ids), pair.district_b_id.in_(district_ids)))
    )
    wanted = set(district_ids)
    result: dict[UUID, list[str]] = defaultdict(list)
    for left_id, left_code, right_id, right_code in (await session.execute(stmt)).all():
        if left_id in wanted:
            result[left_id].append(right_code)
        if right_id in wanted:
            result[right_id].append(left_code)
    return {k: sorted(v) for k, v in result.items()}


async def replace_adjacency(
    session: AsyncSession, *, agency_id: UUID, district_id: UUID, neighbour_ids: Iterable[UUID]
) -> None:
    """Make district_id's pairs exactly the given neighbours (each stored once, unordered)."""
    await session.execute(
        delete(DistrictAdjacency).where(
            or_(
                DistrictAdjacency.district_a_id == district_id,
                DistrictAdjacency.district_b_id == district_id,
            )
        )
    )
    rows = [
        {
            "agency_id": agency_id,
            "district_a_id": min(district_id, other),
            "district_b_id": max(district_id, other),
        }
        for other in set(neighbour_ids)
    ]
    if rows:
        await session.execute(insert(DistrictAdjacency).values(rows).on_conflict_do_nothing())


async def is_referenced(session: AsyncSession, *, district_id: UUID) -> bool:
    """True when calls or shifts point at the district, so it cannot be deleted."""
    in_use = select(
        exists().where(Call.district_id == district_id)
        | exists().where(ShiftCoverage.district_id == district_id)
    )
    return bool((await session.execute(in_use)).scalar())
