from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column


class AlertSent(Base):
    """An alert the housekeeping loop has emitted, so that it is emitted once (the key names
    what it is about: a gap's district, kind and start, or a certification's end and
    threshold). For a gap, `told` is the end it was told with ("open" for none; NULL: one
    told before migration 0027, whose end is unknown), so a gap whose end moves is told
    again."""

    __tablename__ = "alert_sent"

    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    told: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
