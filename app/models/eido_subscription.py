from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class EidoSubscription(Base):
    """The STA-024 subscription an agency holds with one EIDO notifier (app/subscriber.py),
    kept so that a restarted subscriber renews it and the notifier sends again what it
    could not deliver meanwhile."""

    __tablename__ = "eido_subscription"

    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    notifier_url: Mapped[str] = mapped_column(Text, primary_key=True)
    subscription_id: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
