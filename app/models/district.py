from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, id_column


class District(Base):
    __tablename__ = "district"
    __table_args__ = (UniqueConstraint("agency_id", "code"),)

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    # GeoJSON Polygon or MultiPolygon, validated on the way in.
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class DistrictAdjacency(Base):
    """An unordered pair of adjacent districts, stored once with the smaller id first."""

    __tablename__ = "district_adjacency"
    __table_args__ = (
        CheckConstraint("district_a_id < district_b_id", name="ordered_pair"),
        Index("ix_district_adjacency_b", "district_b_id"),
    )

    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    district_a_id: Mapped[UUID] = mapped_column(
        ForeignKey("district.id", ondelete="CASCADE"), primary_key=True
    )
    district_b_id: Mapped[UUID] = mapped_column(
        ForeignKey("district.id", ondelete="CASCADE"), primary_key=True
    )
