from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, Index, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, id_column
from app.vocabulary import ResponderType, UnitRole


class Assignment(Base):
    """A unit assigned to a call; released_at is null while the assignment is active."""

    __tablename__ = "assignment"
    __table_args__ = (
        # The database itself guarantees a unit is never double-booked.
        Index(
            "uq_assignment_active_responder",
            "responder_id",
            unique=True,
            postgresql_where=text("released_at IS NULL"),
        ),
        Index("ix_assignment_responder_recent", "responder_id", "assigned_at"),
        Index("ix_assignment_call", "call_id"),
    )

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    call_id: Mapped[UUID] = mapped_column(ForeignKey("call.id"))
    responder_type: Mapped[ResponderType] = mapped_column(Text)
    responder_id: Mapped[UUID]
    role: Mapped[UnitRole] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(Text)
    assigned_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
