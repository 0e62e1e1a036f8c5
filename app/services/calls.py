"""Crisis calls as they change: intake, and new information (re-triage).

What reads them, and the representations every answer about a call uses, is
app/services/call_views.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.db.unit_of_work import UnitOfWork
from app.eido import outgoing, registry
from app.encryption import CALL_NOTES, DataCipher, UndecryptableValue
from app.errors import CallExists, Conflict, Invalid
from app.events import catalogue as events
from app.ids import new_id
from app.records.calls import CallRecord, Location, SubjectFacts
from app.records.recommendations import RecommendationRecord
from app.repositories import assignments as assignment_repo
from app.repositories import calls as repo
from app.repositories.idempotency import Answer
from app.schemas.call_answers import CallOut, DispatchedCallOut
from app.schemas.calls import CallCreate, CallLocation, CallPatch, Subject
from app.security import Principal
from app.services import audit, call_views, triage
from app.services.call_views import get, known_by, render_call
from app.vocabulary import CallChange, invisible_escaped


def _location(body: CallLocation | None) -> Location | None:
    return None if body is None else Location(lat=body.lat, lon=body.lon, address=body.address)


def _subject(body: Subject) -> SubjectFacts:
    return SubjectFacts() if body.age is None else SubjectFacts(age=body.age)


# How far ahead of this service's clock a client's timestamp may be: CAD and service clocks
# differ a little. Further ahead is a mistake that would count a call's response time as
# negative, and keep an EIDO incident from taking any real update (none would be newer).
CLOCK_SKEW = timedelta(minutes=5)


def refuse_the_future(at: datetime, now: datetime, loc: tuple[str, ...]) -> None:
    """A 422 at loc when at is more than CLOCK_SKEW ahead of now."""
    if at > now + CLOCK_SKEW:
        minutes = int(CLOCK_SKEW.total_seconds() // 60)
        raise Invalid(f"more than {minutes} minutes ahead of the service's clock", loc=loc)


async def create(
    work: UnitOfWork,
    context: AgencyContext,
    who: Principal,
    body: CallCreate,
    *,
    cipher: DataCipher,
    request_id: str | None,
    idempotency_key: str | None,
) -> CallOut:
    """Take a call: one candidate query, then one statement writes the call with its
    recommendation, events, audit entry and (with a key) the replayable answer."""
    now = datetime.now(UTC)
    if body.received_at is not None:
        refuse_the_future(body.received_at, now, ("body", "received_at"))
    call = new_call(context, body, cipher=cipher, now=now)
    await _refuse_an_exported_incident_id(work, call)
    return await intake(
        work, context, who, call, now=now, request_id=request_id, idempotency_key=idempotency_key
    )


async def _refuse_an_exported_incident_id(work: UnitOfWork, call: CallRecord) -> None:
    """A CallExists when the new call's external_id is the incident id this agency's EIDO
    export gave another call (docs/api.md, "EIDO export"): the two would share it, and a
    later import or retrieval by it would find the new call, not the incident's. Only an id
    of the export's own form is read for (app/eido/outgoing.py), so intake pays nothing."""
    named = outgoing.assigned_call_id(call.external_id or "", call.agency_id)
    if named is None:
        return
    holder = await repo.get_call(await work.session(), agency_id=call.agency_id, call_id=named)
    if holder is not None and known_by(holder, str(call.external_id)):
        raise CallExists(invisible_escaped(str(call.external_id)), named)


def new_call(
    context: AgencyContext, body: CallCreate, *, cipher: DataCipher, now: datetime
) -> CallRecord:
    """A new call as the client describes it, placed in its district (not yet written)."""
    location = _location(body.location)
    district_id, code = triage.resolve_district(context, body.district, location)
    call_id = new_id()
    return CallRecord(
        id=call_id,
        agency_id=context.agency_id,
        external_id=(
            None if body.external_id is None else registry.canonical_incident_id(body.external_id)
        ),
        status="pending",
        district_id=district_id,
        district=code,
        location=location,
        nature=body.nature,
        safety=body.safety.model_dump(),
        subject=_subject(body.subject),
        notes=cipher.encrypt_optional(body.notes, column=CALL_NOTES, row_id=call_id),
        # A CAD's clock a little ahead dates a call after its intake: taken as received at
        # intake, or its minutes to dispatch would be negative (SPEC §7.5).
        received_at=now if body.received_at is None else min(body.received_at, now),
        created_at=now,
        updated_at=now,
        dispatched_at=None,
        cleared_at=None,
        disposition=None,
        diverted_to=None,
        outcome=None,
        use_of_force=False,
        subject_injured=False,
        officer_injured=False,
        eido_updated_at=None,
        eido_notes_digest=None,
    )


async def intake(
    work: UnitOfWork,
    context: AgencyContext,
    who: Principal,
    call: CallRecord,
    *,
    now: datetime,
    request_id: str | None,
    idempotency_key: str | None,
) -> CallOut:
    """Triage a new call and write it with its recommendation, events, audit entry and
    (with a key) the replayable answer, in one statement. A call of the agency that
    already has its external_id is a CallExists, raised in a fresh transaction."""
    conn = await work.connection()
    rec = await triage.triage(conn, context, call, now=now)
    out = render_call(call, rec)
    answer = (
        None
        if idempotency_key is None
        else Answer(
            agency_id=call.agency_id,
            key=idempotency_key,
            status=201,
            body=out.model_dump(mode="json"),
        )
    )
    entry = audit.call_entry(who, call.id, action="call.create", request_id=request_id, at=now)
    try:
        await repo.insert_call(
            conn,
            call,
            recommendation=rec,
            events=[
                events.call_created(call, lead=rec.lead),
                events.recommendation_created(call, rec),
            ],
            entry=entry,
            answer=answer,
        )
    except repo.ExternalIdTaken:
        # The failed statement aborted the transaction: read the holder in a fresh one.
        await work.restart()
        existing = await repo.call_id_for_external_id(
            await work.connection(), agency_id=call.agency_id, external_id=call.external_id
        )
        if existing is None:  # cleared by a rollback since: unlikely, and worth a retry
            shown = invisible_escaped(str(call.external_id))
            raise Conflict(f"external_id {shown} was taken; retry") from None
        raise CallExists(invisible_escaped(str(call.external_id)), existing) from None
    except repo.DistrictGone:
        raise Invalid(f"unknown district {call.district}", loc=("body", "district")) from None
    triage.count_when_committed(work, rec)
    return out


async def update(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call_id: UUID,
    body: CallPatch,
    *,
    cipher: DataCipher,
    request_id: str | None,
    precondition: Callable[[str], bool] | None = None,
) -> tuple[DispatchedCallOut, str | None]:
    """Apply new information, re-triage and store a new recommendation (history is kept).
    With a precondition (If-Match), only over the call as its tag says it was read: a 412
    over another, so that of two consoles that read one call, the second to write does not
    set its facts or notes back unseen. The call as it answers (with its units and
    dispatches, as a dispatch answers, but not its notes), and the tag of the call as
    GET /v1/calls/{id} now shows it (None for notes no key decrypts: no tag, and a
    precondition then fails but for "*", as the call read cannot be told from another).
    A cleared call is the 409 it is without If-Match, whatever that says: no write would
    change it, so a 412's "read it again" could not work (RFC 9110 §13.2.1: a failure
    known before the request is processed takes precedence over its preconditions)."""
    call = await get(session, context, call_id, for_update=True)
    _refuse_cleared(call)
    if precondition is not None:
        latest = await call_views.latest_recommendation(session, call)
        await call_views.hold_to(precondition, session, call, latest, cipher=cipher)
    call, rec = await revise(
        session, context, who, call, body, cipher=cipher, request_id=request_id
    )
    return await call_views.answer_and_tag(session, call, rec, cipher=cipher)


def _refuse_cleared(call: CallRecord) -> None:
    """A cleared call can no longer be changed: a Conflict."""
    if call.status == "cleared":
        raise Conflict("the call is cleared; it can no longer be changed")


async def revise(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call: CallRecord,
    body: CallPatch,
    *,
    cipher: DataCipher,
    request_id: str | None,
) -> tuple[CallRecord, RecommendationRecord]:
    """Apply new information to a call locked for update (get(..., for_update=True)), store
    it, re-triage and store the new recommendation; a cleared call is a Conflict."""
    _refuse_cleared(call)
    now = datetime.now(UTC)
    district_id, district = call.district_id, call.district
    if body.district is not None:
        district_id, district = triage.resolve_district(context, body.district, None)
    elif body.location is not None and body.location.point is not None:
        # A better fix on the caller re-places the call; a point outside every boundary
        # (or an agency without boundaries) keeps the district it has. An address alone
        # keeps it too.
        located = context.locate(*body.location.point)
        if located is not None:
            district_id, district = context.districts_by_code[located].id, located
    revised = replace(
        call,
        safety=(
            call.safety
            if body.safety is None
            else {**call.safety, **body.safety.model_dump(exclude_none=True)}
        ),
        nature=call.nature if body.nature is None else body.nature,
        location=call.location if body.location is None else _location(body.location),
        notes=(
            call.notes
            if body.notes is None
            else cipher.encrypt(body.notes, column=CALL_NOTES, row_id=call.id)
        ),
        subject=call.subject if body.subject is None else _subject(body.subject),
        district_id=district_id,
        district=district,
        updated_at=now,
    )
    changed = _changed(call, revised, body, cipher)
    if not changed:
        # Nothing new (`{}`, every field null, or what the call holds already): the call is
        # not written and its units are not told it changed, but it is re-triaged all the
        # same, so a PATCH that names nothing renews a recommendation gone stale.
        rec = await triage.retriage(
            session, context, who, call, request_id=request_id, now=now, cause="restate"
        )
        # A dispatch that read the call before this commits must see the new
        # recommendation (assignment_repo.mark_call_changed says why).
        await assignment_repo.touch_call(session, agency_id=context.agency_id, call_id=call.id)
        return call, rec
    try:
        await repo.update_call(session, revised)
    except repo.DistrictGone:
        # Deleted since this instance's settings named it (DELETE /v1/districts/{code}).
        where = "district" if body.district is not None else "location"
        raise Invalid(f"unknown district {district}", loc=("body", where)) from None
    rec = await triage.retriage(
        session,
        context,
        who,
        revised,
        request_id=request_id,
        now=now,
        cause="update",
        changed=changed,
    )
    return revised, rec


# The fields a PATCH may change besides the notes, as call.updated names them.
_FIELDS: tuple[CallChange, ...] = ("nature", "safety", "location", "district", "subject")


def _changed(
    call: CallRecord, revised: CallRecord, body: CallPatch, cipher: DataCipher
) -> list[CallChange]:
    """What a PATCH changed of the call (none: nothing): the fields where revised differs
    from it, the notes when those it gives are not those the call holds (each encryption
    differs, so the ciphertexts cannot be compared)."""
    changed = [field for field in _FIELDS if getattr(revised, field) != getattr(call, field)]
    if body.notes is not None and _new_notes(call, body.notes, cipher):
        changed.append("notes")
    return changed


def _new_notes(call: CallRecord, notes: str, cipher: DataCipher) -> bool:
    """Whether notes are not those the call holds (notes no key decrypts: taken as new)."""
    try:
        return notes != cipher.decrypt_optional(call.notes, column=CALL_NOTES, row_id=call.id)
    except UndecryptableValue:
        return True
