from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, id_column
from app.vocabulary import (
    LEADS,
    OFF_CALL,
    OVERRIDE_CODES,
    Lead,
    OffCallStatus,
    OverrideCode,
    ResponderType,
    UnitRole,
    sql_list,
)


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
        CheckConstraint(f"released_status IN {sql_list(OFF_CALL)}", name="released_status"),
        CheckConstraint("released_status IS NULL OR released_at IS NOT NULL", name="released_only"),
    )

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    call_id: Mapped[UUID] = mapped_column(ForeignKey("call.id"))
    # The dispatch that made it (null only for assignments older than dispatch records).
    dispatch_id: Mapped[UUID | None] = mapped_column(ForeignKey("dispatch.id"))
    responder_type: Mapped[ResponderType] = mapped_column(Text)
    responder_id: Mapped[UUID]
    role: Mapped[UnitRole] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(Text)
    assigned_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    # The status the release left the unit in (available, or out_of_service): what the EIDO
    # export shows of a released unit. NULL while active, and for releases older than
    # migration 0031 that migration 0032 could not tell.
    released_status: Mapped[OffCallStatus | None] = mapped_column(Text)
    # When the unit first reported on_scene on this call.
    on_scene_at: Mapped[datetime | None]
    # The call sign of the shift that named the unit when it was dispatched (the one its
    # unit.assigned carried). NULL for a unit with no shift at all then, and for assignments
    # made before migration 0037 whose unit's shifts are all gone.
    call_sign: Mapped[str | None] = mapped_column(Text)
    # Never loaded; it tells the ORM to write a dispatch before its assignments.
    dispatch: Mapped[Dispatch | None] = relationship(lazy="raise")


class Dispatch(Base):
    """One POST /v1/calls/{id}/dispatch that assigned units: what was recommended, what
    was sent, and why they differ."""

    __tablename__ = "dispatch"
    __table_args__ = (
        CheckConstraint(f"recommended_lead IN {sql_list(LEADS)}", name="recommended_lead"),
        CheckConstraint(f"dispatched_lead IN {sql_list(LEADS)}", name="dispatched_lead"),
        CheckConstraint(f"override_code IN {sql_list(OVERRIDE_CODES)}", name="override_code"),
        Index("ix_dispatch_call", "call_id", "at"),
    )

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    call_id: Mapped[UUID] = mapped_column(ForeignKey("call.id"))
    at: Mapped[datetime]
    # The recommendation in force when the dispatcher sent units, and its lead.
    recommendation_id: Mapped[UUID | None]
    recommended_lead: Mapped[Lead | None] = mapped_column(Text)
    # The kind of the unit sent as `lead` (none when no unit was sent as lead).
    dispatched_lead: Mapped[Lead | None] = mapped_column(Text)
    # Why: set when the units differ from the recommendation (the code then `other` at
    # least), and kept as given on a dispatch as recommended (e.g. a unit sent off shift).
    override_code: Mapped[OverrideCode | None] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(Text)
