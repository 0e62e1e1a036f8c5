"""API keys and the audit trail, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from app.schemas.common import Instant, Name, StrictModel
from app.vocabulary import AuditOutcome, ResponderType, Role


class ApiKeyCreate(StrictModel):
    role: Role
    name: Name | None = None
    # Required for the unit role, and only for it: the officer or co-responder it acts as.
    responder_id: UUID | None = None
    expires_at: Instant | None = None


class ApiKeyOut(BaseModel):
    id: UUID
    prefix: str
    role: Role
    name: str | None
    responder_type: ResponderType | None
    responder_id: UUID | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    # The key itself: shown only in this answer, stored only as a hash.
    key: str


class AuditEntryOut(BaseModel):
    id: UUID
    at: datetime
    key_id: UUID | None
    role: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    outcome: AuditOutcome
    request_id: str | None
    detail: dict[str, Any] | None
