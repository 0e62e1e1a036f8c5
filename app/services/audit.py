"""The audit trail: what each entry says, and when it is written.

An entry is written in the transaction of the change it records (the request's unit of
work, or the statement that makes the change), or, for a denied or failed request, in a
transaction of its own. app/repositories/audit.py holds the SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.failures import log_failure
from app.db.unit_of_work import UnitOfWork
from app.ids import new_id
from app.records.audit import AuditRecord
from app.repositories import audit as repo
from app.security import Principal
from app.vocabulary import AuditOutcome

log = logging.getLogger(__name__)


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each field of after whose value differs from before's, as an update's entry records
    it: {field: {"from": before, "to": after}} (JSON values)."""
    return {k: {"from": before[k], "to": v} for k, v in after.items() if before[k] != v}


@dataclass
class AuditNote:
    """What the current request will record: set by authorisation, completed by the route."""

    who: Principal
    action: str
    resource_type: str
    request_id: str | None
    resource_id: str | None = None
    detail: dict[str, Any] | None = None
    # The service records success itself (in its own statement); failures still come here.
    by_service: bool = False
    written: bool = False

    def identify(self, resource_id: object, detail: dict[str, Any] | None = None) -> None:
        """Name the resource the request acted on (e.g. the id a create made)."""
        self.resource_id = str(resource_id)
        if detail is not None:
            self.detail = detail


def entry(
    who: Principal,
    *,
    action: str,
    resource_type: str,
    resource_id: object,
    request_id: str | None,
    at: datetime,
    outcome: AuditOutcome = "success",
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """An entry for something a key did."""
    return AuditRecord(
        id=new_id(),
        agency_id=who.agency_id,
        at=at,
        key_id=who.key_id,
        role=who.role,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        outcome=outcome,
        request_id=request_id,
        detail=detail,
    )


def call_entry(
    who: Principal,
    call_id: UUID,
    *,
    action: str,
    request_id: str | None,
    at: datetime,
    outcome: AuditOutcome = "success",
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """An entry for something a key did to a call."""
    return entry(
        who,
        action=action,
        resource_type="call",
        resource_id=call_id,
        request_id=request_id,
        at=at,
        outcome=outcome,
        detail=detail,
    )


def cli_entry(
    agency_id: UUID, *, action: str, resource_type: str, resource_id: UUID, detail: dict[str, Any]
) -> AuditRecord:
    """An entry for a command run on the server: role `cli`, no key, no request."""
    return AuditRecord(
        id=new_id(),
        agency_id=agency_id,
        at=datetime.now(UTC),
        key_id=None,
        role="cli",
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id),
        outcome="success",
        request_id=None,
        detail={**detail, "via": "cli"},
    )


def _note_entry(note: AuditNote, outcome: AuditOutcome) -> AuditRecord:
    return entry(
        note.who,
        action=note.action,
        resource_type=note.resource_type,
        resource_id=note.resource_id,
        request_id=note.request_id,
        at=datetime.now(UTC),
        outcome=outcome,
        detail=note.detail,
    )


async def write(conn: AsyncConnection, record: AuditRecord) -> None:
    """Write an entry in the connection's transaction."""
    await repo.insert(conn, record)


async def write_note(work: UnitOfWork, note: AuditNote) -> None:
    """Write the request's success entry in the request's transaction (once)."""
    if note.written or note.by_service:
        return
    note.written = True
    await repo.insert(await work.connection(), _note_entry(note, "success"))


def failure(status: int, problem: str, detail: str) -> dict[str, Any]:
    """Why a request was refused, as its answer said it (the problem's status, type and
    detail, which echo no input but names and ids): a failed entry's `detail.error`."""
    # PostgreSQL's jsonb takes no NUL, nor a lone surrogate: a path's own may be quoted.
    said = detail.encode("utf-8", "replace").decode().replace("\x00", "\ufffd")
    return {"status": status, "problem": problem, "detail": said}


async def write_note_apart(
    engine: AsyncEngine,
    note: AuditNote,
    outcome: AuditOutcome,
    why: dict[str, Any] | None = None,
) -> None:
    """Record a denied or failed request in a transaction of its own, with why (failure())
    beside what the route had noted.

    engine is the application's autocommit engine. The request's answer stands even if
    the trail cannot be written right now; that is logged.
    """
    note.written = True
    if why is not None:
        note.detail = {**(note.detail or {}), "error": why}
    try:
        async with UnitOfWork(engine, note.who.agency_id) as work:
            await repo.insert(await work.connection(), _note_entry(note, outcome))
    except Exception as exc:
        log_failure(log, "could not write an audit entry", exc)


async def record_auth_failure(
    engine: AsyncEngine,
    *,
    prefix: str | None,
    client: str,
    request_id: str | None,
    locked_out: int | None = None,
) -> None:
    """Audit a failed authentication with the key's public prefix only, never the key.

    locked_out: the entry stands for that many requests refused during a lockout.
    """
    detail: dict[str, object] = {"key_prefix": prefix, "client": client}
    if locked_out is not None:
        detail["locked_out"] = True
        detail["refused"] = locked_out
    try:
        async with engine.connect() as conn:
            await repo.record_auth_failure(
                conn, prefix=prefix, request_id=request_id, detail=detail
            )
    except Exception as exc:  # The 401 stands even if the trail cannot be written right now.
        log_failure(log, "could not audit a failed authentication", exc)
