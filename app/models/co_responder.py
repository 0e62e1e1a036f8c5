from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ARRAY, CheckConstraint, ForeignKey, Index, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, id_column
from app.models.responder import BUSY, EXTERNAL_INCIDENT_CHECK, STATUS_CHECK, UnitStateMixin
from app.vocabulary import CO_RESPONDER_KINDS, sql_list


class CoResponder(UnitStateMixin, Base):
    __tablename__ = "co_responder"
    __table_args__ = (
        CheckConstraint(STATUS_CHECK, name="status"),
        CheckConstraint(EXTERNAL_INCIDENT_CHECK, name="external_incident"),
        CheckConstraint(f"kind IN {sql_list(CO_RESPONDER_KINDS)}", name="kind"),
        Index("ix_co_responder_agency_id", "agency_id", "id"),
        Index("ix_co_responder_busy", "agency_id", postgresql_where=text(BUSY)),
    )

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text)
    specialties: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
