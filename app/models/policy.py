from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ARRAY, CheckConstraint, Float, ForeignKey, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column

# The EIDO incident types that become calls unless the policy says otherwise.
DEFAULT_EIDO_TYPES = ("EDP", "MNTL", "MTLV", "SUICIDE", "SUICTHRT", "WELFARE")
DEFAULT_EIDO_TYPES_SQL = "'{" + ",".join(DEFAULT_EIDO_TYPES) + "}'::text[]"


class RoutingPolicy(Base):
    """One version of an agency's routing policy; every PUT adds a row."""

    __tablename__ = "routing_policy"
    __table_args__ = (
        CheckConstraint("speed_kmh > 0", name="positive_speed"),
        CheckConstraint("adjacency_depth BETWEEN 0 AND 3", name="depth_range"),
        CheckConstraint("coverage_target_cit >= 1", name="cit_target"),
        CheckConstraint("coverage_target_co_responders >= 0", name="co_responder_target"),
        CheckConstraint("cit_share_target_pct BETWEEN 0 AND 100", name="cit_share_target"),
        CheckConstraint("coverage_alert_days BETWEEN 0 AND 60", name="alert_days"),
    )

    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    safety_flags: Mapped[list[str]] = mapped_column(ARRAY(Text))
    nature_flags: Mapped[dict[str, list[str]]] = mapped_column(JSONB)
    le_backup_for_mh_lead: Mapped[bool]
    adjacency_depth: Mapped[int]
    speed_kmh: Mapped[float] = mapped_column(Float)
    # The CIT program (docs/reports.md).
    coverage_target_cit: Mapped[int] = mapped_column(server_default=text("1"))
    coverage_target_co_responders: Mapped[int] = mapped_column(server_default=text("1"))
    cit_share_target_pct: Mapped[float] = mapped_column(Float, server_default=text("20"))
    coverage_alert_days: Mapped[int] = mapped_column(server_default=text("7"))
    eido_incident_types: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text(DEFAULT_EIDO_TYPES_SQL)
    )
    created_at: Mapped[datetime] = created_at_column()
