"""SQL for the audit trail: the one way entries are written, read, and purged."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.raw import RawStatement, driver, json_text
from app.models import AuditEntry
from app.records.audit import AuditRecord

# Alone (insert), or as the `au` step of a statement that also writes what it audits.
INSERT_AUDIT = """
INSERT INTO audit_entry (id, agency_id, at, key_id, role, action, resource_type, resource_id,
                         outcome, request_id, detail)
VALUES (:au_id, :au_agency_id, :au_at, :au_key_id, :au_role, :au_action, :au_resource_type,
        :au_resource_id, :au_outcome, :au_request_id, CAST(:au_detail AS jsonb))"""

_INSERT = RawStatement.compile(INSERT_AUDIT)


def params(entry: AuditRecord) -> dict[str, Any]:
    """The parameters of INSERT_AUDIT (also inside a larger statement)."""
    return {
        "au_id": entry.id,
        "au_agency_id": entry.agency_id,
        "au_at": entry.at,
        "au_key_id": entry.key_id,
        "au_role": entry.role,
        "au_action": entry.action,
        "au_resource_type": entry.resource_type,
        "au_resource_id": entry.resource_id,
        "au_outcome": entry.outcome,
        "au_request_id": entry.request_id,
        "au_detail": None if entry.detail is None else json_text(entry.detail),
    }


async def insert(conn: AsyncConnection, entry: AuditRecord) -> None:
    """Write one entry in the connection's transaction."""
    await (await driver(conn)).execute(_INSERT.sql, *_INSERT.args(params(entry)))


def entries_statement(
    agency_id: UUID,
    *,
    resource_type: str | None,
    resource_id: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[AuditEntry]:
    """The agency's entries, filtered; `since` inclusive, `until` exclusive."""
    stmt = select(AuditEntry).where(AuditEntry.agency_id == agency_id)
    if resource_type is not None:
        stmt = stmt.where(AuditEntry.resource_type == resource_type)
    if resource_id is not None:
        stmt = stmt.where(AuditEntry.resource_id == resource_id)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    return stmt


# Before the agency is known, through a definer-rights function (migration 0006): the
# entry goes to the agency whose key prefix was presented, if any.
_AUTH_FAILURE = text("SELECT cit_record_auth_failure(:prefix, :request_id, CAST(:detail AS jsonb))")


async def record_auth_failure(
    conn: AsyncConnection, *, prefix: str | None, request_id: str | None, detail: dict[str, Any]
) -> None:
    params = {"prefix": prefix, "request_id": request_id, "detail": json_text(detail)}
    await conn.execute(_AUTH_FAILURE, params)


# The only way an entry ever leaves the trail (migration 0006); it refuses under a year.
_PURGE = text("SELECT cit_purge_audit(:keep)")


async def purge(conn: AsyncConnection, *, keep: timedelta) -> int:
    """Remove entries older than keep, in every agency (run as the schema owner)."""
    removed: int = (await conn.execute(_PURGE, {"keep": keep})).scalar_one()
    return removed
