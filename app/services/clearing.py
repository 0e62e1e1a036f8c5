"""Clearing a call: record its disposition and outcome, release every unit on it, close it;
and correcting that record once the call is cleared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.encryption import CALL_NOTES, DataCipher
from app.errors import Conflict
from app.events import catalogue as events
from app.repositories import calls as call_repo
from app.repositories import dispatch_reads
from app.repositories import dispatches as dispatch_repo
from app.repositories import events as outbox
from app.schemas.dispatch import ClearRequest, DispatchedCallOut, OutcomeCorrection
from app.security import Principal
from app.services import audit, call_views
from app.services.dispatch import read_call
from app.vocabulary import CLEARING_RECORD, newest_notes


async def clear(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call_id: UUID,
    body: ClearRequest,
    *,
    cipher: DataCipher,
    request_id: str | None,
) -> DispatchedCallOut:
    """Record the disposition, release every unit on the call, and close it.

    One statement reads the call (locked) with what the answer needs, one locks the units
    on it (app/repositories/dispatch_reads.py), one writes the release, the call, the events
    and the audit entry (app/repositories/dispatches.py); the answer is rendered from what
    was read and written.
    """
    conn = await session.connection()
    found = await read_call(conn, context, call_id)
    call, rec = found.call, found.recommendation
    if call.status == "cleared":
        raise Conflict("the call is already cleared")
    now = datetime.now(UTC)
    active = [a for a in found.assignments if a.released_at is None]
    if active:
        await dispatch_reads.lock_units(
            conn,
            agency_id=context.agency_id,
            officer_ids=[a.responder_id for a in active if a.responder_type == "officer"],
            co_ids=[a.responder_id for a in active if a.responder_type == "co_responder"],
            now=now,
        )
    released = [
        events.unit_released(
            call_id=call.id,
            external_id=call.external_id,
            responder_type=a.responder_type,
            responder_id=a.responder_id,
            call_sign=a.call_sign,
            role=a.role,
            status="available",
            reason="call_cleared",
        )
        for a in active
    ]
    notes = call.notes
    if body.notes:
        earlier = cipher.decrypt_optional(call.notes, column=CALL_NOTES, row_id=call.id)
        added = f"{earlier}\n{body.notes}" if earlier else body.notes
        # Kept within the notes' limit, the newest (the clear's) kept: past it, a console
        # sending the notes it read back in a PATCH had them refused.
        notes = cipher.encrypt(newest_notes(added), column=CALL_NOTES, row_id=call.id)
    call = replace(
        call,
        status="cleared",
        cleared_at=now,
        updated_at=now,
        disposition=body.disposition,
        diverted_to=body.diverted_to,
        outcome=body.outcome,
        use_of_force=body.use_of_force,
        subject_injured=body.subject_injured,
        officer_injured=body.officer_injured,
        notes=notes,
    )
    cleared = events.call_cleared(call, lead=rec.lead if rec else None)
    entry = audit.call_entry(
        who,
        call.id,
        action="call.clear",
        request_id=request_id,
        at=now,
        detail=body.model_dump(exclude={"notes"}),
    )
    await dispatch_repo.write_clear(
        conn, call, released=active, at=now, events=[*released, cleared], entry=entry
    )
    for assignment in active:
        assignment.released_at, assignment.released_status = now, "available"
    return call_views.render_dispatched(call, rec, found.assignments, found.dispatches)


async def correct(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call_id: UUID,
    body: OutcomeCorrection,
    *,
    cipher: DataCipher,
    request_id: str | None,
    precondition: Callable[[str], bool] | None = None,
) -> tuple[DispatchedCallOut, str | None]:
    """Correct what the clear of a cleared call recorded (a mistyped outcome, say): the
    fields the body gives, with its reason, in the audit trail (each field's value before
    and after), and `call.cleared` sent again with the record as it now stands, for a CAD
    to correct its own. A call not cleared is a 409 (the clear records these). With a
    precondition (If-Match), only over the call as its tag says it was read. The call as
    it answers, and its tag (as call_views.answer_and_tag gives them)."""
    conn = await session.connection()
    found = await read_call(conn, context, call_id)
    call, rec = found.call, found.recommendation
    if call.status != "cleared":
        raise Conflict(
            "the call is not cleared: what came of it is recorded when it is cleared"
            " (POST /v1/calls/{id}/clear), and corrected after"
        )
    if precondition is not None:
        await call_views.hold_to(precondition, session, call, rec, cipher=cipher)
    given = {name: getattr(body, name) for name in CLEARING_RECORD if name in body.model_fields_set}
    changed: dict[str, Any] = {
        name: {"from": getattr(call, name), "to": value}
        for name, value in given.items()
        if getattr(call, name) != value
    }
    now = datetime.now(UTC)
    if changed:
        call = replace(call, **given, updated_at=now)
        await call_repo.update_call(session, call)
        cleared = events.call_cleared(call, lead=rec.lead if rec else None)
        await outbox.write(session, agency_id=context.agency_id, at=now, events=[cleared])
    entry = audit.call_entry(
        who,
        call.id,
        action="call.correct",
        request_id=request_id,
        at=now,
        detail={"reason": body.reason, "changed": changed},
    )
    await audit.write(conn, entry)
    return await call_views.answer_and_tag(session, call, rec, cipher=cipher)
