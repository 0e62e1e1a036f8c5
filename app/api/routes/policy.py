from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.api.deps import Audit, Caller, ReadSession, Session, State, Work
from app.api.problems import problems
from app.api.strict_json import StrictJSONRoute
from app.schemas.policy import PolicyIn, PolicyOut
from app.services import agency
from app.services import policy as service

router = APIRouter(prefix="/v1/policy", tags=["policy"], route_class=StrictJSONRoute)


@router.get("", responses=problems(401, 403, 503))
async def get_policy(who: Caller, session: ReadSession) -> PolicyOut:
    """The routing policy in force: its latest version."""
    return await service.current(session, agency_id=who.agency_id)


@router.get("/versions/{version}", responses=problems(401, 403, 404, 422, 503))
async def get_policy_version(
    version: Annotated[int, Path(ge=1, le=2**31 - 1)], who: Caller, session: ReadSession
) -> PolicyOut:
    """One version of the routing policy, as it stood: the one a recommendation's
    `policy_version` names, to tell why it recommended what it did."""
    return await service.version(session, agency_id=who.agency_id, version=version)


@router.put("", responses=problems(401, 403, 409, 413, 422, 503))
async def put_policy(
    body: PolicyIn, who: Caller, session: Session, work: Work, state: State, audit: Audit
) -> PolicyOut:
    """Replace the routing policy; the server assigns the next version number."""
    out, changed = await service.replace(session, agency_id=who.agency_id, body=body)
    audit.identify(out.version, {"changed": changed})
    work.after_commit(lambda: agency.forget(state, who.agency_id))
    return out
