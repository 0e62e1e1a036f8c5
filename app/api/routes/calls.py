from __future__ import annotations

from typing import Annotated, cast
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.api import conditional
from app.api.callers import request_id
from app.api.deps import (
    Caller,
    Context,
    Handled,
    IdempotencyKey,
    Located,
    Paging,
    ReadSession,
    Session,
    State,
    Work,
    replayed,
)
from app.api.openapi import created, replays
from app.api.problems import conflict_naming, problems
from app.api.strict_json import StrictJSONRoute
from app.schemas.call_answers import (
    CallDetailOut,
    CallExistsProblem,
    CallOut,
    DispatchedCallOut,
    RecommendationOut,
)
from app.schemas.calls import CallCreate, CallPatch, CallStatuses
from app.schemas.common import NO_NUL, DistrictCode, Page
from app.services import agency, idempotency
from app.services import call_views as views
from app.services import calls as service
from app.vocabulary import EXTERNAL_ID_MAX, CallStatus

router = APIRouter(prefix="/v1/calls", tags=["calls"], route_class=StrictJSONRoute)


_CALL_EXISTS = conflict_naming(
    CallExistsProblem,
    "Another call of the agency has this external_id (CallExistsProblem, whose call_id is"
    " that call's id), or a request with this Idempotency-Key is still running (a Problem"
    " of type …/request-in-progress, with Retry-After: retry then).",
)


@router.post(
    "",
    summary="Create a call and get a recommendation",
    status_code=201,
    response_model=CallOut,
    responses={**problems(401, 403, 413, 422, 503), **_CALL_EXISTS, **created()},
    # The answer stored under a key: the call created (a failure releases the key).
    openapi_extra=replays(201),
)
async def create_call(
    body: CallCreate,
    handling: Handled,
    request: Request,
    located: Located,
    idempotency_key: IdempotencyKey = None,
) -> CallOut | Response:
    """Take a crisis call and return it with an explained dispatch recommendation.

    With an `Idempotency-Key`, a retry of the same request replays the first answer (and
    creates no second call); the same key with another body is a 422; a retry while the
    first is still running is a 409 of type `…/request-in-progress`, with `Retry-After`.
    """
    state, work = handling.state, handling.work
    work.use_generic_plans()
    if idempotency_key is not None:
        print_ = idempotency.fingerprint("POST", "/v1/calls", body)
        replay = await idempotency.begin(state, work, key=idempotency_key, fingerprint=print_)
        if replay is not None:
            return replayed(replay, located, f"/v1/calls/{replay.body['id']}")
    point = None if body.location is None else body.location.point
    context = await agency.knowing(
        state,
        handling.context,
        codes=[] if body.district is None else [body.district],
        point=point if body.district is None else None,
    )
    out = await service.create(
        work,
        context,
        handling.who,
        body,
        cipher=state.cipher,
        request_id=request_id(request),
        idempotency_key=idempotency_key,
    )
    # The hot path's answer is built and checked once, as a CallOut; response_model would
    # dump it and validate it all over again. The commit still runs before it is sent.
    return Response(
        out.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers=located.header(f"/v1/calls/{out.id}"),
    )


@router.get("", summary="List calls", responses=problems(401, 403, 422, 503))
async def list_calls(
    who: Caller,
    context: Context,
    session: ReadSession,
    state: State,
    page: Paging,
    status: Annotated[
        list[CallStatuses] | None,
        Query(
            description="The calls' status: one, or several repeated or comma-separated"
            " (`pending,dispatched`: the calls still open)"
        ),
    ] = None,
    district: Annotated[DistrictCode | None, Query()] = None,
    external_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=EXTERNAL_ID_MAX,
            pattern=NO_NUL,
            description="The CAD's id of the call: zero or one item comes back.",
        ),
    ] = None,
) -> Page[DispatchedCallOut]:
    """Calls, newest first, each with its assignments and dispatches. Notes are never
    included in lists."""
    if district is not None:
        context = await agency.knowing(state, context, codes=[district])
    items, cursor = await views.list_page(
        session,
        context,
        statuses=None if status is None else statuses(status),
        district=district,
        external_id=external_id,
        limit=page.limit,
        cursor=page.cursor,
    )
    return Page(items=items, next_cursor=cursor)


# A write's If-Match on a call (a PATCH of its facts, a correction of its outcome).
CallIfMatch = Annotated[
    str | None,
    conditional.if_match_header(
        "The ETag of the call as read: the write is a 412, and changes nothing, if the call"
        " has changed since (without it, the last write wins)"
    ),
]
CALL_ETAG = {
    "ETag": {
        "description": "The entity tag of the call as GET /v1/calls/{id} shows it: send it"
        " back as If-Match with a PATCH",
        "schema": {"type": "string"},
    }
}


@router.get(
    "/{call_id}",
    summary="Get a call in full",
    response_model=CallDetailOut,
    responses={
        200: {"headers": CALL_ETAG},
        **conditional.NOT_MODIFIED,
        **problems(401, 403, 404, 422, 503),
    },
)
async def get_call(
    call_id: UUID,
    who: Caller,
    context: Context,
    session: Session,
    state: State,
    response: Response,
    if_none_match: Annotated[
        str | None,
        conditional.if_none_match_header(
            "The ETag of the call as last read: a 304 with no body while the call still"
            " shows as it was"
        ),
    ] = None,
) -> CallDetailOut | Response:
    """One call with its latest recommendation and its notes, and its ETag."""
    out = await views.get_detail(session, context, call_id, cipher=state.cipher)
    tag = views.etag(out)
    if (unchanged := conditional.not_modified(if_none_match, tag)) is not None:
        return unchanged
    response.headers["ETag"] = tag
    return out


@router.patch(
    "/{call_id}",
    summary="Add new information to a call (re-triage)",
    responses={200: {"headers": CALL_ETAG}, **problems(401, 403, 404, 409, 412, 413, 422, 503)},
)
async def update_call(
    call_id: UUID,
    body: CallPatch,
    who: Caller,
    context: Context,
    work: Work,
    state: State,
    request: Request,
    response: Response,
    if_match: CallIfMatch = None,
) -> DispatchedCallOut:
    """Add new information; safety merges flag by flag and the call is re-triaged. A PATCH
    that changes nothing (`{}`) only renews the recommendation. The answer is the call with
    its units and dispatches (as GET /v1/calls/{id} shows it, without its notes); its ETag
    is the call's as that GET now shows it."""
    work.use_generic_plans()
    if body.district is not None:
        context = await agency.knowing(state, context, codes=[body.district])
    out, tag = await service.update(
        await work.session(),
        context,
        who,
        call_id,
        body,
        cipher=state.cipher,
        request_id=request_id(request),
        precondition=conditional.if_match(if_match),
    )
    if tag is not None:
        response.headers["ETag"] = tag
    return out


@router.get(
    "/{call_id}/recommendations",
    summary="List a call's recommendations",
    responses=problems(401, 403, 404, 422, 503),
)
async def list_recommendations(
    call_id: UUID, who: Caller, context: Context, session: Session, page: Paging
) -> Page[RecommendationOut]:
    """Every recommendation made for the call, oldest first."""
    items, cursor = await views.recommendations(
        session, context, call_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=items, next_cursor=cursor)


def statuses(values: list[str]) -> frozenset[CallStatus]:
    """The statuses ?status= names, repeated or comma-separated (each checked by its
    pattern: one of CALL_STATUSES)."""
    return frozenset(cast(CallStatus, s) for value in values for s in value.split(","))
