from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from app.api.callers import request_id
from app.api.deps import Handled, ReadHandled
from app.api.problems import problems
from app.api.strict_json import StrictJSONRoute
from app.errors import NotFound
from app.schemas.call_answers import AssignmentOut, DispatchedCallOut
from app.schemas.common import DistrictCode, Items
from app.schemas.shifts import UnitOut, units_json
from app.services import agency, call_views
from app.services import units as service

router = APIRouter(prefix="/v1/units", tags=["units"], route_class=StrictJSONRoute)


class MyUnit(BaseModel):
    """A terminal's view: its unit, its active assignment (its role on the call), and the
    call with every unit assigned to it (never its notes, but for the cautions they tell)."""

    unit: UnitOut
    assignment: AssignmentOut | None
    call: DispatchedCallOut | None
    cautions: list[str] = Field(
        description="The CAD's cautions on the call that the service does not read as a"
        " safety flag (a dog, a hazard, words it does not know), as the call's notes tell"
        " them: what the recommendation's `caution_not_read` warning asks to read. Empty"
        " when there are none, or no call."
    )


# The response is built from plain records, not a UnitOut per unit: at 20,000 officers
# validating and dumping thousands of models cost most of the request. response_model
# keeps the OpenAPI document as it was; units_json writes the same bytes.
@router.get(
    "",
    summary="List units on shift (the units board)",
    response_model=Items[UnitOut],
    responses=problems(401, 403, 422, 503),
)
async def list_units(
    handling: ReadHandled, district: Annotated[DistrictCode | None, Query()] = None
) -> Response:
    """Every responder on shift now (serving the district, if given), for dispatch consoles,
    and those still busy on a call (cit-dispatch's or a CAD's) after their shift ended, until
    released (listed under the districts of the shift whose record they show)."""
    context = handling.context
    if district is not None:
        # The district's id from the agency's context: no round trip to look it up.
        context = await agency.knowing(handling.state, context, codes=[district])
    conn = await handling.work.connection()
    units = await service.units_on_shift(conn, context, district=district, now=datetime.now(UTC))
    return Response(units_json(units), media_type="application/json")


@router.get(
    "/me",
    summary="The calling unit's own record and assignment",
    responses=problems(401, 403, 404, 503),
)
async def my_unit(request: Request, handling: Handled) -> MyUnit:
    """A unit key's own unit record, its active assignment (its role), and the call it is
    assigned to with every unit assigned to it (never the call's notes; the CAD's cautions
    they tell that the service does not read as a safety flag are in `cautions`).

    Off shift, the record is from the shift the unit worked last (`shift_ends_at` is past):
    a unit still on a call when its shift ends keeps seeing that call. A unit sent by
    override before its first shift sees its call too, with its next shift's record. A read
    that shows a call is in the audit trail as that call's `call.read`.
    """
    who, context, session = handling.who, handling.context, await handling.work.session()
    if who.responder_id is None:  # only unit keys reach here, and they name their unit
        raise NotFound("this key names no unit")
    now = datetime.now(UTC)
    mine = await service.my_unit(session, context, responder_id=who.responder_id, now=now)
    if mine is None:
        # Off duty before its first shift (said so, with when it starts), or no longer active.
        raise NotFound(
            await service.without_a_record(session, context, responder_id=who.responder_id, now=now)
        )
    call, assignment = None, None
    cautions: list[str] = []
    if mine.active_call_id is not None:
        call, cautions = await call_views.read_by_its_unit(
            session,
            context,
            mine.active_call_id,
            who=who,
            request_id=request_id(request),
            cipher=handling.state.cipher,
        )
        assignment = next(
            (
                a
                for a in call.assignments
                if a.responder_id == mine.responder_id and a.released_at is None
            ),
            None,
        )
    return MyUnit(unit=mine, assignment=assignment, call=call, cautions=cautions)
