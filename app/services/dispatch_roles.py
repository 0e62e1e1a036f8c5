"""Parts that change on a dispatch: a unit already on the call takes the role it is sent in.

SPEC §1: when safety is flagged a CIT officer leads and mental health supports, and CIT
officers take charge of the scene even when not first there. After an escalation the
recommendation names the units already on the call in their new parts (routing ranks them
first); a dispatch gives them those parts. A lead it sends, new or already on the call,
takes over from any other: that one steps down, to the part the dispatch names it in (an
officer to stabilise the scene), else a co-responder to support, an officer to backup, so a
call has one lead at a time. Plain data in, plain data out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from app.models import Assignment, Dispatch
from app.records.recommendations import Decided, RecommendationRecord
from app.vocabulary import LEAD_OF, ROLES_OF, Lead, ResponderType, UnitRole

Unit = tuple[ResponderType, UUID, UnitRole]

# The part a lead steps down to when another unit takes over, unless the dispatch names it
# in another (_steps_down_to): the one each kind plays beside the other kind's lead in a
# recommendation.
STEPS_DOWN_TO: dict[ResponderType, UnitRole] = {"co_responder": "support", "officer": "backup"}


@dataclass(frozen=True, slots=True)
class RoleChange:
    """A unit on the call (its active assignment) and the role it now plays."""

    assignment: Assignment
    role: UnitRole

    @property
    def unit(self) -> Unit:
        return (self.assignment.responder_type, self.assignment.responder_id, self.role)


def lead_kind(units: Sequence[Unit]) -> Lead | None:
    """The kind of unit leading, among units with their roles: None when none leads."""
    for responder_type, _, role in units:
        if role == "lead":
            return LEAD_OF[responder_type]
    return None


def deciding_dispatch(dispatches: Sequence[Dispatch]) -> Dispatch | None:
    """The last dispatch that sent a lead (else the last one): the one that decided who
    leads. A dispatch that sent no lead (a unit named as back-up) decided nothing about it,
    so it does not use up an escalation."""
    leading = [d for d in dispatches if d.dispatched_lead is not None]
    return (leading or dispatches)[-1] if dispatches else None


def rerole_by_recommendation(
    rec: RecommendationRecord | None,
    dispatches: Sequence[Dispatch],
    *,
    then: Decided | None = None,
) -> bool:
    """Whether a dispatch of the recommendation (no units named) gives the units on the
    call the parts it names: only when the facts changed the kind of lead since the
    deciding dispatch (an escalation, or its end), that is when its lead differs from the
    lead recommended then; or, with the lead recommended the same and the other kind
    leading by a dispatcher's choice (then, the recommendation in force at the deciding
    dispatch, read only in that case: None otherwise), when the latest finds a safety
    concern that one did not (law enforcement recommended then for want of a co-responder,
    which a dispatcher sent to lead, must lead now: SPEC §1), or when a recommendation made
    since recommended another lead (a flag cleared and raised again, or raised and cleared
    again: the re-triage back to the lead recommended then told the crew of the change,
    call.escalated, which the dispatch carries out).
    Otherwise units already on the call are left as they are (SPEC §3.4): a plain dispatch
    repeated, or a CAD's retry, must not undo a lead a dispatcher chose by override."""
    deciding = deciding_dispatch(dispatches)
    if rec is None or deciding is None:
        return False
    if rec.lead != deciding.recommended_lead:
        return True
    return then is not None and (
        (rec.safety_concern and not then.safety_concern) or then.lead_changed_since
    )


def beside_the_lead(
    requested: Sequence[Unit],
    active: Sequence[Assignment],
    *,
    decided: bool = False,
    in_charge: UUID | None = None,
) -> list[Unit]:
    """A plain dispatch's units (the recommendation's) for a call that has a lead already.

    One of the other kind, a dispatcher chose by override: the recommendation's lead joins
    in the part its kind plays beside the other kind's lead, so that the override stands
    until the facts change (rerole_by_recommendation), and so does an officer it names to
    stabilise the scene until that lead arrives. One of the lead's own kind: when a
    dispatch already sent a lead for this very recommendation (decided), the dispatcher
    chose that unit over the one recommended, which is not sent. A newer recommendation
    names the units on the call first, so one naming another of the lead's kind comes of
    changed facts: it takes over. in_charge (charge_taker): the recommendation's CIT
    officer, in whatever part it names it, beside an officer leading who is not CIT: it is
    sent as lead, and the officer leading steps down (SPEC §1: a CIT officer takes charge of
    the scene even when not first there).
    """
    leading = lead_kind([(a.responder_type, a.responder_id, a.role) for a in active])
    on_call = {a.responder_id for a in active}
    sent: list[Unit] = []
    for kind, unit_id, role in requested:
        if unit_id == in_charge:
            sent.append((kind, unit_id, "lead"))
        elif leading is None or unit_id in on_call or role not in ("lead", "stabilize"):
            sent.append((kind, unit_id, role))
        elif LEAD_OF[kind] != leading:
            sent.append((kind, unit_id, STEPS_DOWN_TO[kind]))
        elif role != "lead" or not decided:
            sent.append((kind, unit_id, role))
    return sent


def charge_taker(
    requested: Sequence[Unit], active: Sequence[Assignment], rec: RecommendationRecord | None
) -> tuple[UUID, Assignment] | None:
    """The first officer the recommendation names CIT-certified, not on the call, and the
    officer leading the call: the pair of which the CIT officer takes charge when the one
    leading is not CIT (beside_the_lead's in_charge). None when no officer leads (a
    co-responder a dispatcher chose stays lead: the CIT officer joins as its back-up)."""
    lead = next((a for a in active if a.role == "lead"), None)
    if rec is None or lead is None or lead.responder_type != "officer":
        return None
    cit = {u["responder_id"] for u in rec.units if u["cit_certified"]}
    on_call = {a.responder_id for a in active}
    for kind, unit_id, _ in requested:
        if kind == "officer" and unit_id not in on_call and str(unit_id) in cit:
            return unit_id, lead
    return None


def role_changes(
    requested: Sequence[Unit], active: Sequence[Assignment], *, rerole: bool
) -> list[RoleChange]:
    """The role changes a dispatch of these units makes on a call with these active
    assignments. With rerole, each unit already on it sent in another role takes that role;
    without, units already on it keep theirs. With a lead among the units sent (new, or
    re-roled), any other lead on the call steps down (_steps_down_to)."""
    on_call = {a.responder_id: a for a in active}
    sent = [u for u in requested if rerole or u[1] not in on_call]
    changes = [
        RoleChange(on_call[unit_id], role)
        for _, unit_id, role in sent
        if unit_id in on_call and on_call[unit_id].role != role
    ]
    if any(role == "lead" for _, _, role in sent):
        named = {unit_id for _, unit_id, _ in sent}
        parts = {unit_id: role for _, unit_id, role in requested}
        changes += [
            RoleChange(a, _steps_down_to(a, parts.get(a.responder_id)))
            for a in active
            if a.role == "lead" and a.responder_id not in named
        ]
    return changes


def _steps_down_to(lead: Assignment, named: UnitRole | None) -> UnitRole:
    """The part a lead takes when another takes over: the one the dispatch's units name it
    in, when that is a part its kind plays beside a lead (the recommendation's officer on
    the call named to stabilise the scene until the CIT officer it sends arrives: stepped
    down to back-up, it was told to back up a lead still on its way); else the one its kind
    plays beside the other kind's lead."""
    if named is not None and named != "lead" and named in ROLES_OF[lead.responder_type]:
        return named
    return STEPS_DOWN_TO[lead.responder_type]


def leaves_no_lead(
    active: Sequence[Assignment], changes: Sequence[RoleChange], new: Sequence[Unit]
) -> bool:
    """Whether a call that has a lead would have none after these changes and new units."""
    if not any(a.role == "lead" for a in active):
        return False
    changed = {c.assignment.id: c.role for c in changes}
    kept = any(changed.get(a.id, a.role) == "lead" for a in active)
    return not kept and not any(role == "lead" for _, _, role in new)


def with_roles(
    assignments: Sequence[Assignment], changes: Sequence[RoleChange]
) -> list[Assignment]:
    """The assignments as they read after the changes (copies; the others as they are)."""
    new_role = {c.assignment.id: c.role for c in changes}
    return [a if a.id not in new_role else _copy(a, role=new_role[a.id]) for a in assignments]


def _copy(a: Assignment, *, role: UnitRole) -> Assignment:
    return Assignment(
        id=a.id,
        agency_id=a.agency_id,
        call_id=a.call_id,
        dispatch_id=a.dispatch_id,
        responder_type=a.responder_type,
        responder_id=a.responder_id,
        role=role,
        override_reason=a.override_reason,
        assigned_at=a.assigned_at,
        released_at=a.released_at,
        released_status=a.released_status,
        on_scene_at=a.on_scene_at,
        call_sign=a.call_sign,
    )
