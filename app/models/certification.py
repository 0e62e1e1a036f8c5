from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, id_column
from app.vocabulary import PERSON_ID_FORM


class Certification(Base):
    """A state CIT certification. It belongs to the person, not to an agency."""

    __tablename__ = "certification"
    __table_args__ = (
        UniqueConstraint("state_officer_id", "certification_number"),
        # Equal dates: a voided certification, valid on no day (migration 0022).
        CheckConstraint("expires_on >= certified_on", name="expires_on_or_after_certified"),
        Index("ix_certification_person", "state_officer_id", "expires_on"),
        # The person's id in its one form: ASCII letters upper-case (app/vocabulary.py).
        CheckConstraint(PERSON_ID_FORM, name="state_officer_id_form"),
    )

    id: Mapped[UUID] = id_column()
    state_officer_id: Mapped[str] = mapped_column(Text)
    certification_number: Mapped[str] = mapped_column(Text)
    program: Mapped[str] = mapped_column(Text)
    certified_on: Mapped[date]
    expires_on: Mapped[date]
    volunteered: Mapped[bool]
    recorded_by_agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    created_at: Mapped[datetime] = created_at_column()
