"""District rules: unique codes, symmetric adjacency, boundaries and point lookup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from shapely.geometry import shape
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext, code_meant
from app.errors import Conflict, Invalid, NotFound
from app.models import District
from app.repositories import districts as repo
from app.repositories.pagination import fetch_page
from app.schemas.districts import Boundary, DistrictCreate, DistrictOut, DistrictPatch
from app.services import audit

# Overlap smaller than this (square degrees: about a square metre at mid latitudes) is the
# float noise of two boundaries drawn along one shared edge, not an overlap.
_OVERLAP = 1e-10


async def _neighbour_ids(
    session: AsyncSession, *, agency_id: UUID, codes: Sequence[str]
) -> list[UUID]:
    found = await repo.by_codes(session, agency_id=agency_id, codes=codes)
    unknown = sorted(set(codes) - set(found))
    if unknown:
        named = await unknown_codes(session, agency_id=agency_id, codes=unknown)
        raise Invalid(f"unknown district(s) in adjacent: {named}", loc=("body", "adjacent"))
    return [found[c].id for c in codes]


async def unknown_codes(session: AsyncSession, *, agency_id: UUID, codes: Sequence[str]) -> str:
    """District codes the agency does not have, as a 422 names them: each with the code it
    has in another case, if any ("d1" typed for D1 in a roster, as at intake)."""
    return ", ".join(
        [
            code_meant(code, await repo.code_folded(session, agency_id=agency_id, code=code))
            for code in codes
        ]
    )


async def _refuse_overlap(
    session: AsyncSession, *, agency_id: UUID, code: str, boundary: Boundary | None
) -> None:
    """A 422 when the boundary overlaps another district's: a point inside both would
    place a call in one of them silently (locate takes the first), and the other's units
    would not be the ones sent. Shared edges are fine. Boundary changes in one agency
    take turns, so two at once cannot each miss the other."""
    if boundary is None:
        return
    if session.new or session.dirty:  # see update: the lock must come before any write
        raise RuntimeError("check a boundary before changing anything in the session")
    await repo.lock_boundaries(session, agency_id)
    mine = shape(boundary.model_dump())
    for other, drawn in await repo.boundaries(session, agency_id):
        if other == code:
            continue
        if mine.intersection(shape(drawn)).area > _OVERLAP:
            raise Invalid(
                f"the boundary overlaps district {other}'s; districts may share edges, not area",
                loc=("body", "boundary"),
            )


async def create(session: AsyncSession, *, agency_id: UUID, body: DistrictCreate) -> DistrictOut:
    # New codes take turns, as boundary changes do: the check below then sees every code
    # committed before this one (the unique key holds exact codes only).
    await repo.lock_boundaries(session, agency_id)
    taken = await repo.code_folded(session, agency_id=agency_id, code=body.code)
    if taken == body.code:
        raise Conflict(f"district {body.code} already exists")
    if taken is not None:
        # A CAD that writes the code in the other case would route to the wrong district.
        raise Conflict(
            f"district {taken} already exists; a code that differs from it only in the case"
            " of its letters would be taken for it"
        )
    neighbours = await _neighbour_ids(session, agency_id=agency_id, codes=body.adjacent)
    await _refuse_overlap(session, agency_id=agency_id, code=body.code, boundary=body.boundary)
    district = District(
        agency_id=agency_id,
        code=body.code,
        name=body.name,
        boundary=body.boundary.model_dump() if body.boundary else None,
    )
    session.add(district)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"district {body.code} already exists") from None
    await _make_adjacent(
        session, agency_id=agency_id, district_id=district.id, neighbours=neighbours
    )
    return await render(session, district)


async def get(session: AsyncSession, *, agency_id: UUID, code: str) -> District:
    district = await repo.get_by_code(session, agency_id=agency_id, code=code)
    if district is None:
        raise NotFound(f"district {code} not found")
    return district


async def update(
    session: AsyncSession, *, agency_id: UUID, code: str, body: DistrictPatch
) -> tuple[DistrictOut, dict[str, dict[str, Any]]]:
    """The district changed, and each field changed, before and after (for the audit
    trail: a boundary moved or a neighbour dropped changes where calls are routed)."""
    district = await get(session, agency_id=agency_id, code=code)
    moves = "boundary" in body.model_fields_set
    if moves:
        # First, with nothing of this request written: the boundary lock is taken before
        # the district's row is (a name flushed first would hold the row while waiting for
        # the lock that a boundary-only change, waiting for the row, holds: a deadlock).
        await _refuse_overlap(session, agency_id=agency_id, code=code, boundary=body.boundary)
    # Then the row, locked and read as it stands: of two changes at once, the second
    # records what the first left as its `from`, not what both read before either wrote.
    # FOR NO KEY UPDATE, as an UPDATE of it takes: a neighbour's adjacency pair naming it
    # (a key-share lock) does not wait on it, so two districts changing their pairs at
    # once cannot deadlock. Deleted meanwhile, it is a 404 as if never there.
    locked = await repo.lock_district(session, district)
    if locked is None:
        raise NotFound(f"district {code} not found")
    district = locked
    before = (await render(session, district)).model_dump(mode="json")
    if moves:
        district.boundary = body.boundary.model_dump() if body.boundary else None
    if body.name is not None:
        district.name = body.name
    if body.adjacent is not None:
        if code in body.adjacent:
            raise Invalid("a district cannot be adjacent to itself", loc=("body", "adjacent"))
        neighbours = await _neighbour_ids(session, agency_id=agency_id, codes=body.adjacent)
        await _make_adjacent(
            session, agency_id=agency_id, district_id=district.id, neighbours=neighbours
        )
    await session.flush()
    out = await render(session, district)
    return out, audit.changes(before, out.model_dump(mode="json", exclude={"code"}))


async def delete(session: AsyncSession, *, agency_id: UUID, code: str) -> None:
    district = await get(session, agency_id=agency_id, code=code)
    in_use = Conflict(f"district {code} has calls or shifts; it cannot be deleted")
    if await repo.is_referenced(session, district_id=district.id):
        raise in_use
    await session.delete(district)
    try:
        await session.flush()
    except IntegrityError:
        # A call or shift in it committed after the check: its foreign key refuses.
        raise in_use from None


async def _make_adjacent(
    session: AsyncSession, *, agency_id: UUID, district_id: UUID, neighbours: list[UUID]
) -> None:
    """Make the district's pairs exactly these; a 409 when one of them, or the district,
    was deleted since it was read (its foreign key refuses the pair)."""
    try:
        await repo.replace_adjacency(
            session, agency_id=agency_id, district_id=district_id, neighbour_ids=neighbours
        )
    except IntegrityError:
        raise Conflict(
            "the adjacent districts changed meanwhile: read them again, and retry"
        ) from None


async def render(session: AsyncSession, district: District) -> DistrictOut:
    return (await render_many(session, [district]))[0]


async def render_many(session: AsyncSession, districts: Sequence[District]) -> list[DistrictOut]:
    if not districts:
        return []
    adjacent = await repo.adjacent_codes(
        session, agency_id=districts[0].agency_id, district_ids=[d.id for d in districts]
    )
    return [
        DistrictOut(code=d.code, name=d.name, adjacent=adjacent.get(d.id, []), boundary=d.boundary)
        for d in districts
    ]


async def list_page(
    session: AsyncSession, *, agency_id: UUID, limit: int, cursor: str | None
) -> tuple[list[DistrictOut], str | None]:
    rows, next_cursor = await fetch_page(
        session, repo.list_statement(agency_id), District.id, limit=limit, cursor=cursor
    )
    return await render_many(session, rows), next_cursor


async def locate(
    session: AsyncSession, *, context: AgencyContext, lat: float, lon: float
) -> DistrictOut:
    code = context.locate(lat, lon)
    if code is None:
        raise NotFound("no district boundary contains that point")
    return await render(session, await get(session, agency_id=context.agency_id, code=code))
