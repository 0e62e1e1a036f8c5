from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from app.api.deps import Audit, Caller, Located, Paging, ReadSession, Session
from app.api.openapi import created
from app.api.problems import conflict_naming, problems
from app.api.strict_json import StrictJSONRoute
from app.schemas.common import DistrictCode, Instant, Items, Page
from app.schemas.shifts import (
    ShiftBulkCreate,
    ShiftCreate,
    ShiftOut,
    ShiftOverlapProblem,
    ShiftPatch,
)
from app.services import shifts as service

router = APIRouter(prefix="/v1/shifts", tags=["shifts"], route_class=StrictJSONRoute)

_OVERLAPS = conflict_naming(
    ShiftOverlapProblem,
    "The shift overlaps another of its responder's (ShiftOverlapProblem, whose shift_id is"
    " the stored shift it overlaps)",
)


@router.post(
    "",
    summary="Schedule a shift",
    status_code=201,
    responses={**problems(401, 403, 413, 422, 503), **_OVERLAPS, **created()},
)
async def create_shift(
    body: ShiftCreate, who: Caller, session: Session, audit: Audit, located: Located
) -> ShiftOut:
    """Schedule a shift (at most 24 h). An overlapping shift for the responder is a 409.
    For a responder no longer active, only a shift that lies within the period they last
    served (an officer's, from their latest start to their separation: a roster written up
    late) is taken; any other is a 422 that says why."""
    [out] = await service.create_many(session, agency_id=who.agency_id, bodies=[body], bulk=False)
    audit.identify(out.id)
    located.at(f"/v1/shifts/{out.id}")
    return out


@router.post(
    "/bulk",
    summary="Schedule shifts in bulk",
    status_code=201,
    responses={**problems(401, 403, 413, 422, 503), **_OVERLAPS},
)
async def create_shifts(
    body: ShiftBulkCreate, who: Caller, session: Session, audit: Audit
) -> Items[ShiftOut]:
    """Schedule many shifts: all of them, or none if any is invalid or overlaps."""
    items = await service.create_many(
        session, agency_id=who.agency_id, bodies=body.shifts, bulk=True
    )
    audit.detail = {"shift_ids": [str(item.id) for item in items]}
    return Items(items=items)


@router.patch(
    "/{shift_id}",
    summary="Change a shift",
    responses={
        **problems(401, 403, 404, 413, 422, 503),
        **conflict_naming(
            ShiftOverlapProblem,
            "The shift would overlap another of its responder's (ShiftOverlapProblem, whose"
            " shift_id is that shift's id), or has ended, or has started and may only change"
            " its end (Problem)",
        ),
    },
)
async def update_shift(
    shift_id: UUID, body: ShiftPatch, who: Caller, session: Session, audit: Audit
) -> ShiftOut:
    """Change a shift that has not ended. One not yet started changes as freely as a new
    one (call sign, districts, times), but not into one already over. One under way may
    only end earlier (now at the soonest: a unit sent home leaves the candidates at once,
    and the consoles unless it is on a call) or later; the rest stays as worked (409: end
    it, and schedule a new shift from now to move the unit). A shift that has ended is the
    record of who worked: 409. An overlap with another shift of the responder is a 409. A
    responder no longer active keeps only shifts within the period they last served, as on
    create (422)."""
    out, changed = await service.update(
        session, agency_id=who.agency_id, shift_id=shift_id, body=body, now=datetime.now(UTC)
    )
    audit.identify(shift_id, {"changed": changed})
    return out


@router.delete(
    "/{shift_id}",
    summary="Cancel a shift",
    status_code=204,
    responses=problems(401, 403, 404, 409, 422, 503),
)
async def cancel_shift(shift_id: UUID, who: Caller, session: Session, audit: Audit) -> Response:
    """Cancel a shift that has not started (or one entered after it had ended). One that
    has started is a 409: end it early with `PATCH` (`ends_at`), so the record of who
    worked stays. So is a unit's only shift while the unit is busy (on a call it was sent
    to before that shift, or a CAD's incident): it names the unit on the consoles."""
    was = await service.cancel(
        session, agency_id=who.agency_id, shift_id=shift_id, now=datetime.now(UTC)
    )
    audit.identify(shift_id, was.model_dump(mode="json", exclude={"id"}))
    return Response(status_code=204)


@router.get("", summary="List shifts", responses=problems(401, 403, 422, 503))
async def list_shifts(
    who: Caller,
    session: ReadSession,
    page: Paging,
    district: Annotated[DistrictCode | None, Query()] = None,
    responder_id: Annotated[
        UUID | None, Query(description="Only this officer's or co-responder's shifts")
    ] = None,
    at: Annotated[Instant | None, Query()] = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Annotated[Instant | None, Query()] = None,
) -> Page[ShiftOut]:
    """Shifts serving a district, of one responder, running at an instant, or overlapping
    [from, to); the filters given all apply."""
    items, cursor = await service.list_page(
        session,
        agency_id=who.agency_id,
        district=district,
        responder_id=responder_id,
        at=at,
        window_from=from_,
        window_to=to,
        limit=page.limit,
        cursor=page.cursor,
    )
    return Page(items=items, next_cursor=cursor)


@router.get("/{shift_id}", summary="Get a shift", responses=problems(401, 403, 404, 422, 503))
async def get_shift(shift_id: UUID, who: Caller, session: ReadSession) -> ShiftOut:
    """One shift, as the list shows it (the id a create, the list or a 409 gave)."""
    return await service.get(session, agency_id=who.agency_id, shift_id=shift_id)
