from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column


class AlertSent(Base):
    """An alert the housekeeping loop has emitted, so that it is emitted once (the key names
    what it is about: a gap's district, kind and start, or a certification's end and
    threshold)."""

    __tablename__ = "alert_sent"

    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    created_at: Mapped[datetime] = created_at_column()
