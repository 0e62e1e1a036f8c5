from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import Audit, Caller, Paging, ReadSession, Session
from app.api.problems import problems
from app.api.strict_json import StrictJSONRoute
from app.schemas.common import DistrictCode, Instant, Items, Page
from app.schemas.shifts import ShiftBulkCreate, ShiftCreate, ShiftOut
from app.services import shifts as service

router = APIRouter(prefix="/v1/shifts", tags=["shifts"], route_class=StrictJSONRoute)


@router.post("", status_code=201, responses=problems(401, 403, 409, 413, 422, 503))
async def create_shift(body: ShiftCreate, who: Caller, session: Session, audit: Audit) -> ShiftOut:
    """Schedule a shift (at most 24 h). An overlapping shift for the responder is a 409."""
    [out] = await service.create_many(session, agency_id=who.agency_id, bodies=[body], bulk=False)
    audit.identify(out.id)
    return out


@router.post("/bulk", status_code=201, responses=problems(401, 403, 409, 413, 422, 503))
async def create_shifts(
    body: ShiftBulkCreate, who: Caller, session: Session, audit: Audit
) -> Items[ShiftOut]:
    """Schedule many shifts: all of them, or none if any is invalid or overlaps."""
    items = await service.create_many(
        session, agency_id=who.agency_id, bodies=body.shifts, bulk=True
    )
    audit.detail = {"shift_ids": [str(item.id) for item in items]}
    return Items(items=items)


@router.get("", responses=problems(401, 403, 422, 503))
async def list_shifts(
    who: Caller,
    session: ReadSession,
    page: Paging,
    district: Annotated[DistrictCode | None, Query()] = None,
    at: Annotated[Instant | None, Query()] = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Annotated[Instant | None, Query()] = None,
) -> Page[ShiftOut]:
    """Shifts serving a district, running at an instant, or overlapping [from, to)."""
    items, cursor = await service.list_page(
        session,
        agency_id=who.agency_id,
        district=district,
        at=at,
        window_from=from_,
        window_to=to,
        limit=page.limit,
        cursor=page.cursor,
    )
    return Page(items=items, next_cursor=cursor)
