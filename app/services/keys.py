"""API key management (admin) and the audit trail's read side (admin and supervisor)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, Invalid, NotFound
from app.models import ApiKey, AuditEntry
from app.repositories import audit as audit_repo
from app.repositories import keys as repo
from app.repositories.agencies import get_agency
from app.repositories.pagination import fetch_page
from app.repositories.roster import responder_kind
from app.schemas.keys import AgencyOut, ApiKeyCreate, ApiKeyCreated, ApiKeyOut, AuditEntryOut


async def create(session: AsyncSession, *, agency_id: UUID, body: ApiKeyCreate) -> ApiKeyCreated:
    if (body.role == "unit") != (body.responder_id is not None):
        raise Invalid(
            "responder_id is required for the unit role, and only for it",
            loc=("body", "responder_id"),
        )
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise Invalid("expires_at must be in the future", loc=("body", "expires_at"))
    responder_type = None
    if body.responder_id is not None:
        responder_type = await responder_kind(
            session, agency_id=agency_id, responder_id=body.responder_id
        )
        if responder_type is None:
            raise Invalid(
                "responder_id is not an active officer or co-responder of this agency",
                loc=("body", "responder_id"),
            )
    row, secret = await repo.insert_api_key(
        session,
        agency_id=agency_id,
        role=body.role,
        responder_type=responder_type,
        responder_id=body.responder_id,
        name=body.name,
        expires_at=body.expires_at,
    )
    await session.refresh(row)
    return ApiKeyCreated(**_out(row).model_dump(), key=secret)


def _out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(row, from_attributes=True)


async def list_page(
    session: AsyncSession, *, agency_id: UUID, limit: int, cursor: str | None
) -> tuple[list[ApiKeyOut], str | None]:
    rows, next_cursor = await fetch_page(
        session, repo.keys_statement(agency_id), ApiKey.id, limit=limit, cursor=cursor
    )
    return [_out(r) for r in rows], next_cursor


async def revoke(session: AsyncSession, *, agency_id: UUID, key_id: UUID) -> bytes:
    """Revoke the key (idempotent); returns its hash so caches can drop it."""
    row = await repo.get_key(session, agency_id=agency_id, key_id=key_id)
    if row is None:
        raise NotFound("API key not found")
    if row.revoked_at is None:
        if row.role == "admin":
            await _not_the_last_admin_key(session, agency_id, row.id)
        row.revoked_at = datetime.now(UTC)
        await session.flush()
    return row.key_hash


# Another admin key that expires sooner than this does not count as one left: the agency
# would be locked out of its keys, roster and policy within the day (the admin's check: a
# key made for 20 minutes let the last lasting one go).
ADMIN_KEY_LASTING = timedelta(days=1)


async def _not_the_last_admin_key(session: AsyncSession, agency_id: UUID, key_id: UUID) -> None:
    """A 409 unless another admin key stays valid for ADMIN_KEY_LASTING at least: nobody
    could then manage the agency's keys, roster or policy by the API."""
    valid = await repo.lock_admin_keys(session, agency_id=agency_id)
    until = datetime.now(UTC) + ADMIN_KEY_LASTING
    lasting = [k for k, expires in valid.items() if k != key_id and (expires or until) >= until]
    if lasting or key_id not in valid:
        return
    raise Conflict(
        "this is the agency's last valid admin key"
        + (" (the others expire within a day)" if len(valid) > 1 else "")
        + ": make another first (POST /v1/api-keys, or `cit-dispatch api-key create`),"
        " then revoke this one"
    )


async def agency(session: AsyncSession, *, agency_id: UUID) -> AgencyOut:
    """The key's agency, as it was made (`cit-dispatch agency create`)."""
    row = await get_agency(session, agency_id)
    if row is None:  # (its key would not have been let in)
        raise NotFound("agency not found")
    return AgencyOut.model_validate(row, from_attributes=True)


async def audit_page(
    session: AsyncSession,
    *,
    agency_id: UUID,
    resource_type: str | None,
    resource_id: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[AuditEntryOut], str | None]:
    """Entries newest first, filtered; `since` inclusive, `until` exclusive. A window that
    ends before it begins is a 422, not an empty page."""
    if since is not None and until is not None and until <= since:
        raise Invalid("`to` must be after `from`", loc=("query", "to"))
    stmt = audit_repo.entries_statement(
        agency_id,
        resource_type=resource_type,
        resource_id=resource_id,
        action=action,
        since=since,
        until=until,
    )
    rows, next_cursor = await fetch_page(
        session, stmt, AuditEntry.id, limit=limit, cursor=cursor, newest_first=True
    )
    return [AuditEntryOut.model_validate(r, from_attributes=True) for r in rows], next_cursor
