"""Audit entries staged in the request's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.ids import new_id
from app.models import AuditEntry
from app.security import Principal


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
            id=new_id(),
            agency_id=who.agency_id,
            at=at,
            key_id=who.key_id,
            role=who.role,
            action=action,
            resource_type="call",
            resource_id=str(call_id),
            outcome=outcome,
            request_id=request_id,
            detail=detail,
        )
    )
