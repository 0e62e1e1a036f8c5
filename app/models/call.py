from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ARRAY, CheckConstraint, ForeignKey, Index, Integer, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, id_column
from app.vocabulary import CALL_STATUSES, DIVERTED_TO, EXTERNAL_ID_MAX, OUTCOMES, sql_list


class Call(Base):
    __tablename__ = "call"
    __table_args__ = (
        CheckConstraint(f"status IN {sql_list(CALL_STATUSES)}", name="status"),
        CheckConstraint(f"outcome IN {sql_list(OUTCOMES)}", name="outcome"),
        CheckConstraint(f"diverted_to IN {sql_list(DIVERTED_TO)}", name="diverted_to"),
        CheckConstraint(
            f"char_length(external_id) BETWEEN 1 AND {EXTERNAL_ID_MAX}", name="external_id"
        ),
        Index(
            "uq_call_agency_external_id",
            "agency_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index("ix_call_agency_id", "agency_id", "id"),
        Index("ix_call_agency_status", "agency_id", "status", "id"),
        Index("ix_call_agency_district", "agency_id", "district_id", "id"),
        # The outcome report reads an agency's calls by when they were received.
        Index("ix_call_agency_received_at", "agency_id", "received_at"),
    )

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    external_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    district_id: Mapped[UUID] = mapped_column(ForeignKey("district.id"))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    address: Mapped[str | None] = mapped_column(Text)
    nature: Mapped[str | None] = mapped_column(Text)
    safety: Mapped[dict[str, bool]] = mapped_column(JSONB)
    subject: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # Sensitive free text: only GET /v1/calls/{id} returns it; never logged or listed.
    notes: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    dispatched_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    disposition: Mapped[str | None] = mapped_column(Text)
    diverted_to: Mapped[str | None] = mapped_column(Text)
    # Recorded when the call is cleared (docs/api.md, "Dispatch and clearing").
    outcome: Mapped[str | None] = mapped_column(Text)
    use_of_force: Mapped[bool] = mapped_column(server_default=text("false"))
    subject_injured: Mapped[bool] = mapped_column(server_default=text("false"))
    officer_injured: Mapped[bool] = mapped_column(server_default=text("false"))
    # The lastUpdateTimeStamp of the last EIDO applied to the call (docs/api.md, "EIDO").
    eido_updated_at: Mapped[datetime | None]
    # Cautions of the call's EIDO warned of as not read (migration 0033; CallRecord).
    unread_cautions: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # The SHA-256 of the last applied EIDO's own notes, encrypted as the notes are
    # (migration 0036; app/services/eido_applied.py).
    eido_notes_digest: Mapped[str | None] = mapped_column(Text)
    # Whether the last EIDO applied to the call said its incident was ReOpened (migration
    # 0039; app/services/eido_applied.py).
    eido_reopened: Mapped[bool] = mapped_column(server_default=text("false"))


class Recommendation(Base):
    __tablename__ = "recommendation"
    __table_args__ = (Index("ix_recommendation_call", "call_id", "id"),)

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    call_id: Mapped[UUID] = mapped_column(ForeignKey("call.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_at_column()
    policy_version: Mapped[int] = mapped_column(Integer)
    lead: Mapped[str] = mapped_column(Text)
    safety_concern: Mapped[bool]
    units: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    requests: Mapped[list[str]] = mapped_column(ARRAY(Text))
    warnings: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
