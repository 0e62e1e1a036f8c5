from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import CheckConstraint, Computed, ForeignKey, Index, SmallInteger, Text, text
from sqlalchemy.dialects.postgresql import DATEMULTIRANGE
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, id_column


class Shift(Base):
    __tablename__ = "shift"
    __table_args__ = (
        CheckConstraint(
            "(responder_type = 'officer' AND officer_id IS NOT NULL AND co_responder_id IS NULL)"
            " OR (responder_type = 'co_responder' AND co_responder_id IS NOT NULL"
            " AND officer_id IS NULL)",
            name="one_responder",
        ),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("ends_at - starts_at <= interval '24 hours'", name="at_most_24h"),
        # Overlapping shifts per responder are refused by the shift_no_overlap trigger.
        Index("ix_shift_agency_starts_at", "agency_id", "starts_at"),
        Index("ix_shift_responder_id", "responder_id", "starts_at"),
    )

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    responder_type: Mapped[str] = mapped_column(Text)
    officer_id: Mapped[UUID | None] = mapped_column(ForeignKey("officer.id"))
    co_responder_id: Mapped[UUID | None] = mapped_column(ForeignKey("co_responder.id"))
    responder_id: Mapped[UUID] = mapped_column(
        Computed("coalesce(officer_id, co_responder_id)", persisted=True)
    )
    call_sign: Mapped[str] = mapped_column(Text)
    district_id: Mapped[UUID] = mapped_column(ForeignKey("district.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()


# What the candidate query reads from a coverage row in the call's district, besides the
# keys: both coverage indexes include these, so its scans touch the index alone.
_RANKED_COLUMNS = [
    "ends_at",
    "responder_type",
    "responder_id",
    "call_sign",
    "home_district_id",
    "status",
    "active",
    "lat",
    "lon",
    "preference",
    "cit_periods",
]


class ShiftCoverage(Base):
    """One row per district a shift serves (its home district and each also_covers).

    The candidate query scans this by (agency_id, district_id, starts_at), so its cost
    follows the units working in and next to a district, not the size of the agency or
    its history.
    """

    __tablename__ = "shift_coverage"
    __table_args__ = (
        # Leading with agency_id lets the row-level policy be an index condition.
        Index(
            "ix_shift_coverage_district_window",
            "agency_id",
            "district_id",
            "starts_at",
            # Everything the candidate query reads, so it can scan the index alone.
            postgresql_include=["is_home", "shift_id", *_RANKED_COLUMNS],
        ),
        # The units that can lead a response, for the candidate query's first scan: a
        # crowded district's officers without CIT are read only when it has no CIT officer.
        Index(
            "ix_shift_coverage_district_leaders",
            "agency_id",
            "district_id",
            "starts_at",
            postgresql_include=_RANKED_COLUMNS,
            postgresql_where=text(
                "responder_type = 'co_responder' OR cit_periods <> '{}'::datemultirange"
            ),
        ),
        # The triggers that copy a unit's status, location and certification onto its
        # coverage rows find them by responder.
        Index("ix_shift_coverage_responder", "responder_id", "ends_at"),
    )

    shift_id: Mapped[UUID] = mapped_column(
        ForeignKey("shift.id", ondelete="CASCADE"), primary_key=True
    )
    district_id: Mapped[UUID] = mapped_column(ForeignKey("district.id"), primary_key=True)
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    is_home: Mapped[bool] = mapped_column(server_default=text("false"))
    responder_type: Mapped[str] = mapped_column(Text)
    responder_id: Mapped[UUID]
    # Copied from the shift (PATCH /v1/shifts/{id} writes the rows again).
    call_sign: Mapped[str] = mapped_column(Text)
    home_district_id: Mapped[UUID]
    # The unit's ranking state, filled and kept current by triggers (migration 0003); the
    # candidate query ranks from these and re-reads the real rows for the few it keeps.
    status: Mapped[str] = mapped_column(Text)
    active: Mapped[bool]
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    preference: Mapped[int] = mapped_column(SmallInteger)
    cit_periods: Mapped[Any] = mapped_column(DATEMULTIRANGE, nullable=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
