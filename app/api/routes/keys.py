"""The key's agency, API keys (admin) and the audit trail (admin, supervisor)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from app.api.deps import Audit, Caller, Paging, ReadSession, Session, State, Work
from app.api.problems import problems
from app.api.strict_json import StrictJSONRoute
from app.schemas.common import NO_NUL, Instant, Page
from app.schemas.keys import AgencyOut, ApiKeyCreate, ApiKeyCreated, ApiKeyOut, AuditEntryOut
from app.services import auth
from app.services import keys as service

router = APIRouter(tags=["security"], route_class=StrictJSONRoute)
_Filter = Annotated[str | None, Query(min_length=1, max_length=200, pattern=NO_NUL)]


@router.get("/v1/agency", summary="The key's agency", responses=problems(401, 403, 503))
async def read_agency(who: Caller, session: ReadSession) -> AgencyOut:
    """The agency the key belongs to: its id (which `cit-dispatch api-key create --agency`
    takes), name, time zone and ORI."""
    return await service.agency(session, agency_id=who.agency_id)


@router.post(
    "/v1/api-keys",
    summary="Create an API key",
    status_code=201,
    responses=problems(401, 403, 413, 422, 503),
)
async def create_key(
    body: ApiKeyCreate, who: Caller, session: Session, audit: Audit
) -> ApiKeyCreated:
    """Make a key: 32 random bytes, shown only in this answer and stored as a hash. A
    `unit` key is bound to one officer or co-responder (`responder_id`)."""
    created = await service.create(session, agency_id=who.agency_id, body=body)
    audit.identify(created.id, {"role": created.role, "prefix": created.prefix})
    return created


@router.get("/v1/api-keys", summary="List API keys", responses=problems(401, 403, 422, 503))
async def list_keys(who: Caller, session: ReadSession, page: Paging) -> Page[ApiKeyOut]:
    """The agency's keys, by prefix; never the keys themselves."""
    items, cursor = await service.list_page(
        session, agency_id=who.agency_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=items, next_cursor=cursor)


@router.delete(
    "/v1/api-keys/{key_id}",
    summary="Revoke an API key",
    status_code=204,
    responses=problems(401, 403, 404, 409, 422, 503),
)
async def revoke_key(
    key_id: UUID, who: Caller, session: Session, work: Work, state: State
) -> Response:
    """Revoke a key. This instance refuses it at once; every other within a second. The
    agency's last valid admin key is a 409: make another first."""
    digest = await service.revoke(session, agency_id=who.agency_id, key_id=key_id)
    work.after_commit(lambda: auth.forget_key(state, digest))
    return Response(status_code=204)


@router.get("/v1/audit", summary="Read the audit trail", responses=problems(401, 403, 422, 503))
async def read_audit(
    who: Caller,
    session: Session,
    page: Paging,
    resource_type: _Filter = None,
    resource_id: _Filter = None,
    action: _Filter = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Annotated[Instant | None, Query()] = None,
) -> Page[AuditEntryOut]:
    """The agency's audit trail, newest first: every write, every read of a call's
    details, every denied request and every failed authentication. `from` is inclusive,
    `to` exclusive. Entries can be neither changed nor deleted."""
    items, cursor = await service.audit_page(
        session,
        agency_id=who.agency_id,
        resource_type=resource_type,
        resource_id=resource_id,
        action=action,
        since=from_,
        until=to,
        limit=page.limit,
        cursor=page.cursor,
    )
    return Page(items=items, next_cursor=cursor)
