from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, id_column


class Event(Base):
    """Transactional outbox: written in the same transaction as the change it describes."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_agency", "agency_id", "id"),)

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    type: Mapped[str] = mapped_column(Text)
    call_id: Mapped[UUID | None]
    responder_id: Mapped[UUID | None]
    # Thin payload for webhooks: never carries notes.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at_column()
