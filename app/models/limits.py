"""Limits every instance shares (migration 0015): token buckets and failed-auth counts.

Neither belongs to an agency: the application role reaches them only through the
definer-rights functions of migration 0015 (app/repositories/limits.py).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Double, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class RateBucket(Base):
    """An API key's token bucket: `tokens` as of `at`, refilled at the per-minute rate."""

    __tablename__ = "rate_bucket"

    key_id: Mapped[UUID] = mapped_column(
        ForeignKey("api_key.id", ondelete="CASCADE"), primary_key=True
    )
    tokens: Mapped[float] = mapped_column(Double)
    # What the last take granted: cit_take_tokens reads it back from its UPDATE.
    granted: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]


class AuthFailure(Base):
    """Failed authentications from a client address at a key prefix ('' none, '*' any)."""

    __tablename__ = "auth_failure"

    client: Mapped[str] = mapped_column(Text, primary_key=True)
    prefix: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
