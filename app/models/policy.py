from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ARRAY, CheckConstraint, Float, ForeignKey, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column


class RoutingPolicy(Base):
    """One version of an agency's routing policy; every PUT adds a row."""

    __tablename__ = "routing_policy"
    __table_args__ = (
        CheckConstraint("speed_kmh > 0", name="positive_speed"),
        CheckConstraint("adjacency_depth BETWEEN 0 AND 3", name="depth_range"),
    )

    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    safety_flags: Mapped[list[str]] = mapped_column(ARRAY(Text))
    nature_flags: Mapped[dict[str, list[str]]] = mapped_column(JSONB)
    le_backup_for_mh_lead: Mapped[bool]
    adjacency_depth: Mapped[int]
    speed_kmh: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = created_at_column()
