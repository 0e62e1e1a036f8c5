from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Interval, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, id_column


class Agency(Base):
    __tablename__ = "agency"

    id: Mapped[UUID] = id_column()
    name: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text)
    ori: Mapped[str | None] = mapped_column(String(9), unique=True)
    # Longest shift ever scheduled (kept by a trigger): bounds the candidate scan's window.
    longest_shift: Mapped[timedelta] = mapped_column(Interval, server_default="0")
    created_at: Mapped[datetime] = created_at_column()
