"""Columns every dispatchable unit carries: live status, last location, active call."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Text, func
from sqlalchemy.orm import Mapped, mapped_column

UNIT_STATUSES = (
    "available",
    "dispatched",
    "en_route",
    "on_scene",
    "transporting",
    "out_of_service",
)
STATUS_CHECK = f"status IN ({', '.join(repr(s) for s in UNIT_STATUSES)})"


class UnitStateMixin:
    status: Mapped[str] = mapped_column(Text, server_default="available")
    status_at: Mapped[datetime] = mapped_column(server_default=func.now())
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    location_at: Mapped[datetime | None]
    active_call_id: Mapped[UUID | None]
