"""One unit on shift now, as GET /v1/units serialises it without a model per unit."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from app.vocabulary import ResponderType, UnitStatus


class UnitLocationRecord(TypedDict):
    lat: float
    lon: float


class UnitRecord(TypedDict):
    """The fields of app.schemas.shifts.UnitOut, in its order and with its types, but for
    the ids, in their text form, and the location, a plain pair (both are what UnitOut's
    JSON holds); tests/api/test_units_read_model.py fails if the two drift."""

    responder_type: ResponderType
    responder_id: str
    name: str
    call_sign: str
    district: str
    also_covers: list[str]
    shift_ends_at: datetime
    status: UnitStatus
    location: UnitLocationRecord | None
    cit_certified: bool
    trainings: list[str] | None
    specialties: list[str] | None
    active_call_id: str | None
    external_incident: str | None
