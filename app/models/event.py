from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, ForeignKey, Index, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, id_column


class Event(Base):
    """Transactional outbox: written in the same transaction as the change it describes."""

    __tablename__ = "event"
    # The live feed reads an agency's events in (xact_id, id) order (migration 0014).
    __table_args__ = (Index("ix_event_position", "agency_id", "xact_id", "id"),)

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    type: Mapped[str] = mapped_column(Text)
    call_id: Mapped[UUID | None]
    responder_id: Mapped[UUID | None]
    # Thin payload for webhooks: never carries notes.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at_column()
    # The writing transaction's id (xid8): with id, the live feed's commit-safe position.
    xact_id: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id())::text::bigint")
    )
    # The units actively assigned to the call when the event was written: who hears it on
    # the call (app/events/audience.py), for the fan-out trigger and the live feed alike.
    units_on_call: Mapped[list[UUID]] = mapped_column(
        ARRAY(PgUUID(as_uuid=True)), server_default=text("'{}'")
    )
