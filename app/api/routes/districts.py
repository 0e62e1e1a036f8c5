from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.deps import (
    Audit,
    Caller,
    Context,
    Located,
    Paging,
    ReadSession,
    Session,
    State,
    Work,
)
from app.api.openapi import created
from app.api.problems import problems
from app.api.strict_json import StrictJSONRoute
from app.schemas.common import DistrictCode, Latitude, Longitude, Page
from app.schemas.districts import DistrictCreate, DistrictOut, DistrictPatch
from app.services import agency
from app.services import districts as service

router = APIRouter(prefix="/v1/districts", tags=["districts"], route_class=StrictJSONRoute)


@router.post(
    "",
    summary="Create a district",
    status_code=201,
    responses={**problems(401, 403, 409, 413, 422, 503), **created()},
)
async def create_district(
    body: DistrictCreate,
    who: Caller,
    session: Session,
    work: Work,
    state: State,
    audit: Audit,
    located: Located,
) -> DistrictOut:
    """Create a district; adjacency is symmetric and every adjacent code must exist."""
    out = await service.create(session, agency_id=who.agency_id, body=body)
    audit.identify(out.code)
    located.at(f"/v1/districts/{out.code}")
    work.after_commit(lambda: agency.forget(state, who.agency_id))
    return out


@router.get("", summary="List districts", responses=problems(401, 403, 422, 503))
async def list_districts(who: Caller, session: ReadSession, page: Paging) -> Page[DistrictOut]:
    items, cursor = await service.list_page(
        session, agency_id=who.agency_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=items, next_cursor=cursor)


@router.get(
    "/locate",
    summary="Find the district containing a point",
    responses=problems(401, 403, 404, 422, 503),
)
async def locate_district(
    who: Caller,
    context: Context,
    session: ReadSession,
    state: State,
    lat: Annotated[Latitude, Query()],
    lon: Annotated[Longitude, Query()],
) -> DistrictOut:
    """The district whose boundary contains the point."""
    context = await agency.knowing(state, context, point=(lat, lon))
    return await service.locate(session, context=context, lat=lat, lon=lon)


@router.get("/{code}", summary="Get a district", responses=problems(401, 403, 404, 422, 503))
async def get_district(code: DistrictCode, who: Caller, session: ReadSession) -> DistrictOut:
    district = await service.get(session, agency_id=who.agency_id, code=code)
    return await service.render(session, district)


@router.patch(
    "/{code}", summary="Update a district", responses=problems(401, 403, 404, 413, 422, 503)
)
async def update_district(
    code: DistrictCode,
    body: DistrictPatch,
    who: Caller,
    session: Session,
    work: Work,
    state: State,
    audit: Audit,
) -> DistrictOut:
    """Change a district; `adjacent` replaces all of this district's adjacency pairs."""
    out, changed = await service.update(session, agency_id=who.agency_id, code=code, body=body)
    audit.identify(code, {"changed": changed})
    work.after_commit(lambda: agency.forget(state, who.agency_id))
    return out


@router.delete(
    "/{code}",
    summary="Delete a district",
    status_code=204,
    responses=problems(401, 403, 404, 409, 422, 503),
)
async def delete_district(
    code: DistrictCode, who: Caller, session: Session, work: Work, state: State
) -> Response:
    """Delete a district that no call or shift refers to."""
    await service.delete(session, agency_id=who.agency_id, code=code)
    work.after_commit(lambda: agency.forget(state, who.agency_id))
    return Response(status_code=204)
