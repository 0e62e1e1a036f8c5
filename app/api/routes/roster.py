from __future__ import annotations

import functools
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request

from app.api.callers import request_id
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
from app.api.problems import conflict_naming, problems
from app.api.strict_json import StrictJSONRoute
from app.schemas.common import NO_NUL, Page
from app.schemas.roster import (
    CertificationCreate,
    CertificationExistsProblem,
    CertificationOut,
    CertificationPatch,
    CoResponderCreate,
    CoResponderOut,
    CoResponderPatch,
    NotOnThatCallProblem,
    OfficerCreate,
    OfficerExistsProblem,
    OfficerOut,
    OfficerPatch,
    StatusUpdate,
    UnitStatusOut,
)
from app.services import auth, certifications, unit_status
from app.services import roster as service

router = APIRouter(prefix="/v1", route_class=StrictJSONRoute)
WRITE_ERRORS = problems(401, 403, 409, 413, 422, 503)
_Active = Annotated[
    bool | None, Query(description="Only the active (`true`) or the inactive (`false`)")
]


_STATUS_ANSWERS = {
    **problems(401, 403, 404, 413, 422, 503),
    **conflict_naming(
        NotOnThatCallProblem,
        "The report cannot be applied as the unit stands: going back on its call, a busy"
        " report for an inactive unit, an external_incident beside its call; or a report about"
        " a call (call_id) the unit is no longer on (NotOnThatCallProblem, naming its call now)",
    ),
}

_OFFICER_EXISTS = conflict_naming(
    OfficerExistsProblem,
    "An active officer of the agency has this state_officer_id or badge_number"
    " (OfficerExistsProblem, whose officer_id is that officer's id)",
)


@router.post(
    "/officers",
    summary="Add an officer",
    status_code=201,
    tags=["officers"],
    responses={**WRITE_ERRORS, **_OFFICER_EXISTS, **created()},
)
async def create_officer(
    body: OfficerCreate,
    who: Caller,
    context: Context,
    session: Session,
    audit: Audit,
    located: Located,
) -> OfficerOut:
    """Add an officer; state_officer_id is unique among the agency's active officers."""
    out = await service.create_officer(session, context, body)
    audit.identify(out.id)
    located.at(f"/v1/officers/{out.id}")
    return out


@router.get(
    "/officers", summary="List officers", tags=["officers"], responses=problems(401, 403, 422, 503)
)
async def list_officers(
    who: Caller,
    context: Context,
    session: ReadSession,
    page: Paging,
    active: _Active = None,
    state_officer_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=NO_NUL,
            description="The officer (or officers, one active at most) with this statewide id",
        ),
    ] = None,
) -> Page[OfficerOut]:
    """The agency's officers; those still serving with `active=true`, those who have left
    with `active=false`."""
    items, cursor = await service.list_officers(
        session,
        context,
        active=active,
        state_officer_id=state_officer_id,
        limit=page.limit,
        cursor=page.cursor,
    )
    return Page(items=items, next_cursor=cursor)


@router.get(
    "/officers/{officer_id}",
    summary="Get an officer",
    tags=["officers"],
    responses=problems(401, 403, 404, 422, 503),
)
async def get_officer(
    officer_id: UUID, who: Caller, context: Context, session: ReadSession
) -> OfficerOut:
    officer = await service.get_officer(session, agency_id=who.agency_id, officer_id=officer_id)
    return (await service.render_officers(session, context, [officer]))[0]


@router.patch(
    "/officers/{officer_id}",
    summary="Update or separate an officer",
    tags=["officers"],
    responses={
        **problems(401, 403, 404, 413, 422, 503),
        **conflict_naming(
            OfficerExistsProblem,
            "An active officer of the agency has the badge_number given, or (reactivated) this"
            " officer's state_officer_id or badge_number (OfficerExistsProblem, whose"
            " officer_id is that officer's id); or the officer, to be deactivated, is"
            " assigned to a call or busy on a CAD's incident, named or not (Problem)",
        ),
    },
)
async def update_officer(
    officer_id: UUID,
    body: OfficerPatch,
    request: Request,
    who: Caller,
    context: Context,
    session: Session,
    work: Work,
    state: State,
    audit: Audit,
) -> OfficerOut:
    """Change an officer; `active: false` records a separation from the agency and revokes
    the officer's unit keys. An officer assigned to a call, or busy on a CAD's incident (named
    by external_incident or not), cannot be deactivated (409) until the call is cleared or
    the officer reports available or out of service. One deactivated already may be sent
    `active: false` again."""
    out, revoked, changed = await service.update_officer(
        session, context, officer_id, body, who=who, request_id=request_id(request)
    )
    audit.identify(officer_id, {"changed": changed})
    _forget_when_committed(work, state, revoked)
    return out


@router.put(
    "/officers/{officer_id}/status",
    summary="Report an officer's status",
    tags=["officers"],
    responses=_STATUS_ANSWERS,
)
async def set_officer_status(
    officer_id: UUID,
    body: StatusUpdate,
    who: Caller,
    context: Context,
    session: Session,
    request: Request,
) -> UnitStatusOut:
    """Report an officer's status and, optionally, location. On a cit-dispatch call a unit
    moves forward through dispatched, en_route, on_scene, transporting (going back is a
    409); `available` or `out_of_service` releases it from its call. On no such call it may
    report any of those four, in any order: it is busy on the CAD's own incident
    (`external_incident` names it) and is not recommended until it is `available`."""
    return await unit_status.set_status(
        session,
        context,
        who=who,
        responder_type="officer",
        responder_id=officer_id,
        body=body,
        request_id=request_id(request),
    )


@router.post(
    "/certifications",
    summary="Record a CIT certification",
    status_code=201,
    tags=["certifications"],
    responses={
        **WRITE_ERRORS,
        **conflict_naming(
            CertificationExistsProblem,
            "The person has this certification number on record (CertificationExistsProblem,"
            " whose certification_id is that record's id); or another agency has employed"
            " them since before your agency's post, and records their certifications",
        ),
        **created(),
    },
)
async def record_certification(
    body: CertificationCreate, who: Caller, session: Session, audit: Audit, located: Located
) -> CertificationOut:
    """Record a state CIT certification. It belongs to the person and moves with them."""
    out = await certifications.record_certification(session, agency_id=who.agency_id, body=body)
    audit.identify(out.id, {"state_officer_id": out.state_officer_id})
    located.at(f"/v1/certifications/{out.id}")
    return out


@router.patch(
    "/certifications/{certification_id}",
    summary="Correct or end a CIT certification",
    tags=["certifications"],
    responses=problems(401, 403, 404, 409, 413, 422, 503),
)
async def update_certification(
    certification_id: UUID,
    body: CertificationPatch,
    who: Caller,
    session: Session,
    audit: Audit,
) -> CertificationOut:
    """Correct a certification your agency recorded, or end it early: it counts up to the
    day before `expires_on`, so a decertification sets `expires_on` to the day it took
    effect, and routing stops taking the officer as CIT at once. One recorded in error, or
    revoked on its first day, is voided by setting `expires_on` to its `certified_on`: it is
    then valid on no day. Another agency's record,
    which you can read, is a 403: only the agency that recorded it may change it. Making it
    count on more days is a 409 while another agency has employed the officer since before
    your agency's post (it records their certifications then)."""
    out, changed = await certifications.update_certification(
        session, agency_id=who.agency_id, certification_id=certification_id, body=body
    )
    audit.identify(certification_id, {"state_officer_id": out.state_officer_id, "changed": changed})
    return out


@router.get(
    "/certifications/{certification_id}",
    summary="Get a CIT certification",
    tags=["certifications"],
    responses=problems(401, 403, 404, 422, 503),
)
async def read_certification(
    certification_id: UUID, who: Caller, session: ReadSession
) -> CertificationOut:
    """One certification of anyone your agency employs or has employed, from any agency's
    record, as the list shows it (the id a create or the list gave)."""
    return await certifications.get_certification(
        session, agency_id=who.agency_id, certification_id=certification_id
    )


@router.get(
    "/certifications",
    summary="List CIT certifications",
    tags=["certifications"],
    responses=problems(401, 403, 422, 503),
)
async def list_certifications(
    who: Caller,
    session: ReadSession,
    page: Paging,
    state_officer_id: Annotated[
        str | None, Query(min_length=1, max_length=64, pattern=NO_NUL)
    ] = None,
) -> Page[CertificationOut]:
    """Certifications of anyone the agency employs or has employed, from any agency's record."""
    items, cursor = await certifications.list_certifications(
        session,
        agency_id=who.agency_id,
        state_officer_id=state_officer_id,
        limit=page.limit,
        cursor=page.cursor,
    )
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/co-responders",
    summary="Add a co-responder",
    status_code=201,
    tags=["co-responders"],
    responses={**WRITE_ERRORS, **created()},
)
async def create_co_responder(
    body: CoResponderCreate, who: Caller, session: Session, audit: Audit, located: Located
) -> CoResponderOut:
    out = await service.create_co_responder(session, agency_id=who.agency_id, body=body)
    audit.identify(out.id)
    located.at(f"/v1/co-responders/{out.id}")
    return out


@router.get(
    "/co-responders",
    summary="List co-responders",
    tags=["co-responders"],
    responses=problems(401, 403, 422, 503),
)
async def list_co_responders(
    who: Caller, session: ReadSession, page: Paging, active: _Active = None
) -> Page[CoResponderOut]:
    items, cursor = await service.list_co_responders(
        session, agency_id=who.agency_id, active=active, limit=page.limit, cursor=page.cursor
    )
    return Page(items=items, next_cursor=cursor)


@router.get(
    "/co-responders/{co_responder_id}",
    summary="Get a co-responder",
    tags=["co-responders"],
    responses=problems(401, 403, 404, 422, 503),
)
async def get_co_responder(
    co_responder_id: UUID, who: Caller, session: ReadSession
) -> CoResponderOut:
    row = await service.get_co_responder(
        session, agency_id=who.agency_id, co_responder_id=co_responder_id
    )
    return service.render_co_responder(row)


@router.patch(
    "/co-responders/{co_responder_id}",
    summary="Update a co-responder",
    tags=["co-responders"],
    responses=problems(401, 403, 404, 409, 413, 422, 503),
)
async def update_co_responder(
    co_responder_id: UUID,
    body: CoResponderPatch,
    request: Request,
    who: Caller,
    session: Session,
    work: Work,
    state: State,
    audit: Audit,
) -> CoResponderOut:
    """Change a co-responder; `active: false` revokes its unit keys. One assigned to a call,
    or busy on a CAD's incident (named by external_incident or not), cannot be deactivated
    (409) until the call is cleared or the unit reports available or out of service. One
    deactivated already may be sent `active: false` again."""
    out, revoked, changed = await service.update_co_responder(
        session,
        who=who,
        request_id=request_id(request),
        co_responder_id=co_responder_id,
        body=body,
    )
    audit.identify(co_responder_id, {"changed": changed})
    _forget_when_committed(work, state, revoked)
    return out


def _forget_when_committed(work: Work, state: State, digests: list[bytes]) -> None:
    """This instance refuses the revoked keys at once; every other within a second."""
    for digest in digests:
        work.after_commit(functools.partial(auth.forget_key, state, digest))


@router.put(
    "/co-responders/{co_responder_id}/status",
    summary="Report a co-responder's status",
    tags=["co-responders"],
    responses=_STATUS_ANSWERS,
)
async def set_co_responder_status(
    co_responder_id: UUID,
    body: StatusUpdate,
    who: Caller,
    context: Context,
    session: Session,
    request: Request,
) -> UnitStatusOut:
    """Report a co-responder's status and, optionally, location, as an officer's is (same
    lifecycle on a call, busy on the CAD's own incident on none)."""
    return await unit_status.set_status(
        session,
        context,
        who=who,
        responder_type="co_responder",
        responder_id=co_responder_id,
        body=body,
        request_id=request_id(request),
    )
