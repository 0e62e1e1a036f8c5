"""One entry of the audit trail, as it is written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.vocabulary import AuditOutcome


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    id: UUID
    # None only for a failed authentication with no known key (then no agency is known).
    agency_id: UUID | None
    at: datetime
    key_id: UUID | None
    # The key's role, or "cli" for a command run on the server.
    role: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    outcome: AuditOutcome
    request_id: str | None
    detail: dict[str, Any] | None
