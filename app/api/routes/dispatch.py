from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.api import conditional
from app.api.callers import request_id
from app.api.deps import Audit, Caller, Context, Handled, IdempotencyKey, State, Work, replayed
from app.api.openapi import replays
from app.api.problems import PROBLEM_MEDIA_TYPE, problems
from app.api.routes.calls import CALL_ETAG, CallIfMatch
from app.api.strict_json import StrictJSONRoute
from app.errors import PROBLEM_BASE
from app.schemas.dispatch import (
    ClearRequest,
    DispatchedCallOut,
    DispatchRequest,
    OutcomeCorrection,
    RecommendationChangedProblem,
    UnitsUnavailableProblem,
)
from app.services import clearing, idempotency
from app.services import dispatch as service

router = APIRouter(prefix="/v1/calls", tags=["dispatch"], route_class=StrictJSONRoute)

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "A unit was taken meanwhile, the call is cleared, nothing is left to "
        "assign, or recommendation_id is no longer the call's latest recommendation. Nothing "
        "was assigned; when units were unavailable the body names them and carries a fresh "
        "recommendation, which is stored in the call's history (UnitsUnavailableProblem); "
        "when the recommendation changed, it carries the latest, as stored "
        "(RecommendationChangedProblem); otherwise it is a plain Problem. A request with "
        "this Idempotency-Key still running is a Problem of type …/request-in-progress, "
        "with Retry-After: retry then.",
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": {
                    "anyOf": [
                        {"$ref": f"#/components/schemas/{UnitsUnavailableProblem.__name__}"},
                        {"$ref": f"#/components/schemas/{RecommendationChangedProblem.__name__}"},
                        {"$ref": "#/components/schemas/Problem"},
                    ]
                }
            }
        },
    }
}


@router.post(
    "/{call_id}/dispatch",
    summary="Dispatch units to a call",
    response_model=DispatchedCallOut,
    responses={**problems(401, 403, 404, 413, 422, 503), **_UNAVAILABLE},
    # The answers stored under a key: the dispatch, and its 409 with units unavailable.
    openapi_extra=replays(200, 409),
)
async def dispatch_call(
    call_id: UUID,
    handling: Handled,
    request: Request,
    body: DispatchRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Assign the latest recommendation's units (or the ones given, with an override
    reason). Every unit is assigned, or none; with `recommendation_id`, only while that is
    the call's latest recommendation. Units already on the call keep their parts,
    unless units are given or the recommended lead changed since the last dispatch (an
    escalation): then they take the parts named (a CIT officer on the call takes the lead).
    Without units, on a call that has a lead, the recommendation's units join a lead of the
    other kind in the part their kind plays beside it, and a CIT officer it names (in
    whatever part) is sent to lead when the officer leading is not CIT: a CIT officer takes
    charge of the scene even when not first there. A lead sent takes over from any other,
    who steps down (to the part the units name it in, else an officer to backup, a
    co-responder to support). `Idempotency-Key` works as on POST /v1/calls."""
    state, work = handling.state, handling.work
    work.use_generic_plans()
    request_body = body or DispatchRequest()
    if idempotency_key is not None:
        print_ = idempotency.fingerprint("POST", f"/v1/calls/{call_id}/dispatch", request_body)
        replay = await idempotency.begin(state, work, key=idempotency_key, fingerprint=print_)
        if replay is not None:
            return replayed(replay)
    outcome = await service.dispatch(
        await work.session(),
        handling.context,
        handling.who,
        call_id,
        request_body,
        request_id=request_id(request),
    )
    if isinstance(outcome, service.UnitsUnavailable):
        status, payload = 409, _unavailable_problem(outcome)
    else:
        status, payload = 200, outcome.model_dump(mode="json")
    if idempotency_key is not None:
        # Stored in the dispatch's own transaction: both commit, or neither.
        await idempotency.complete(work, key=idempotency_key, status=status, body=payload)
    if isinstance(outcome, service.UnitsUnavailable):
        return JSONResponse(payload, status_code=409, media_type=PROBLEM_MEDIA_TYPE)
    # Built and checked once, as a DispatchedCallOut: response_model would dump it and
    # validate it all over again (as for call intake). The commit still runs before it is
    # sent.
    return Response(outcome.model_dump_json(), media_type="application/json")


def _unavailable_problem(outcome: service.UnitsUnavailable) -> dict[str, Any]:
    return {
        "type": PROBLEM_BASE + "units-unavailable",
        "title": "Units unavailable",
        "status": 409,
        "detail": outcome.detail,
        "unavailable_units": [u.model_dump(mode="json") for u in outcome.unavailable],
        "recommendation": outcome.recommendation.model_dump(mode="json"),
    }


@router.post(
    "/{call_id}/clear",
    summary="Clear a call",
    response_model=DispatchedCallOut,
    responses=problems(401, 403, 404, 409, 413, 422, 503),
)
async def clear_call(
    call_id: UUID, body: ClearRequest, handling: Handled, request: Request
) -> Response:
    """Record the disposition (and diversion), release every unit, and close the call."""
    handling.work.use_generic_plans()
    out = await clearing.clear(
        await handling.work.session(),
        handling.context,
        handling.who,
        call_id,
        body,
        cipher=handling.state.cipher,
        request_id=request_id(request),
    )
    return Response(out.model_dump_json(), media_type="application/json")


@router.patch(
    "/{call_id}/outcome",
    summary="Correct a cleared call's outcome",
    responses={200: {"headers": CALL_ETAG}, **problems(401, 403, 404, 409, 412, 413, 422, 503)},
)
async def correct_outcome(
    call_id: UUID,
    body: OutcomeCorrection,
    who: Caller,
    context: Context,
    work: Work,
    state: State,
    request: Request,
    response: Response,
    audit: Audit,
    if_match: CallIfMatch = None,
) -> DispatchedCallOut:
    """Correct what was recorded when the call was cleared (its disposition, outcome,
    diversion and the three flags), with the reason, which the audit trail keeps beside
    each field's value before and after. `call.cleared` is sent again with the record as
    it now stands; the reports count the call as corrected. A call not yet cleared is a
    409. Admins and supervisors only."""
    # What a refused correction (404, 409, 412) leaves in the trail: who tried to change
    # what, and why (a correction made writes its own entry, with each field's values).
    asked = body.model_dump(mode="json", exclude_unset=True, exclude={"reason"})
    audit.detail = {"reason": body.reason, "requested": asked}
    out, tag = await clearing.correct(
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
