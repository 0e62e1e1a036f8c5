"""Parts that change on a dispatch: a unit already on the call takes the role it is sent in.

SPEC §1: when safety is flagged a CIT officer leads and mental health supports, and CIT
officers take charge of the scene even when not first there. After an escalation the
recommendation names the units already on the call in their new parts (routing ranks them
first); a dispatch gives them those parts. A lead it sends, new or already on the call,
takes over from any other: that one steps down, a co-responder to support, an officer to
backup, so a call has one lead at a time. Plain data in, plain data out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from app.models import Assignment
from app.vocabulary import ResponderType, UnitRole

Unit = tuple[ResponderType, UUID, UnitRole]

# The part a lead steps down to when another unit takes over: the one each kind plays
# beside the other kind's lead in a recommendation.
STEPS_DOWN_TO: dict[ResponderType, UnitRole] = {"co_responder": "support", "officer": "backup"}


@dataclass(frozen=True, slots=True)
class RoleChange:
    """A unit on the call (its active assignment) and the role it now plays."""

    assignment: Assignment
    role: UnitRole

    @property
    def unit(self) -> Unit:
        return (self.assignment.responder_type, self.assignment.responder_id, self.role)


def role_changes(requested: Sequence[Unit], active: Sequence[Assignment]) -> list[RoleChange]:
    """The role changes a dispatch of these units makes on a call with these active
    assignments: each unit already on it sent in another role takes that role; with a
    lead among the units sent, any other lead on the call steps down."""
    on_call = {a.responder_id: a for a in active}
    changes = [
        RoleChange(on_call[unit_id], role)
        for _, unit_id, role in requested
        if unit_id in on_call and on_call[unit_id].role != role
    ]
    if any(role == "lead" for _, _, role in requested):
        named = {unit_id for _, unit_id, _ in requested}
        changes += [
            RoleChange(a, STEPS_DOWN_TO[a.responder_type])
            for a in active
            if a.role == "lead" and a.responder_id not in named
        ]
    return changes


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
        on_scene_at=a.on_scene_at,
    )
