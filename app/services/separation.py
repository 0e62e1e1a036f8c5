"""A unit leaving the agency (an officer's separation, a co-responder deactivated): what
its row's change takes first, and what goes with it (app/services/roster.py changes the row)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound, RolledBack
from app.events.body import instant_text
from app.records.audit import AuditRecord
from app.repositories import assignments as assignment_repo
from app.repositories import keys as keys_repo
from app.repositories import roster as roster_repo
from app.repositories import shifts as shift_repo
from app.repositories import webhooks as webhooks_repo
from app.security import Principal
from app.services import audit, unit_kind
from app.services import webhooks as webhook_service
from app.services.busy import busy_on
from app.vocabulary import ResponderType

# How many times a separation looks for the shift under way again, when one was created
# while it looked (each time, it lets go of the unit's row and locks the shift first).
_SEPARATION_LOOKS = 3


async def lock(
    session: AsyncSession, agency_id: UUID, responder_type: ResponderType, unit_id: UUID
) -> tuple[UUID, datetime] | None:
    """The shift under way of a unit to deactivate, locked, then the unit's row (the order a
    change to a shift takes), refused with a 409 if it is on a call.

    A shift created while the first look ran has committed once the row is locked (its
    creation locks the row first: shift_repo.responder_standing; one created later waits,
    finds the unit inactive, and is refused if it reaches past the separation, as any
    shift under way then does: app/services/shift_standing.py). A look with the row held
    finds it; the row is then let go (back to a savepoint) and the shift locked before it,
    as the first look would have: locking the shift while holding the row could deadlock
    with a change to that shift, which holds the shift and waits for the row.

    First of all, an id that is not the agency's unit of responder_type is the 404 of its
    path (naming the path meant, for the agency's unit of the other kind), before anything
    is locked: the shift is found by the id alone, and the unit of the other kind's would
    be locked."""
    if not await roster_repo.has_unit(
        session, agency_id=agency_id, responder_type=responder_type, responder_id=unit_id
    ):
        raise NotFound(
            await unit_kind.not_found_at(
                session, agency_id, named_as=responder_type, responder_id=unit_id
            )
        )
    for _ in range(_SEPARATION_LOOKS):
        async with session.begin_nested() as savepoint:
            shift = await shift_repo.lock_current_shift(
                session, agency_id=agency_id, responder_id=unit_id
            )
            await _refuse_deactivating_on_a_call(session, agency_id, responder_type, unit_id)
            under_way = await shift_repo.current_shift_id(
                session, agency_id=agency_id, responder_id=unit_id
            )
            if under_way == (None if shift is None else shift[0]):
                return shift  # the savepoint released, its locks kept
            await savepoint.rollback()
    raise RolledBack()


async def _refuse_deactivating_on_a_call(
    session: AsyncSession, agency_id: UUID, responder_type: ResponderType, unit_id: UUID
) -> None:
    """A 409 when the unit to deactivate holds an assignment, or is busy on a CAD's own
    incident (named or not): it would stay on the call, or the incident, yet vanish from the
    units list (as cancelling its only shift is refused then). Its row is locked first (the
    one lock order of dispatch), so no dispatch assigns it between this check and the
    change."""
    locked = await assignment_repo.lock_units(
        session,
        agency_id=agency_id,
        officer_ids=[unit_id] if responder_type == "officer" else [],
        co_ids=[unit_id] if responder_type == "co_responder" else [],
    )
    unit = locked.get(unit_id)
    if unit is None or not unit.active:
        # Deactivated already: sent again (with a new name, say), it changes nothing of its
        # standing. One an earlier release let go busy is as migration 0041 left it.
        return
    if unit.active_call_id is not None:
        raise Conflict(
            f"the unit is assigned to call {unit.active_call_id}: clear the call, or have the"
            " unit report available or out of service, before deactivating it"
        )
    busy = busy_on(unit)
    if busy is not None:
        raise Conflict(
            f"the unit is busy on {busy}: have it report available or out of service before"
            " deactivating it"
        )


async def retire(
    session: AsyncSession,
    who: Principal,
    request_id: str | None,
    unit_id: UUID,
    shift: tuple[UUID, datetime] | None,
) -> tuple[list[bytes], datetime]:
    """A unit deactivated: its unit keys are revoked and its terminal's webhook
    subscriptions disabled, for good (reactivated, it needs new ones), so a terminal does
    not outlive the post; its shift under way (shift: its id and end, locked) ends now.
    Each is audited as its own revocation or change would be, naming why. The keys'
    hashes, for caches to drop, and the moment of the separation (the shift's new end, if
    one was under way). Run before the unit's row is changed (the shift's end must come
    first: shift_repo.end_shift_now)."""
    now = separated = datetime.now(UTC)
    why = {"reason": webhooks_repo.RETIRED, "responder_id": str(unit_id)}
    ended: list[AuditRecord] = []
    if shift is not None:
        shift_id, was = shift
        at = separated = await shift_repo.end_shift_now(session, shift_id)
        change = audit.changes({"ends_at": instant_text(was)}, {"ends_at": instant_text(at)})
        ended.append(
            audit.entry(
                who,
                action="shift.update",
                resource_type="shift",
                resource_id=shift_id,
                request_id=request_id,
                at=now,
                detail={**why, "changed": change},
            )
        )
    keys = await keys_repo.revoke_unit_keys(
        session, agency_id=who.agency_id, responder_id=unit_id, at=now
    )
    subscriptions = await webhooks_repo.disable_terminal_subscriptions(
        session, agency_id=who.agency_id, responder_id=unit_id, reason=webhooks_repo.RETIRED
    )
    failed = await webhook_service.fail_pending(session, subscriptions)
    entries = [
        audit.entry(
            who,
            action="api_key.revoke",
            resource_type="api_key",
            resource_id=key.id,
            request_id=request_id,
            at=now,
            detail={**why, "prefix": key.prefix},
        )
        for key in keys
    ] + [
        audit.entry(
            who,
            action="webhook.disable",
            resource_type="webhook",
            resource_id=subscription_id,
            request_id=request_id,
            at=now,
            detail={**why, **_failed_deliveries(failed.get(subscription_id))},
        )
        for subscription_id in subscriptions
    ]
    entries += ended
    conn = await session.connection()
    for entry in entries:
        await audit.write(conn, entry)
    return [key.key_hash for key in keys], separated


def _failed_deliveries(count: int | None) -> dict[str, int]:
    """A retired subscription's audit detail: how many pending deliveries it failed."""
    return {"failed_deliveries": count} if count else {}
