"""NENA EIDO (STA-021): import an incident's document, export a call's, and retrieve one by
its incident id (STA-024's retrieval service). docs/api.md, "EIDO"."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.convertors import PathConvertor, register_url_convertor

from app.api.callers import request_id
from app.api.deps import Audit, Caller, Context, Located, Session, State, Work
from app.api.openapi import EIDO_DOCUMENT, created
from app.api.problems import problems
from app.api.strict_json import StrictJSONRoute
from app.schemas.common import NO_NUL, DistrictCode
from app.schemas.eido import EidoImportOut
from app.services import eido as service
from app.services import eido_export
from app.vocabulary import EXTERNAL_ID_MAX

router = APIRouter(tags=["eido"], route_class=StrictJSONRoute)


class _IncidentIdConvertor(PathConvertor):
    """An incident id in a path: the rest of it, "/" included (STA-010's unique id may hold
    one, which the server has decoded from %2F before routing), and never empty (the path
    with nothing after its last "/" is none of the API's)."""

    regex = ".+"


register_url_convertor("incident_id", _IncidentIdConvertor())

# The media types a document is taken as: NENA-STA-021's, and plain JSON. StrictJSONRoute
# reads any +json type; the document lists these so that a client sends one of them, and
# a 415's Accept-Post names them (accepted_media_types reads them from openapi_extra).
_EIDO_TAKEN = ("application/json", "application/emergencyCallData.eido+json")
_IMPORTED = (
    "One EIDO document (NENA-STA-021, EmergencyIncidentDataObjectType), validated against the"
    " EIDO schema."
)

_EIDO_DOCUMENT = {
    "description": "An EIDO 1.0 document (NENA-STA-021 EmergencyIncidentDataObjectType); "
    "never the call's notes.",
    "content": {"application/json": {"schema": EIDO_DOCUMENT}},
}


@router.post(
    "/v1/eido",
    summary="Import an EIDO document",
    status_code=201,
    response_model=EidoImportOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media_type: {"schema": {**EIDO_DOCUMENT, "description": _IMPORTED}}
                for media_type in _EIDO_TAKEN
            },
        }
    },
    responses={
        200: {"model": EidoImportOut, "description": "The incident's call, updated or not"},
        **problems(401, 403, 409, 413, 422, 503),
        **created(),
    },
)
async def import_eido(
    document: Annotated[
        dict[str, Any],
        Body(description=_IMPORTED),
    ],
    who: Caller,
    context: Context,
    work: Work,
    state: State,
    request: Request,
    located: Located,
    district: Annotated[
        DistrictCode | None,
        Query(description="The district of a call the document itself does not place."),
    ] = None,
) -> Response:
    """Import one EIDO: **201** with the new call, or **200** with the incident's call and
    `applied` (false when the document is not newer than the last one applied, or tells
    the call nothing it does not hold).

    The document's `$id` (its Incident Tracking Identifier) is the call's `external_id`.
    A newer document updates the call, and re-triages it when the nature, place, person or
    notes changed; one saying the incident ended (Closed or Cancelled) then clears the call,
    releasing its units, with the document's disposition. A location whose point cannot be
    read (a `gml:pos` that is no WGS 84 latitude and longitude, as one sent longitude first
    often is; XML that is not well-formed) does not refuse the document: the call is taken
    without that point (a call holding one keeps it, and its district), and its notes say
    which component was not read, and why. A document that is not an EIDO, or that nothing
    places in a district (the 422 then says why a point given was not read), is a 422 and
    writes nothing; a newer one for a cleared call is a 409 when it tells the call
    something new (the incident ReOpened, unless the CAD's last document that told a
    status said so already), else a 200 with `applied` false (its own export echoed back;
    the CAD's last document again; a Closed that tells nothing else; a point not read).
    """
    work.use_generic_plans()
    result = await service.import_document(
        state, work, context, who, document, district=district, request_id=request_id(request)
    )
    out = EidoImportOut(**dict(result.call), applied=result.applied)
    return Response(
        out.model_dump_json(),
        status_code=201 if result.created else 200,
        media_type="application/json",
        # A new call: where it is (a document for a call already taken creates nothing).
        headers=located.header(f"/v1/calls/{out.id}") if result.created else None,
    )


@router.get(
    "/v1/calls/{call_id}/eido",
    summary="Export a call as EIDO",
    responses={200: _EIDO_DOCUMENT, **problems(401, 403, 404, 422, 503)},
)
async def export_call(
    call_id: UUID, who: Caller, context: Context, session: Session
) -> JSONResponse:
    """The call's current state as an EIDO 1.0 document, without its notes."""
    return JSONResponse(await eido_export.export_call(session, context, call_id))


@router.get(
    "/v1/eido/incidents/{incident_id:incident_id}",
    summary="Get an incident's EIDO by its incident id",
    responses={200: _EIDO_DOCUMENT, **problems(401, 403, 404, 422, 503)},
)
async def get_incident(
    incident_id: Annotated[str, Path(min_length=1, max_length=EXTERNAL_ID_MAX, pattern=NO_NUL)],
    who: Caller,
    context: Context,
    session: Session,
    note: Audit,
) -> JSONResponse:
    """The EIDO of the agency's incident with this Incident Tracking Identifier: the `$id`
    it was imported with, or the one the export gave its call."""
    call_id, document = await eido_export.export_incident(session, context, incident_id)
    note.identify(call_id)
    return JSONResponse(document)
