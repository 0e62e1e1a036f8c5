"""Every event type with its payload type, its audience, and the one builder that makes it.

To add an event type: name it in app/vocabulary.py (EventType), give it a payload in
app/events/payloads.py, an entry in CATALOGUE and a builder below; tests/events check that
each type has all three and that each builder's payload has exactly its type's keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from app.events.body import instant_text
from app.events.payloads import (
    CallCleared,
    CallEscalated,
    CallSummary,
    CallUpdated,
    CertificationExpiring,
    CoverageGapAhead,
    CoverageGapClosed,
    Payload,
    PlacePayload,
    PointPayload,
    ReasonPayload,
    RecommendationCreated,
    RecommendedUnitRef,
    UnitAssigned,
    UnitReleased,
    UnitStatusChanged,
)
from app.figures import gap_hours
from app.ids import new_id
from app.records.calls import CallRecord
from app.records.recommendations import RecommendationRecord
from app.vocabulary import (
    CALL_CHANGES,
    CallChange,
    CoverageKind,
    EventType,
    Lead,
    OffCallStatus,
    ReleaseReason,
    ResponderType,
    UnitRole,
    UnitStatus,
)

# NOTIFY channels (migration 0009 sends both at commit): one wakes the webhook relay when
# deliveries are due, the other announces every committed event with its agency's id.
DELIVERIES_DUE = "cit_webhook_due"
EVENT_COMMITTED = "cit_event"


@dataclass(frozen=True, slots=True)
class EventKind:
    """What the catalogue says of one event type."""

    payload: type[Any]
    description: str
    # The terminals of the units assigned to the event's call hear it too, not only the
    # terminal of the unit it is about (app/events/audience.py).
    heard_on_the_call: bool = False
    # About one unit (its responder_id): that unit's terminal hears it.
    about_a_unit: bool = False


CATALOGUE: Mapping[EventType, EventKind] = {
    "call.created": EventKind(CallSummary, "A call was taken."),
    "call.updated": EventKind(
        CallUpdated,
        "New information changed the call, or the unit leading it left it while others stay:"
        " it was re-triaged; or units joined the units on it, their parts changed, or one"
        " not leading it left while others stay.",
        True,
    ),
    "recommendation.created": EventKind(
        RecommendationCreated, "A recommendation was made for the call."
    ),
    "call.escalated": EventKind(
        CallEscalated,
        "The lead of a dispatched call changed: a re-triage (of new information, or of the"
        " unit leading it leaving the call while others stay, for instance) recommends the"
        " other kind of unit to lead, or found a safety concern while the other kind leads;"
        " or a dispatcher sent the other kind of unit to lead (one reason, rule"
        " dispatch_override).",
        True,
    ),
    "unit.assigned": EventKind(
        UnitAssigned, "A unit was dispatched to the call.", about_a_unit=True
    ),
    "unit.released": EventKind(UnitReleased, "A unit's part in the call ended.", about_a_unit=True),
    "unit.status_changed": EventKind(
        UnitStatusChanged,
        "A status report (the unit's, its dispatcher's or the CAD's) changed the unit's"
        " status, or the CAD's incident it is busy on. A dispatch and a clear send none:"
        " unit.assigned tells the move to dispatched, unit.released (with its status) the"
        " release.",
        about_a_unit=True,
    ),
    "call.cleared": EventKind(
        CallCleared,
        "The call was closed with its disposition and outcome; sent again with the record as"
        " it then stands when that is corrected (PATCH /v1/calls/{id}/outcome).",
    ),
    "coverage.gap_ahead": EventKind(
        CoverageGapAhead,
        "A district will lack CIT officers or co-responders on the roster within the"
        " policy's coverage_alert_days, or lacks them now unforetold (under_way; sent once"
        " per gap).",
    ),
    "coverage.gap_closed": EventKind(
        CoverageGapClosed,
        "A gap told by coverage.gap_ahead is no longer on the roster as told, before its"
        " end: covered now (part_of null), or what is left of it is part of a gap told by"
        " its own start (part_of).",
    ),
    "certification.expiring": EventKind(
        CertificationExpiring,
        "An officer's CIT certification lapses in 60, 30 or 7 days: it ends, and no"
        " certification recorded continues it (sent once per threshold).",
    ),
}


# What a unit's terminal (a subscription with a responder_id) can ever hear.
TERMINAL_EVENTS: frozenset[EventType] = frozenset(
    kind for kind, spec in CATALOGUE.items() if spec.about_a_unit or spec.heard_on_the_call
)


def unheard_by_a_terminal(events: Iterable[str]) -> str | None:
    """Why a unit's terminal (a webhook, or a unit key's live feed) cannot be given these
    event types; None when it can hear each of them."""
    never = sorted(set(events) - TERMINAL_EVENTS)
    if not never:
        return None
    return f"a unit's terminal never receives {', '.join(never)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxEvent:
    """One event as it goes into the outbox, in the transaction of the change it reports."""

    id: UUID
    type: EventType
    # The call and the unit the event is about; they decide which terminals hear it.
    call_id: UUID | None
    responder_id: UUID | None
    payload: Payload


def call_summary(call: CallRecord, *, lead: Lead | None) -> CallSummary:
    """What every call event says about the call. Never its notes."""
    place = call.location
    return CallSummary(
        call_id=str(call.id),
        external_id=call.external_id,
        status=call.status,
        district=call.district,
        location=(
            None
            if place is None
            else PlacePayload(lat=place.lat, lon=place.lon, address=place.address)
        ),
        nature=call.nature,
        safety=dict(call.safety),
        lead=lead,
    )


def call_created(call: CallRecord, *, lead: Lead) -> OutboxEvent:
    return _event("call.created", call.id, None, call_summary(call, lead=lead))


def call_updated(
    call: CallRecord, *, lead: Lead | None, changed: Iterable[CallChange]
) -> OutboxEvent:
    """The call changed: what changed, in the vocabulary's order."""
    told = set(changed)
    payload = CallUpdated(
        **call_summary(call, lead=lead), changed=[c for c in CALL_CHANGES if c in told]
    )
    return _event("call.updated", call.id, None, payload)


def call_escalated(
    call: CallRecord,
    rec: RecommendationRecord,
    *,
    previous_lead: Lead,
    lead: Lead | None = None,
    reasons: Iterable[tuple[str, str]] | None = None,
) -> OutboxEvent:
    """The lead of a dispatched call changed: by a re-triage (rec is the new recommendation,
    whose lead and reasons it gives), or by a dispatch that sent another kind of unit to
    lead (lead is that kind, the reasons the dispatcher's; rec is the latest one)."""
    summary = call_summary(call, lead=lead or rec.lead)
    said = [(r["rule"], r["message"]) for r in rec.reasons] if reasons is None else reasons
    payload = CallEscalated(
        **summary,
        previous_lead=previous_lead,
        recommendation_id=str(rec.id),
        safety_concern=rec.safety_concern,
        reasons=[ReasonPayload(rule=rule, message=message) for rule, message in said],
    )
    return _event("call.escalated", call.id, None, payload)


def call_cleared(call: CallRecord, *, lead: Lead | None) -> OutboxEvent:
    summary = call_summary(call, lead=lead)
    payload = CallCleared(
        **summary,
        disposition=call.disposition,
        diverted_to=call.diverted_to,
        outcome=call.outcome,
        use_of_force=call.use_of_force,
        subject_injured=call.subject_injured,
        officer_injured=call.officer_injured,
    )
    return _event("call.cleared", call.id, None, payload)


def recommendation_created(call: CallRecord, rec: RecommendationRecord) -> OutboxEvent:
    payload = RecommendationCreated(
        call_id=str(call.id),
        external_id=call.external_id,
        recommendation_id=str(rec.id),
        lead=rec.lead,
        safety_concern=rec.safety_concern,
        units=[
            RecommendedUnitRef(
                responder_type=u["responder_type"],
                responder_id=u["responder_id"],
                call_sign=u["call_sign"],
                role=u["role"],
            )
            for u in rec.units
        ],
        warnings=[w["code"] for w in rec.warnings],
    )
    return _event("recommendation.created", call.id, None, payload)


def unit_assigned(
    call: CallRecord,
    *,
    lead: Lead | None,
    responder_type: ResponderType,
    responder_id: UUID,
    call_sign: str | None,
    role: UnitRole,
    safety_concern: bool,
    previous_role: UnitRole | None = None,
) -> OutboxEvent:
    summary = call_summary(call, lead=lead)
    payload = UnitAssigned(
        **summary,
        responder_type=responder_type,
        responder_id=str(responder_id),
        call_sign=call_sign,
        role=role,
        previous_role=previous_role,
        safety_concern=safety_concern,
    )
    return _event("unit.assigned", call.id, responder_id, payload)


def unit_released(
    *,
    call_id: UUID,
    external_id: str | None,
    responder_type: ResponderType,
    responder_id: UUID,
    call_sign: str | None,
    role: UnitRole,
    status: OffCallStatus,
    reason: ReleaseReason,
) -> OutboxEvent:
    payload = UnitReleased(
        call_id=str(call_id),
        external_id=external_id,
        responder_type=responder_type,
        responder_id=str(responder_id),
        call_sign=call_sign,
        role=role,
        status=status,
        reason=reason,
    )
    return _event("unit.released", call_id, responder_id, payload)


def unit_status_changed(
    *,
    responder_type: ResponderType,
    responder_id: UUID,
    call_sign: str | None,
    status: UnitStatus,
    previous_status: UnitStatus,
    call_id: UUID | None,
    external_id: str | None,
    location: tuple[float, float] | None,
    external_incident: str | None = None,
) -> OutboxEvent:
    payload = UnitStatusChanged(
        responder_type=responder_type,
        responder_id=str(responder_id),
        call_sign=call_sign,
        status=status,
        previous_status=previous_status,
        call_id=None if call_id is None else str(call_id),
        external_id=external_id,
        location=None if location is None else PointPayload(lat=location[0], lon=location[1]),
        external_incident=external_incident,
    )
    return _event("unit.status_changed", call_id, responder_id, payload)


def coverage_gap_ahead(
    *,
    district: str,
    kind: CoverageKind,
    starts: datetime,
    ends: datetime | None,
    adjacent_cover: bool,
    target: int,
    under_way: bool,
) -> OutboxEvent:
    """A gap on the roster ahead; agency-wide only (it is about no unit and no call). ends
    is None for a gap no shift on the roster ends yet; under_way when the gap has begun as
    it is told (first seen under way, or told ahead and told again, once begun, for its
    moved end)."""
    payload: CoverageGapAhead = {
        "district": district,
        "kind": kind,
        "from": instant_text(starts),
        "to": None if ends is None else instant_text(ends),
        "hours": None if ends is None else gap_hours(starts, ends),
        "adjacent_cover": adjacent_cover,
        "target": target,
        "under_way": under_way,
    }
    return _event("coverage.gap_ahead", None, None, payload)


def coverage_gap_closed(
    *,
    district: str,
    kind: CoverageKind,
    starts: datetime,
    ends: datetime | None,
    part_of: datetime | None,
) -> OutboxEvent:
    """A gap told ahead that the roster no longer has, as it was told; agency-wide only.
    part_of: the start of the gap, told by its own alert, that holds what is left of it."""
    payload: CoverageGapClosed = {
        "district": district,
        "kind": kind,
        "from": instant_text(starts),
        "to": None if ends is None else instant_text(ends),
        "part_of": None if part_of is None else instant_text(part_of),
    }
    return _event("coverage.gap_closed", None, None, payload)


def certification_expiring(
    *,
    officer_id: UUID,
    name: str,
    badge_number: str,
    state_officer_id: str,
    expires_on: date,
    days_left: int,
    threshold_days: int,
    districts: list[str],
) -> OutboxEvent:
    """A certification ending soon; agency-wide only, not sent to the officer's terminal."""
    payload = CertificationExpiring(
        officer_id=str(officer_id),
        name=name,
        badge_number=badge_number,
        state_officer_id=state_officer_id,
        expires_on=expires_on.isoformat(),
        days_left=days_left,
        threshold_days=threshold_days,
        districts=districts,
    )
    return _event("certification.expiring", None, None, payload)


def _event(
    event_type: EventType, call_id: UUID | None, responder_id: UUID | None, payload: Payload
) -> OutboxEvent:
    return OutboxEvent(
        id=new_id(),
        type=event_type,
        call_id=call_id,
        responder_id=responder_id,
        payload=payload,
    )
