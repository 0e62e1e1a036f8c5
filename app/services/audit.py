"""The audit trail: entries staged in the request's transaction, or written on their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.ids import new_id
from app.models import AuditEntry
from app.security import Principal


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
    written: bool = field(default=False)

    def identify(self, resource_id: object, detail: dict[str, Any] | None = None) -> None:
        """Name the resource the request acted on (e.g. the id a create made)."""
        self.resource_id = str(resource_id)
        if detail is not None:
            self.detail = detail


def _values(
    who: Principal | None,
    *,
    agency_id: UUID | None = None,
    action: str,
    resource_type: str | None,
    resource_id: str | None,
    outcome: str,
    request_id: str | None,
    detail: dict[str, Any] | None,
    at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "agency_id": who.agency_id if who else agency_id,
        "at": at or datetime.now(UTC),
        "key_id": who.key_id if who else None,
        "role": who.role if who else "cli",
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "outcome": outcome,
        "request_id": request_id,
        "detail": detail,
    }


def stage_note(session: AsyncSession, note: AuditNote) -> None:
    """Add the request's success entry to its transaction (once)."""
    if note.written or note.by_service:
        return
    note.written = True
    session.add(
        AuditEntry(
            **_values(
                note.who,
                action=note.action,
                resource_type=note.resource_type,
                resource_id=note.resource_id,
                outcome="success",
                request_id=note.request_id,
                detail=note.detail,
            )
        )
    )


async def write_note(conn: AsyncConnection, note: AuditNote, outcome: str) -> None:
    """Write the request's entry in a transaction of its own (denials and failures)."""
    note.written = True
    values = _values(
        note.who,
        action=note.action,
        resource_type=note.resource_type,
        resource_id=note.resource_id,
        outcome=outcome,
        request_id=note.request_id,
        detail=note.detail,
    )
    await conn.execute(insert(AuditEntry).values(**values))


def record(
    session: AsyncSession,
    who: Principal,
    *,
    action: str,
    call_id: UUID,
    request_id: str | None,
    at: datetime,
    detail: dict[str, Any] | None = None,
    outcome: str = "success",
) -> None:
    """Stage an audit entry for a call action in the request's transaction."""
    session.add(
        AuditEntry(
            **_values(
                who,
                action=action,
                resource_type="call",
                resource_id=str(call_id),
                outcome=outcome,
                request_id=request_id,
                detail=detail,
                at=at,
            )
        )
    )


def record_cli(
    session: AsyncSession,
    agency_id: UUID,
    *,
    action: str,
    resource_type: str,
    resource_id: UUID,
    detail: dict[str, Any],
) -> None:
    """Stage an entry for a CLI command: role `cli`, no key, no request."""
    session.add(
        AuditEntry(
            **_values(
                None,
                agency_id=agency_id,
                action=action,
                resource_type=resource_type,
                resource_id=str(resource_id),
                outcome="success",
                request_id=None,
                detail={**detail, "via": "cli"},
            )
        )
    )
