from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column


class StreamTicket(Base):
    """A short-lived, single-use pass to open one live feed (GET /v1/stream?ticket=) for
    a browser, whose EventSource cannot send an Authorization header. Only its SHA-256 is
    kept; it acts as the key that asked for it, and dies with it."""

    __tablename__ = "stream_ticket"

    digest: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    key_id: Mapped[UUID] = mapped_column(ForeignKey("api_key.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
