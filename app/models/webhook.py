from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ARRAY, CheckConstraint, ForeignKey, Index, Integer, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, id_column


class WebhookSubscription(Base):
    """A receiver: agency-wide (a CAD), or one unit's mobile terminal (responder_id set)."""

    __tablename__ = "webhook_subscription"
    __table_args__ = (
        Index("ix_webhook_subscription_agency", "agency_id", "active"),
        CheckConstraint(
            "(previous_secret IS NULL) = (previous_secret_until IS NULL)",
            name="previous_secret_until",
        ),
    )

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    responder_id: Mapped[UUID | None]
    # The whsec_… signing secret; shown once when the subscription is created.
    secret: Mapped[str] = mapped_column(Text)
    # The secret a rotation replaced: it signs beside the new one until previous_secret_until.
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class WebhookDelivery(Base):
    """One event to one subscription; its id is the stable `webhook-id` across retries."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_delivery_subscription", "subscription_id", "id"),
        # Removing an old event checks its deliveries (housekeeping).
        Index("ix_webhook_delivery_event", "event_id"),
    )

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"))
    subscription_id: Mapped[UUID] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE")
    )
    event_id: Mapped[UUID] = mapped_column(ForeignKey("event.id"))
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    lease_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
