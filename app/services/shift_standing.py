"""Whose shift a shift may be: a responder active now, or one who has left, for a shift
wholly within the period they last served (a roster written up after they left). And
why a shift the roster keeps does not count for coverage (not_counted).

Project decision (SPEC §3.2 is silent): an officer who has left served from
`serving_since` (created active, or reactivated) to `separated_at`. A co-responder keeps
no such period, nor does an officer created inactive, or one who left before it was kept
and whose audit trail cannot tell it (migration 0035): for them every shift is refused,
as before. A shift so admitted has ended before its officer
left, so it never makes them a candidate (the candidate query reads shifts on now, of
active units); the coverage report counts it as any past shift (record_as_worked).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Invalid
from app.events.body import instant_text
from app.repositories import shifts as repo
from app.repositories.shift_views import ShiftView
from app.repositories.shifts import Standing
from app.schemas.shifts import NotCounted


async def admit(
    session: AsyncSession,
    *,
    agency_id: UUID,
    responder_type: str,
    responder_id: UUID,
    starts_at: datetime,
    ends_at: datetime,
    loc: Sequence[str | int],
    responder_loc: Sequence[str | int],
) -> Standing:
    """The standing of the shift's responder, its row locked (repo.responder_standing), if
    the shift [starts_at, ends_at) may be theirs; else a 422: at responder_loc for a
    responder the agency does not have, or one no longer active whose period of service
    is not on record; at loc's starts_at or ends_at for a shift outside that period."""
    standing = await repo.responder_standing(
        session, agency_id=agency_id, responder_type=responder_type, responder_id=responder_id
    )
    who = f"that {responder_type}"
    if standing is None:
        raise Invalid(f"no {responder_type} with that id", loc=responder_loc)
    if standing.active:
        return standing
    since, until = standing.served_from, standing.served_until
    if since is None or until is None:
        raise Invalid(
            f"{who} is not active, and when they last served is not on record: a shift can"
            " be entered for them only while they are active",
            loc=responder_loc,
        )
    if ends_at > until:
        raise Invalid(
            f"{who} is not active: they left on {instant_text(until)}, and a shift of theirs"
            " must end by then",
            loc=(*loc, "ends_at"),
        )
    if starts_at < since:
        raise Invalid(
            f"{who} is not active, and their last period of service began on"
            f" {instant_text(since)}: a shift of theirs must start then or later",
            loc=(*loc, "starts_at"),
        )
    return standing


def not_counted(responder_type: str, ends_at: datetime, view: ShiftView) -> NotCounted | None:
    """Why the coverage report does not count the shift (view.counted false: its responder
    was not active for it), or None when it does. A shift ahead of a unit deactivated is
    kept (it counts again if the unit is made active again), so the list shows it: a
    coordinator must not plan on it."""
    if view.counted:
        return None
    who = "officer" if responder_type == "officer" else "co-responder"
    gone = view.separated_at
    if not view.responder_active and gone is not None and ends_at > gone:
        return NotCounted(
            code="responder_left",
            message=f"the {who} left on {instant_text(gone)}: their shifts after that do not"
            " count for coverage",
            left_at=gone,
        )
    if not view.responder_active:
        message = f"the {who} is not active: their shifts do not count for coverage"
    else:  # made active again since: the shift ended while they were not
        message = f"the {who} was not active when this shift ended: it does not count for coverage"
    return NotCounted(code="responder_inactive", message=message, left_at=None)
