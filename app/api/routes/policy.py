from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.api import conditional
from app.api.deps import Audit, Caller, ReadSession, Session, State, Work
from app.api.problems import problems
from app.api.strict_json import StrictJSONRoute
from app.schemas.common import DIGITS
from app.schemas.policy import PolicyIn, PolicyOut
from app.services import agency
from app.services import policy as service

router = APIRouter(prefix="/v1/policy", tags=["policy"], route_class=StrictJSONRoute)


_ETAG = {
    "ETag": {
        "description": "The version's entity tag: send it back as If-Match with the PUT",
        "schema": {"type": "string"},
    }
}


@router.get(
    "",
    summary="Get the routing policy in force",
    response_model=PolicyOut,
    responses={200: {"headers": _ETAG}, **conditional.NOT_MODIFIED, **problems(401, 403, 503)},
)
async def get_policy(
    who: Caller,
    session: ReadSession,
    response: Response,
    if_none_match: Annotated[
        str | None,
        conditional.if_none_match_header(
            "The ETag of the version last read: a 304 with no body while it is still in force"
        ),
    ] = None,
) -> PolicyOut | Response:
    """The routing policy in force: its latest version, with its ETag."""
    out = await service.current(session, agency_id=who.agency_id)
    tag = service.etag(out.version)
    if (unchanged := conditional.not_modified(if_none_match, tag)) is not None:
        return unchanged
    response.headers["ETag"] = tag
    return out


@router.get(
    "/versions/{version}",
    summary="Get one version of the routing policy",
    responses=problems(401, 403, 404, 422, 503),
)
async def get_policy_version(
    version: Annotated[int, Path(ge=1, le=2**31 - 1), DIGITS], who: Caller, session: ReadSession
) -> PolicyOut:
    """One version of the routing policy, as it stood: the one a recommendation's
    `policy_version` names, to tell why it recommended what it did."""
    return await service.version(session, agency_id=who.agency_id, version=version)


@router.put(
    "",
    summary="Replace the routing policy",
    responses={200: {"headers": _ETAG}, **problems(401, 403, 409, 412, 413, 422, 503)},
)
async def put_policy(
    body: PolicyIn,
    who: Caller,
    session: Session,
    work: Work,
    state: State,
    audit: Audit,
    response: Response,
    if_match: Annotated[
        str | None,
        conditional.if_match_header(
            "The ETag of the version read: the PUT is a 412 if another version has been put"
            " since (without it, the last PUT wins)"
        ),
    ] = None,
) -> PolicyOut:
    """Replace the routing policy; the server assigns the next version number."""
    out, changed = await service.replace(
        session, agency_id=who.agency_id, body=body, precondition=conditional.if_match(if_match)
    )
    response.headers["ETag"] = service.etag(out.version)
    audit.identify(out.version, {"changed": changed})
    work.after_commit(lambda: agency.forget(state, who.agency_id))
    return out
