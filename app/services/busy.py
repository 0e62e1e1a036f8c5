"""What a unit is busy on, in the words of the 409s that refuse to let a busy unit out of
sight (its deactivation, the cancelling of its only shift)."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from app.vocabulary import ON_CALL, UnitStatus, invisible_escaped


class UnitState(Protocol):
    @property
    def active_call_id(self) -> UUID | None: ...
    @property
    def external_incident(self) -> str | None: ...
    @property
    def status(self) -> UnitStatus: ...


def busy_on(unit: UnitState) -> str | None:
    """What the unit is busy on: "call …", "the CAD's incident …", or, sent by the CAD
    without naming its incident, "an incident of the CAD's (on scene)", as a dispatch
    naming it says (app/services/dispatch.py); None for a unit not busy (its status
    available or out_of_service: app.models.responder.BUSY)."""
    if unit.active_call_id is not None:
        return f"call {unit.active_call_id}"
    if unit.external_incident is not None:
        return f"the CAD's incident {invisible_escaped(unit.external_incident)}"
    if unit.status in ON_CALL:
        return f"an incident of the CAD's ({unit.status.replace('_', ' ')})"
    return None
