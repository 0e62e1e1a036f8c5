from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from app.api.deps import Context, UnitOfWork, request_id, require
from app.api.permissions import Permission
from app.api.problems import PROBLEM_MEDIA_TYPE, problem_response, problems
from app.schemas.dispatch import (
    ClearRequest,
    DispatchedCallOut,
    DispatchRequest,
    UnitsUnavailableProblem,
)
from app.security import Principal
from app.services import dispatch as service

router = APIRouter(prefix="/v1/calls", tags=["dispatch"])
Handler = Annotated[Principal, Depends(require(Permission.HANDLE_CALLS))]

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    409: {
        "model": UnitsUnavailableProblem,
        "description": "A unit was taken meanwhile, the call is cleared, or nothing is left to "
        "assign. Nothing was assigned; when units were unavailable the body names them and "
        "carries a fresh recommendation, which is stored in the call's history.",
        "content": {
            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/UnitsUnavailableProblem"}}
        },
    }
}


@router.post(
    "/{call_id}/dispatch",
    response_model=DispatchedCallOut,
    responses={**problems(401, 403, 404, 413, 422, 503), **_UNAVAILABLE},
)
async def dispatch_call(
    call_id: UUID,
    who: Handler,
    context: Context,
    session: UnitOfWork,
    request: Request,
    body: DispatchRequest | None = None,
) -> DispatchedCallOut | JSONResponse:
    """Assign the latest recommendation's units (or the ones given, with an override
    reason). Every unit is assigned, or none; units already on the call are skipped."""
    outcome = await service.dispatch(
        session, context, who, call_id, body or DispatchRequest(), request_id=request_id(request)
    )
    if isinstance(outcome, service.UnitsUnavailable):
        return problem_response(
            409,
            "units-unavailable",
            "Units unavailable",
            outcome.detail,
            extra={
                "unavailable_units": [u.model_dump(mode="json") for u in outcome.unavailable],
                "recommendation": outcome.recommendation.model_dump(mode="json"),
            },
        )
    return outcome


@router.post("/{call_id}/clear", responses=problems(401, 403, 404, 409, 413, 422, 503))
async def clear_call(
    call_id: UUID,
    body: ClearRequest,
    who: Handler,
    context: Context,
    session: UnitOfWork,
    request: Request,
) -> DispatchedCallOut:
    """Record the disposition (and diversion), release every unit, and close the call."""
    return await service.clear(session, context, who, call_id, body, request_id=request_id(request))
