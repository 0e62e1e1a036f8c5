"""Calls as the API shows them: one call, a page of them, their recommendation history,
and the representations that intake, updates, dispatch and EIDO import answer with.

Reads only; what changes a call is in app/services/calls.py (intake, new information) and
app/services/dispatch.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.eido import notes as eido_notes
from app.eido import outgoing, registry
from app.encryption import CALL_NOTES, DataCipher, UndecryptableValue
from app.errors import Invalid, NotFound, PreconditionFailed
from app.models import Assignment, Dispatch
from app.records.calls import CallRecord
from app.records.recommendations import RecommendationRecord
from app.repositories import assignments as assignment_repo
from app.repositories import calls as repo
from app.schemas.call_answers import (
    AssignmentOut,
    CallDetailOut,
    CallOut,
    DispatchedCallOut,
    DispatchOut,
    RecommendationOut,
)
from app.schemas.calls import CallLocation, Safety
from app.security import Principal
from app.services import audit
from app.vocabulary import CallStatus, invisible_escaped


def named(call_id: UUID, external_id: str | None) -> str:
    """A call as an error names it to a dispatcher: by the CAD's number (its external_id),
    which a dispatcher knows it by, when it has one (its invisible characters escaped, as in
    the 409 for a taken external_id), then by its id, for a console to open it:
    "CAD-004, 01a2…"."""
    return str(call_id) if external_id is None else f"{invisible_escaped(external_id)}, {call_id}"


def render_recommendation(rec: RecommendationRecord) -> RecommendationOut:
    return RecommendationOut(
        id=rec.id,
        call_id=rec.call_id,
        created_at=rec.created_at,
        policy_version=rec.policy_version,
        lead=rec.lead,
        safety_concern=rec.safety_concern,
        units=rec.units,
        requests=rec.requests,
        warnings=rec.warnings,
        reasons=rec.reasons,
    )


def render_call(call: CallRecord, rec: RecommendationRecord | None) -> CallOut:
    """The call as the API shows it in lists and answers: never its notes."""
    place = call.location
    return CallOut(
        id=call.id,
        external_id=call.external_id,
        status=call.status,
        district=call.district,
        location=(
            None
            if place is None
            else CallLocation(lat=place.lat, lon=place.lon, address=place.address)
        ),
        nature=call.nature,
        safety=Safety(**call.safety),
        subject=dict(call.subject),
        received_at=call.received_at,
        created_at=call.created_at,
        updated_at=call.updated_at,
        dispatched_at=call.dispatched_at,
        cleared_at=call.cleared_at,
        disposition=call.disposition,
        diverted_to=call.diverted_to,
        outcome=call.outcome,
        use_of_force=call.use_of_force,
        subject_injured=call.subject_injured,
        officer_injured=call.officer_injured,
        recommendation=None if rec is None else render_recommendation(rec),
    )


async def get(
    session: AsyncSession, context: AgencyContext, call_id: UUID, *, for_update: bool = False
) -> CallRecord:
    call = await repo.get_call(
        session, agency_id=context.agency_id, call_id=call_id, for_update=for_update
    )
    if call is None:
        raise NotFound("call not found")
    return call


async def latest_recommendation(
    session: AsyncSession, call: CallRecord
) -> RecommendationRecord | None:
    return (await repo.latest_recommendations(session, [call.id])).get(call.id)


async def render_with_units(
    session: AsyncSession, call: CallRecord, rec: RecommendationRecord | None
) -> DispatchedCallOut:
    """The call with every assignment and dispatch it has had."""
    return (await _render_many(session, [call], {} if rec is None else {call.id: rec}))[0]


async def _render_many(
    session: AsyncSession, calls: list[CallRecord], recs: Mapping[UUID, RecommendationRecord]
) -> list[DispatchedCallOut]:
    """Calls with their assignments and dispatches: two queries for any number of calls."""
    ids = [c.id for c in calls]
    assignments = await assignment_repo.for_calls(session, ids)
    dispatches = await assignment_repo.dispatches_for_calls(session, ids)
    return [
        render_dispatched(
            call, recs.get(call.id), assignments.get(call.id, []), dispatches.get(call.id, [])
        )
        for call in calls
    ]


def render_dispatched(
    call: CallRecord,
    rec: RecommendationRecord | None,
    assignments: Sequence[Assignment],
    dispatches: Sequence[Dispatch],
) -> DispatchedCallOut:
    """The call with these assignments and dispatches (each oldest first)."""
    return DispatchedCallOut(
        **dict(render_call(call, rec)),
        assignments=[AssignmentOut.model_validate(a, from_attributes=True) for a in assignments],
        dispatches=[DispatchOut.model_validate(d, from_attributes=True) for d in dispatches],
    )


async def get_detail(
    session: AsyncSession, context: AgencyContext, call_id: UUID, *, cipher: DataCipher
) -> CallDetailOut:
    """The call with its latest recommendation, its units and its decrypted notes."""
    call = await get(session, context, call_id)
    return await detail(session, call, await latest_recommendation(session, call), cipher=cipher)


async def detail(
    session: AsyncSession,
    call: CallRecord,
    rec: RecommendationRecord | None,
    *,
    cipher: DataCipher,
) -> CallDetailOut:
    """The call as GET /v1/calls/{id} shows it, with rec as its latest recommendation."""
    out = await render_with_units(session, call, rec)
    notes = cipher.decrypt_optional(call.notes, column=CALL_NOTES, row_id=call.id)
    return CallDetailOut(**dict(out), notes=notes)


async def tag_of(
    session: AsyncSession,
    call: CallRecord,
    rec: RecommendationRecord | None,
    *,
    cipher: DataCipher,
) -> str | None:
    """The entity tag of the call as GET /v1/calls/{id} shows it with rec as its latest
    recommendation; None when its notes cannot be decrypted (that GET is the 500 of a
    stored value no key decrypts, so there is no tag a client could hold; a PATCH adding
    a flag must still go through)."""
    return (await answer_and_tag(session, call, rec, cipher=cipher))[1]


async def hold_to(
    precondition: Callable[[str], bool],
    session: AsyncSession,
    call: CallRecord,
    rec: RecommendationRecord | None,
    *,
    cipher: DataCipher,
) -> None:
    """A write's If-Match (conditional.if_match's test) against the call as GET
    /v1/calls/{id} shows it with rec as its latest recommendation: PreconditionFailed (412)
    unless it passes. No tag (notes no key decrypts) matches none a client holds, but "*"
    matches any."""
    tag = await tag_of(session, call, rec, cipher=cipher)
    if not precondition('"' if tag is None else tag):
        now = "none: its notes cannot be decrypted" if tag is None else f"now {tag}"
        raise PreconditionFailed(
            f"the call has changed since it was read (its ETag is {now}), not the one"
            " If-Match names: read it again, change it and write it back"
        )


async def answer_and_tag(
    session: AsyncSession,
    call: CallRecord,
    rec: RecommendationRecord | None,
    *,
    cipher: DataCipher,
) -> tuple[DispatchedCallOut, str | None]:
    """The call as a PATCH answers with it (its units and dispatches, as GET shows them, but
    never its notes), and its tag as tag_of gives it: one read of its units for both."""
    out = await render_with_units(session, call, rec)
    try:
        notes = cipher.decrypt_optional(call.notes, column=CALL_NOTES, row_id=call.id)
    except UndecryptableValue:
        return out, None
    return out, etag(CallDetailOut(**dict(out), notes=notes))


def etag(shown: CallDetailOut) -> str:
    """The entity tag of a call as GET /v1/calls/{id} shows it (RFC 9110 §8.8.3): a digest
    of all of it, so that anything it shows changing (a fact, the notes, the latest
    recommendation, a unit's part or arrival, the status) changes the tag. A digest, not a
    clock or a counter: it is the same on every instance and tells nothing but itself.
    Names in sorted order: a JSON object's order is no part of what it says (a subject
    written from a PATCH and read back from jsonb has its names in another order)."""
    text = json.dumps(shown.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).digest()
    return f'"{base64.urlsafe_b64encode(digest[:18]).decode()}"'


async def read_by_its_unit(
    session: AsyncSession,
    context: AgencyContext,
    call_id: UUID,
    *,
    who: Principal,
    request_id: str | None,
    cipher: DataCipher,
) -> tuple[DispatchedCallOut, list[str]]:
    """The call a unit is on, as its terminal reads it (GET /v1/units/me), and the lines
    of its notes that tell the CAD's cautions not read as a safety flag: the crew going to
    the door needs them most, and the call's recommendation tells to read them. A read of
    the call's details, audited as `call.read` like any other."""
    call = await get(session, context, call_id)
    out = await render_with_units(session, call, await latest_recommendation(session, call))
    entry = audit.call_entry(
        who,
        call_id,
        action="call.read",
        request_id=request_id,
        at=datetime.now(UTC),
        detail={"via": "GET /v1/units/me"},
    )
    await audit.write(await session.connection(), entry)
    try:
        notes = cipher.decrypt_optional(call.notes, column=CALL_NOTES, row_id=call.id)
    except UndecryptableValue:
        # The unit still sees its call; what it cannot see is said, not left out.
        return out, [
            f"{eido_notes.CAUTION_LINE}: cannot be shown (the call's notes cannot be"
            " decrypted here): ask the dispatcher"
        ]
    return out, eido_notes.caution_lines(notes)


def known_by(call: CallRecord, external_id: str) -> bool:
    """Whether the CAD knows call by external_id: its own, or the Incident Tracking
    Identifier the EIDO export assigned it, which only a call without one of its own is
    given (app/eido/outgoing.py), and which names it exactly (its hex in the export's case).
    external_id is compared in its canonical spelling (registry.canonical_incident_id), as
    every stored one is."""
    wanted = registry.canonical_incident_id(external_id)
    return call.external_id == wanted or (
        not outgoing.is_incident_id(call.external_id)
        and outgoing.incident_id_for(call.id, call.agency_id) == wanted
    )


async def _assigned(session: AsyncSession, context: AgencyContext, external_id: str) -> UUID | None:
    """The call whose incident id, as its EIDO export assigned it, external_id is (that id is
    the call's too: known_by); None for any other id. Read only for an id of the export's
    form, before the page is cut, so a page never comes back short of it."""
    named = outgoing.assigned_call_id(external_id, context.agency_id)
    if named is None:
        return None
    holder = await repo.get_call(session, agency_id=context.agency_id, call_id=named)
    return named if holder is not None and known_by(holder, external_id) else None


async def list_page(
    session: AsyncSession,
    context: AgencyContext,
    *,
    statuses: Collection[CallStatus] | None,
    district: str | None,
    external_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[DispatchedCallOut], str | None]:
    """A page of calls, newest first, each with its assignments and dispatches (never its
    notes); external_id finds the call the CAD knows by that id."""
    if external_id is not None:
        external_id = registry.canonical_incident_id(external_id)
    district_id = None
    if district is not None:
        info = context.districts_by_code.get(district)
        if info is None:
            raise Invalid(context.unknown_district(district), loc=("query", "district"))
        district_id = info.id
    calls, next_cursor = await repo.list_calls(
        session,
        agency_id=context.agency_id,
        statuses=statuses,
        district_id=district_id,
        external_id=external_id,
        or_call_id=None if external_id is None else await _assigned(session, context, external_id),
        limit=limit,
        cursor=cursor,
    )
    recs = await repo.latest_recommendations(session, [c.id for c in calls])
    return await _render_many(session, calls, recs), next_cursor


async def recommendations(
    session: AsyncSession, context: AgencyContext, call_id: UUID, *, limit: int, cursor: str | None
) -> tuple[list[RecommendationOut], str | None]:
    await get(session, context, call_id)
    recs, next_cursor = await repo.list_recommendations(
        session, call_id, limit=limit, cursor=cursor
    )
    return [render_recommendation(r) for r in recs], next_cursor
