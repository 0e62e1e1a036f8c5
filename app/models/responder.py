"""Columns every dispatchable unit carries: live status, last location, active call."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.vocabulary import ON_CALL, UNIT_STATUSES, UnitStatus, sql_list

STATUS_CHECK = f"status IN {sql_list(UNIT_STATUSES)}"
EXTERNAL_INCIDENT_CHECK = "char_length(external_incident) BETWEEN 1 AND 64"
# A unit busy on a call, cit-dispatch's or a CAD's (named by external_incident or not): its
# status is an on-call one. GET /v1/units finds those held over past their shift by the
# partial index on this (migration 0041).
BUSY = f"status IN {sql_list(ON_CALL)}"


class UnitStateMixin:
    status: Mapped[UnitStatus] = mapped_column(Text, server_default="available")
    status_at: Mapped[datetime] = mapped_column(server_default=func.now())
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    location_at: Mapped[datetime | None]
    active_call_id: Mapped[UUID | None]
    # The CAD's own incident while the unit is busy on one cit-dispatch does not handle.
    external_incident: Mapped[str | None] = mapped_column(Text)
