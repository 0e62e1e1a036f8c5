from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from app.schemas.common import NO_NUL, StrictModel

EventType = Literal[
    "call.created",
    "call.updated",
    "recommendation.created",
    "call.escalated",
    "unit.assigned",
    "unit.released",
    "unit.status_changed",
    "call.cleared",
]


class SubscriptionCreate(StrictModel):
    url: Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=NO_NUL)]
    events: Annotated[list[EventType], Field(min_length=1, max_length=8)]
    # Set for a unit's mobile terminal: it then gets only events about that unit.
    responder_id: UUID | None = None


class SubscriptionOut(BaseModel):
    id: UUID
    url: str
    events: list[str]
    responder_id: UUID | None
    active: bool
    disabled_reason: str | None
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="The whsec_… signing secret. It is shown only here, once.")


class DeliveryOut(BaseModel):
    id: UUID
    event_id: UUID
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
