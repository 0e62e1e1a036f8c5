"""SQL for dispatching and clearing a call, once app/repositories/dispatch_reads.py has
read it (locked) and locked its units: one statement writes everything.

Each write is one statement of steps (dispatch: the dispatch, its assignments and the
roles it changes, the units' new state, the call, the events and the audit entry; clear:
the released assignments, the units, the call, the events and the audit entry), so one
round trip commits them all or none. The partial unique index on active assignments stays
the last word on double-booking: its violation is UnitTaken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.raw import RawStatement, driver, with_steps
from app.events.catalogue import OutboxEvent
from app.models import Assignment
from app.records.audit import AuditRecord
from app.records.calls import CallRecord
from app.repositories import audit as audit_trail
from app.repositories import calls as call_repo
from app.repositories import events as outbox
from app.vocabulary import Lead, OverrideCode, ResponderType, UnitRole


@dataclass(frozen=True, slots=True, kw_only=True)
class NewDispatch:
    """A dispatch as it is written: its record and the assignments it makes."""

    id: UUID
    agency_id: UUID
    call_id: UUID
    at: datetime
    recommendation_id: UUID | None
    recommended_lead: Lead | None
    dispatched_lead: Lead | None
    override_code: OverrideCode | None
    override_reason: str | None
    # (assignment id, responder type, responder id, role, call sign), in the order they
    # were made.
    assignments: tuple[tuple[UUID, ResponderType, UUID, UnitRole, str | None], ...]
    # (assignment id, new role) of units already on the call given another part.
    role_changes: tuple[tuple[UUID, UnitRole], ...] = ()


_INSERT_DISPATCH = """
INSERT INTO dispatch (id, agency_id, call_id, at, recommendation_id, recommended_lead,
                      dispatched_lead, override_code, override_reason)
VALUES (:d_id, :d_agency_id, :d_call_id, :d_at, :d_recommendation_id, :d_recommended_lead,
        :d_dispatched_lead, :d_override_code, :d_override_reason)"""

_INSERT_ASSIGNMENTS = """
INSERT INTO assignment (id, agency_id, call_id, dispatch_id, responder_type, responder_id,
                        role, override_reason, assigned_at, call_sign)
SELECT a.id, :d_agency_id, :d_call_id, :d_id, a.responder_type, a.responder_id, a.role,
       :d_override_reason, :d_at, a.call_sign
FROM unnest(CAST(:as_ids AS uuid[]), CAST(:as_types AS text[]),
            CAST(:as_responder_ids AS uuid[]), CAST(:as_roles AS text[]),
            CAST(:as_call_signs AS text[]))
    AS a(id, responder_type, responder_id, role, call_sign)"""

_CHANGE_ROLES = """
UPDATE assignment SET role = r.role
FROM unnest(CAST(:rc_ids AS uuid[]), CAST(:rc_roles AS text[])) AS r(id, role)
WHERE assignment.id = r.id AND assignment.call_id = :d_call_id
  AND assignment.released_at IS NULL"""

# updated_at = now(): what the ORM's onupdate sets on the units' rows.
_UNITS_DISPATCHED = """
UPDATE {table} SET status = 'dispatched', status_at = :d_at, active_call_id = :d_call_id,
                   updated_at = now()
WHERE agency_id = :d_agency_id AND id = ANY(CAST(:{ids} AS uuid[]))"""


def _write_steps(first: tuple[tuple[str, str], ...], units: str, events: str) -> RawStatement:
    """One statement: the first steps (the assignments), the units (officers, then
    co-responders: :officer_ids, :co_ids), the call, the events and the audit entry."""
    return with_steps(
        *first,
        ("o", units.format(table="officer", ids="officer_ids")),
        ("c", units.format(table="co_responder", ids="co_ids")),
        ("cl", call_repo.UPDATE_CALL),
        ("ev", events),
        ("au", audit_trail.INSERT_AUDIT),
    )


_WRITE = _write_steps(
    (("d", _INSERT_DISPATCH), ("a", _INSERT_ASSIGNMENTS), ("rc", _CHANGE_ROLES)),
    _UNITS_DISPATCHED,
    outbox.INSERT_EVENTS_ASSIGNING,
)


class UnitTaken(Exception):
    """The unique index on active assignments refused one: a unit was assigned elsewhere."""


async def write(
    conn: AsyncConnection,
    dispatch: NewDispatch,
    *,
    call: CallRecord,
    events: Sequence[OutboxEvent],
    entry: AuditRecord,
) -> None:
    """Write the dispatch, its assignments and role changes, the units' state, the call, the
    events and the audit entry in one statement; every unit is assigned, or none
    (UnitTaken)."""
    made = dispatch.assignments
    params: dict[str, Any] = {
        "d_id": dispatch.id,
        "d_agency_id": dispatch.agency_id,
        "d_call_id": dispatch.call_id,
        "d_at": dispatch.at,
        "d_recommendation_id": dispatch.recommendation_id,
        "d_recommended_lead": dispatch.recommended_lead,
        "d_dispatched_lead": dispatch.dispatched_lead,
        "d_override_code": dispatch.override_code,
        "d_override_reason": dispatch.override_reason,
        "as_ids": [a[0] for a in made],
        "as_types": [a[1] for a in made],
        "as_responder_ids": [a[2] for a in made],
        "as_roles": [a[3] for a in made],
        "as_call_signs": [a[4] for a in made],
        "rc_ids": [c[0] for c in dispatch.role_changes],
        "rc_roles": [c[1] for c in dispatch.role_changes],
        "officer_ids": [a[2] for a in made if a[1] == "officer"],
        "co_ids": [a[2] for a in made if a[1] == "co_responder"],
        **call_repo.call_params(call),
        **outbox.params(agency_id=dispatch.agency_id, at=dispatch.at, events=events),
        "ev_assigned": [a[2] for a in made],
        **audit_trail.params(entry),
    }
    try:
        await (await driver(conn)).execute(_WRITE.sql, *_WRITE.args(params))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "uq_assignment_active_responder":
            raise UnitTaken from None
        raise


# A clear makes its units available again (below): their release says so.
_RELEASE_ASSIGNMENTS = """
UPDATE assignment SET released_at = :r_at, released_status = 'available'
WHERE id = ANY(CAST(:ev_released AS uuid[]))"""

# Only the units still on this call; updated_at = now() as the ORM's onupdate.
_UNITS_RELEASED = """
UPDATE {table} SET status = 'available', status_at = :r_at, active_call_id = NULL,
                   external_incident = NULL, updated_at = now()
WHERE agency_id = :call_agency_id AND id = ANY(CAST(:{ids} AS uuid[]))
  AND active_call_id = :call_id"""

_CLEAR = _write_steps(
    (("r", _RELEASE_ASSIGNMENTS),), _UNITS_RELEASED, outbox.INSERT_EVENTS_RELEASING
)


async def write_clear(
    conn: AsyncConnection,
    call: CallRecord,
    *,
    released: Sequence[Assignment],
    at: datetime,
    events: Sequence[OutboxEvent],
    entry: AuditRecord,
) -> None:
    """Release the assignments (their units, locked, become available if still on the
    call), and write the call, the events and the audit entry, in one statement."""
    params: dict[str, Any] = {
        "r_at": at,
        "ev_released": [a.id for a in released],
        "officer_ids": [a.responder_id for a in released if a.responder_type == "officer"],
        "co_ids": [a.responder_id for a in released if a.responder_type == "co_responder"],
        **call_repo.call_params(call),
        **outbox.params(agency_id=call.agency_id, at=at, events=events),
        **audit_trail.params(entry),
    }
    await (await driver(conn)).execute(_CLEAR.sql, *_CLEAR.args(params))
