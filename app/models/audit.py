from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, Index, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, id_column


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_agency_at", "agency_id", "at"),
        Index("ix_audit_entry_resource", "agency_id", "resource_type", "resource_id"),
        Index("ix_audit_entry_agency_action_at", "agency_id", "action", "at"),
    )

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID | None] = mapped_column(ForeignKey("agency.id"))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    key_id: Mapped[UUID | None]
    role: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    resource_type: Mapped[str | None] = mapped_column(Text)
    resource_id: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
