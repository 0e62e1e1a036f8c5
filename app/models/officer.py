from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ARRAY, CheckConstraint, DateTime, ForeignKey, Index, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, id_column
from app.models.responder import BUSY, EXTERNAL_INCIDENT_CHECK, STATUS_CHECK, UnitStateMixin
from app.vocabulary import PERSON_ID_FORM


class Officer(UnitStateMixin, Base):
    __tablename__ = "officer"
    __table_args__ = (
        CheckConstraint(STATUS_CHECK, name="status"),
        CheckConstraint(EXTERNAL_INCIDENT_CHECK, name="external_incident"),
        CheckConstraint(PERSON_ID_FORM, name="state_officer_id_form"),
        # A person holds at most one active post in an agency; separations keep history.
        Index(
            "uq_officer_active_state_officer_id",
            "agency_id",
            "state_officer_id",
            unique=True,
            postgresql_where=text("active"),
        ),
        Index(
            "uq_officer_active_badge_number",
            "agency_id",
            "badge_number",
            unique=True,
            postgresql_where=text("active"),
        ),
        Index("ix_officer_state_officer_id", "state_officer_id"),
        Index("ix_officer_busy", "agency_id", postgresql_where=text(BUSY)),
    )

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    state_officer_id: Mapped[str] = mapped_column(Text)
    badge_number: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    trainings: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    separated_at: Mapped[datetime | None]
    # When its post began: created active, or reactivated (migration 0029); a reactivated
    # officer resumes their post (migration 0030), so it may predate a leave.
    active_since: Mapped[datetime] = mapped_column(server_default=func.now())
    # When its latest period of service began: created active, or reactivated, the post
    # resumed or not; NULL when never active, or not known (migrations 0034, 0035). With
    # separated_at, the period a shift entered after the officer left must lie within.
    # evaluates_none: a None given to a new officer (created inactive) is written as NULL;
    # the ORM would leave it out of the INSERT, and the default date a period never served.
    serving_since: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True).evaluates_none(), server_default=func.now()
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
