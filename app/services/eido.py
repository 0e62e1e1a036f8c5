"""EIDO (NENA-STA-021): import a document as a call (export: app/services/eido_export.py).

The conversions are pure (app/eido); this module places the call, and creates or revises
it through the call service (app/services/calls.py), so an imported call is taken, triaged,
evented and audited exactly as one from POST /v1/calls.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.db.unit_of_work import UnitOfWork
from app.eido import incoming, schema
from app.eido.schema import EidoInvalid
from app.encryption import UndecryptableValue
from app.errors import CallExists, Conflict, Invalid
from app.records.calls import CallRecord
from app.repositories import calls as call_repo
from app.schemas.call_answers import CallOut
from app.schemas.calls import CallCreate, CallPatch
from app.schemas.common import said
from app.schemas.dispatch import ClearRequest
from app.security import Principal
from app.services import (
    agency,
    audit,
    call_views,
    calls,
    clearing,
    eido_export,
    eido_news,
    eido_place,
)
from app.services.eido_applied import as_applied, reopening_ended
from app.services.eido_export import incident_call
from app.state import AppState
from app.vocabulary import ALWAYS_SAFETY


@dataclass(frozen=True, slots=True)
class EidoImport:
    """What importing one EIDO did: the call as it stands, whether the import created it,
    and whether the document was applied (False: it was not newer than the last one)."""

    call: CallOut
    created: bool
    applied: bool


async def import_eido(
    state: AppState,
    agency_id: UUID,
    document: dict[str, Any],
    *,
    who: Principal,
    district: str | None,
    request_id: str | None,
) -> EidoImport:
    """Import one EIDO document for the agency in a unit of work of its own, committed
    when this returns: the entry point for a caller outside a request (the STA-024
    subscriber).

    Idempotent by the document's `$id` and `lastUpdateTimeStamp`: a document no newer than
    the last one applied to its call changes nothing (applied=False), so replaying
    documents after a restart imports none twice; concurrent imports of one incident make
    one call. district is the fallback placement (as `?district=` on POST /v1/eido); a call
    the agency has keeps its district when the document places it nowhere.
    Raises Invalid (not an acceptable EIDO, or nothing places a new call: write nothing),
    Conflict (the incident's call is cleared) and the database's errors.
    """
    context = await agency.context(state, agency_id)
    facts = await _read(document, context)
    async with state.unit_of_work(agency_id) as work:
        return await _import(
            state, work, context, who, facts, district=district, request_id=request_id
        )


async def import_if_taken(
    state: AppState,
    agency_id: UUID,
    document: dict[str, Any],
    *,
    who: Principal,
    request_id: str | None,
) -> EidoImport | None:
    """import_eido for the STA-024 subscriber: None, writing nothing, for an incident this
    service does not take. It takes one whose common incident type the policy's
    `eido_incident_types` lists, unless it has ended, and any incident that already has a
    call here (news of an incident taken in applies, whatever its type says now)."""
    context = await agency.context(state, agency_id)
    facts = await _read(document, context)
    async with state.unit_of_work(agency_id) as work:
        listed = facts.nature is not None and (
            facts.nature.upper() in context.policy.eido_incident_types
        )
        if not listed or facts.ended:
            session = await work.session()
            if await incident_call(session, context, facts.incident_id, for_update=False) is None:
                return None
        return await _import(state, work, context, who, facts, district=None, request_id=request_id)


async def import_document(
    state: AppState,
    work: UnitOfWork,
    context: AgencyContext,
    who: Principal,
    document: Any,
    *,
    district: str | None,
    request_id: str | None,
) -> EidoImport:
    """Import one EIDO in the caller's unit of work (POST /v1/eido): create the incident's
    call, or update it if the document is newer than the last one applied."""
    facts = await _read(document, context)
    return await _import(state, work, context, who, facts, district=district, request_id=request_id)


async def load_schema() -> None:
    """Build the EIDO validators off the event loop, at start-up: the first import does
    not wait for them."""
    await asyncio.to_thread(schema.load)


async def _read(document: Any, context: AgencyContext) -> incoming.IncidentFacts:
    """The document's facts, for the agency; one that is not an acceptable EIDO is
    Invalid."""
    zone = context.timezone
    # The flags law enforcement leads under the policy for good: it may not drop weapon or
    # violence, but one stored before that rule may not count them (docs/routing.md).
    le_leads = frozenset(f for f in ALWAYS_SAFETY if f in context.policy.safety_flags)
    try:
        if schema.is_valid(document):  # tens of microseconds: the usual case
            facts = incoming.read(document, zone=zone, le_leads=le_leads, valid=True)
        else:
            # Explaining a refusal may take a tenth of a second (bounded:
            # app/eido/schema.py): off the event loop.
            facts = await asyncio.to_thread(incoming.read, document, zone=zone, le_leads=le_leads)
    except EidoInvalid as exc:
        raise Invalid(f"not an acceptable EIDO: {exc.message}", loc=("body", *exc.loc)) from None
    return facts


def _refuse_the_future(facts: incoming.IncidentFacts) -> None:
    """A document dated far ahead of the clock is a 422: no real update of its incident
    would be newer than it, and its call's response times would be negative. Checked for
    a document to be imported (after the subscriber's choice), not for one passed over."""
    now = datetime.now(UTC)
    calls.refuse_the_future(facts.updated_at, now, ("body", "lastUpdateTimeStamp"))
    if facts.received_at is not None:
        calls.refuse_the_future(facts.received_at, now, ("body", "callComponent"))


async def _import(
    state: AppState,
    work: UnitOfWork,
    context: AgencyContext,
    who: Principal,
    facts: incoming.IncidentFacts,
    *,
    district: str | None,
    request_id: str | None,
) -> EidoImport:
    _refuse_the_future(facts)
    if facts.ended:
        # No call to make of it, placed or not: only news for a call the agency has.
        session = await work.session()
        if await incident_call(session, context, facts.incident_id, for_update=False) is None:
            raise Invalid(
                "the incident has ended (Closed or Cancelled): there is nothing to dispatch,"
                " and no call of this agency for it to update",
                loc=("body", "incidentComponent", "incidentStatusCommonRegistryText"),
            )
    context = await agency.knowing(
        state,
        context,
        codes=[] if district is None else [district],
        point=facts.point or facts.fallback_point,
    )
    code = eido_place.district_of(context, facts, district)
    for _ in range(2):
        session = await work.session()
        call = await incident_call(session, context, facts.incident_id, for_update=True)
        if call is not None:
            # Placed already: a document that says nothing of the place keeps the district.
            body = _call_body(facts, code or call.district)
            return await _update(state, session, context, who, call, facts, body, request_id)
        # A new call only: the update after a concurrent import (the loop) keeps its own.
        new_code = code or eido_place.by_caller(context, facts)
        if new_code is None:
            raise eido_place.unplaced(facts)
        body = _call_body(facts, new_code)
        now = datetime.now(UTC)
        new = calls.new_call(context, body, cipher=state.cipher, now=now)
        try:
            out = await calls.intake(
                work,
                context,
                who,
                as_applied(new, facts, state.cipher),
                now=now,
                request_id=request_id,
                idempotency_key=None,
            )
        except CallExists:
            continue  # imported concurrently: update it (in the fresh transaction)
        return EidoImport(call=out, created=True, applied=True)
    raise Conflict(f"the call for {facts.incident_id} was being imported meanwhile; retry")


# Where each field of a call comes from in an EIDO, for a 422 that names it.
def _origin(facts: incoming.IncidentFacts, field: str) -> tuple[str | int, ...]:
    return {
        "external_id": ("$id",),
        "nature": facts.nature_loc,
        "location": facts.location_loc,
        "subject": facts.age_loc,
        "notes": ("notesComponent",),
        "received_at": ("callComponent",),
    }.get(field, ())


def _call_body(facts: incoming.IncidentFacts, district: str) -> CallCreate:
    """The call the document describes, checked as POST /v1/calls checks one."""
    location: dict[str, Any] | None = None
    if facts.point is not None:
        lat, lon = facts.point
        location = {"lat": lat, "lon": lon, "address": facts.address}
    elif facts.address is not None:
        # An address without a point (none given, or none read): kept; it places nothing.
        location = {"address": facts.address}
    try:
        return CallCreate.model_validate(
            {
                "external_id": facts.incident_id,
                "district": district,
                "location": location,
                "nature": facts.nature,
                "subject": {} if facts.age is None else {"age": facts.age},
                "notes": facts.notes,
                "received_at": facts.received_at,
                "safety": dict.fromkeys(sorted(facts.safety), True),
            }
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        loc = ("body", *_origin(facts, field))
        raise Invalid(f"not an acceptable EIDO: {said(error)}", loc=loc) from None


async def _update(
    state: AppState,
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call: CallRecord,
    facts: incoming.IncidentFacts,
    body: CallCreate,
    request_id: str | None,
) -> EidoImport:
    """Apply a document to its incident's call, locked for update: only a newer one, and
    with re-triage only when the nature, place, person or notes changed or a caution raised
    a safety flag; a newer one saying the incident ended then clears the call. A cleared
    call takes none (409), unless there is nothing to take (applied: false); an end with
    another outcome than the call's is something to take. The call's own
    export coming back (a CAD echoing it), dated no later than its export would be now
    (eido_news.own_export), is no news: it says what the call held, and anything the call
    holds now that differs (a flag a dispatcher lowered since) is newer."""
    # The export's date is worked out (a read of the units) only for a document naming it.
    own = eido_news.names_this_call(facts, call) and eido_news.own_export(
        facts, await eido_export.last_exported(session, context, call)
    )
    if own or (call.eido_updated_at is not None and facts.updated_at <= call.eido_updated_at):
        await _audit(session, who, call, request_id, incident_id=facts.incident_id, applied=False)
        return EidoImport(call=await _render(session, call), created=False, applied=False)
    placed = eido_news.notes_kept(
        call, facts, eido_place.keep_place(call, context, facts, body), state.cipher
    )
    if call.status == "cleared":
        try:
            told = eido_news.changes(call, placed, facts, state.cipher)
        except UndecryptableValue:  # its notes cannot be compared: refused as news would be
            told = CallPatch()
        if facts.closure is not None and facts.closure.outcome not in (None, call.outcome):
            # The CAD's end of the incident says another outcome than the call was cleared
            # with: news the call cannot take, refused as any other (and so audited).
            refused = Conflict(
                f"call {call.id} is cleared with"
                f" {'no outcome' if call.outcome is None else f'outcome {call.outcome}'}; this EIDO"
                f" ends the incident with outcome {facts.closure.outcome}: a document does"
                " not change a cleared call's outcome (a supervisor corrects it with PATCH"
                f" /v1/calls/{call.id}/outcome)"
            )
            refused.audit_about = (
                call.id,
                {
                    "incident_id": facts.incident_id,
                    "outcome": call.outcome,
                    "refused_outcome": facts.closure.outcome,
                },
            )
            raise refused
        # The CAD taking up the incident again is news too, whatever else it tells: taken
        # as nothing to apply, the CAD held the incident open and the call stayed cleared.
        # Not when the last document applied said ReOpened already (the CAD reopened the
        # incident before a dispatcher cleared the call here, and says so on each update).
        reopens = facts.reopened and not call.eido_reopened
        if told is None and not reopens:  # e.g. its own export coming back
            if (ended := reopening_ended(call, facts)) is not None:
                call = ended
                await call_repo.update_call(session, call)
            await _audit(
                session, who, call, request_id, incident_id=facts.incident_id, applied=False
            )
            return EidoImport(call=await _render(session, call), created=False, applied=False)
        closed = Conflict(
            f"call {call.id} is cleared; an EIDO can no longer change it"
            + (", nor reopen it (the incident's status says ReOpened)" if told is None else "")
        )
        # Audited under the call, as a refused PATCH of it is, with the incident named.
        closed.audit_about = (call.id, {"incident_id": facts.incident_id})
        raise closed
    patch = eido_news.changes(call, placed, facts, state.cipher)
    applied = as_applied(call, facts, state.cipher)
    # A count of cautions not read changed with the notes alike (a caution now read as a
    # flag the call holds): the recommendation is renewed, its warning going with the count.
    renew = patch is None and applied.unread_cautions != call.unread_cautions
    call = applied
    if patch is None:
        await call_repo.update_call(session, call)
        if renew:
            call, rec = await calls.revise(
                session, context, who, call, CallPatch(), cipher=state.cipher, request_id=request_id
            )
            if facts.closure is None:
                return EidoImport(
                    call=call_views.render_call(call, rec), created=False, applied=True
                )
        else:
            await _audit(
                session, who, call, request_id, incident_id=facts.incident_id, applied=True
            )
            if facts.closure is None:
                return EidoImport(call=await _render(session, call), created=False, applied=True)
    else:
        call, rec = await calls.revise(
            session, context, who, call, patch, cipher=state.cipher, request_id=request_id
        )
        if facts.closure is None:
            return EidoImport(call=call_views.render_call(call, rec), created=False, applied=True)
    # The CAD closed or cancelled the incident: its call is cleared as POST .../clear clears
    # one (its units released, call.cleared sent), with the document's disposition.
    await session.flush()
    cleared = await clearing.clear(
        session,
        context,
        who,
        call.id,
        ClearRequest(disposition=facts.closure.disposition, outcome=facts.closure.outcome),
        cipher=state.cipher,
        request_id=request_id,
    )
    return EidoImport(call=cleared, created=False, applied=True)


async def _render(session: AsyncSession, call: CallRecord) -> CallOut:
    return call_views.render_call(call, await call_views.latest_recommendation(session, call))


async def _audit(
    session: AsyncSession,
    who: Principal,
    call: CallRecord,
    request_id: str | None,
    *,
    incident_id: str,
    applied: bool,
) -> None:
    """Record an import that neither created the call nor re-triaged it, with the incident
    id the document named (a call found by the id its export gave it has no external_id)."""
    entry = audit.call_entry(
        who,
        call.id,
        action="call.import",
        request_id=request_id,
        at=datetime.now(UTC),
        detail={"applied": applied, "incident_id": incident_id},
    )
    await audit.write(await session.connection(), entry)
