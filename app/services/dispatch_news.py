"""What a dispatch tells: the events its units' terminals and the consoles hear, and the
audit entry's detail. The dispatch service (app/services/dispatch.py) decides what changes;
this module words it.

Each unit sent hears unit.assigned with the kind of unit leading the call now; each unit
already on the call given another part hears it again with its previous role; units sent
to join units already on the call, or parts changed, are told to them all as call.updated
(`units`); and a dispatcher sending the other kind of unit to lead a call already worked
is told to them all as call.escalated (rule `dispatch_override`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.events import catalogue as events
from app.models import Assignment
from app.records.calls import CallRecord
from app.records.recommendations import RecommendationRecord
from app.repositories import dispatch_reads, naming_shift
from app.services import dispatch_roles
from app.services.dispatch_roles import Unit
from app.vocabulary import Lead, OverrideCode


@dataclass(frozen=True)
class Sent:
    """A dispatch as decided: the units it sends, the parts it changes, and why."""

    wanted: Sequence[Unit]
    changes: Sequence[dispatch_roles.RoleChange]
    override_code: OverrideCode | None
    override_reason: str | None


async def dispatch_events(
    session: AsyncSession,
    call: CallRecord,
    rec: RecommendationRecord | None,
    sent: Sent,
    *,
    active: Sequence[Assignment],
    after: Sequence[Assignment],
    escalated: bool,
    locked: dict[UUID, dispatch_reads.LockedUnit],
    now: datetime,
) -> list[events.OutboxEvent]:
    """The events of a dispatch: active are the call's assignments before it, after the
    ones it leaves (escalated: it carries out a recommendation whose lead changed)."""
    lead = rec.lead if rec is not None else None
    concern = rec is not None and rec.safety_concern
    # A terminal is told what leads the call: the kind of unit leading it now (a dispatcher
    # may have sent another than the recommendation's), else the recommendation's lead.
    leading = dispatch_roles.lead_kind(
        [(a.responder_type, a.responder_id, a.role) for a in after if a.released_at is None]
    )
    told: list[events.OutboxEvent] = [
        events.unit_assigned(
            call,
            lead=leading or lead,
            responder_type=responder_type,
            responder_id=responder_id,
            call_sign=locked[responder_id].call_sign,
            role=role,
            safety_concern=concern,
        )
        for responder_type, responder_id, role in sent.wanted
    ]
    told += await _role_changed(session, call, leading or lead, concern, sent.changes, locked, now)
    if active and (sent.wanted or sent.changes):
        # Reinforcements, or parts changed: the units on the call hear it (their terminals
        # hear unit.assigned of their own unit alone), and read who is on it, in what part,
        # from GET /v1/units/me; those sent hear it too (units_on_call counts them).
        told.append(events.call_updated(call, lead=lead, changed=["units"]))
    before = dispatch_roles.lead_kind([(a.responder_type, a.responder_id, a.role) for a in active])
    # Carrying out a recommendation whose lead changed since the last dispatch that sent
    # one: the re-triage that changed it told the units (call.escalated) already.
    already_told = leading == lead and escalated
    if rec is not None and before and leading and leading != before and not already_told:
        # A dispatcher sent the other kind of unit to lead a call already worked: the units
        # on it hear so. The code says why; the reason, free text, stays in the trail.
        why = f"A dispatcher sent {leading.replace('_', ' ')} to lead"
        code = f" ({sent.override_code})" if sent.override_code else ""
        told.append(
            events.call_escalated(
                call,
                rec,
                previous_lead=before,
                lead=leading,
                reasons=[("dispatch_override", why + code)],
            )
        )
    return told


def audit_detail(sent: Sent) -> dict[str, object]:
    """The dispatch's audit detail: the override, and each part changed."""
    detail: dict[str, object] = {
        "override_code": sent.override_code,
        "override_reason": sent.override_reason,
    }
    if sent.changes:
        detail["role_changes"] = [
            {
                "responder_type": c.assignment.responder_type,
                "responder_id": str(c.assignment.responder_id),
                "from": c.assignment.role,
                "to": c.role,
            }
            for c in sent.changes
        ]
    return detail


async def _role_changed(
    session: AsyncSession,
    call: CallRecord,
    lead: Lead | None,
    safety_concern: bool,
    changes: Sequence[dispatch_roles.RoleChange],
    locked: dict[UUID, dispatch_reads.LockedUnit],
    now: datetime,
) -> list[events.OutboxEvent]:
    """unit.assigned again, with previous_role, for each unit on the call given another
    part: its terminal learns it now leads, or no longer does."""
    unnamed = [
        c.assignment.responder_id for c in changes if c.assignment.responder_id not in locked
    ]
    signs = await naming_shift.call_signs(
        session, agency_id=call.agency_id, responder_ids=unnamed, now=now
    )
    return [
        events.unit_assigned(
            call,
            lead=lead,
            responder_type=c.assignment.responder_type,
            responder_id=c.assignment.responder_id,
            call_sign=(
                locked[c.assignment.responder_id].call_sign
                if c.assignment.responder_id in locked
                else signs.get(c.assignment.responder_id)
            ),
            role=c.role,
            safety_concern=safety_concern,
            previous_role=c.assignment.role,
        )
        for c in changes
    ]
