"""A call and a recommendation with every field set, for tests of what events carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from app.events import catalogue as events
from app.events.catalogue import OutboxEvent
from app.records.calls import CallRecord, Location, SubjectFacts
from app.records.recommendations import (
    ReasonJson,
    RecommendationRecord,
    RecommendedUnitJson,
    WarningJson,
)

NOTES = "NOTES-CIPHERTEXT-NEVER-IN-EVENTS"
AT = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def sample_call(agency_id: UUID | None = None) -> CallRecord:
    return CallRecord(
        id=uuid4(),
        agency_id=agency_id or uuid4(),
        external_id="CAD-1",
        status="dispatched",
        district_id=uuid4(),
        district="D1",
        location=Location(lat=40.78, lon=-111.92, address="123 Main St"),
        nature="MNTL",
        safety={"weapon": True, "violence": False},
        subject=SubjectFacts(age=16),
        notes=NOTES,
        received_at=AT,
        created_at=AT,
        updated_at=AT,
        dispatched_at=AT,
        cleared_at=AT,
        disposition="resolved on scene",
        diverted_to="crisis_center",
        outcome="transported_voluntary",
        use_of_force=False,
        subject_injured=True,
        officer_injured=False,
        eido_updated_at=AT,
        eido_notes_digest=None,
    )


def sample_recommendation(call: CallRecord) -> RecommendationRecord:
    return RecommendationRecord(
        id=uuid4(),
        agency_id=call.agency_id,
        call_id=call.id,
        created_at=AT,
        policy_version=1,
        lead="law_enforcement",
        safety_concern=True,
        units=[
            RecommendedUnitJson(
                responder_type="officer",
                responder_id=str(uuid4()),
                name="Officer 1A1",
                call_sign="1A1",
                role="lead",
                district="D1",
                cit_certified=True,
                eta_minutes=3.0,
                distance_km=2.0,
            )
        ],
        requests=["ems"],
        warnings=[WarningJson(code="no_co_responder_available", message="none")],
        reasons=[ReasonJson(rule="le_lead", message="weapon")],
    )


def one_of_each(call: CallRecord) -> list[OutboxEvent]:
    """An event of every type, from the catalogue's builders."""
    rec = sample_recommendation(call)
    unit = uuid4()
    return [
        events.call_created(call, lead=rec.lead),
        events.call_updated(call, lead=rec.lead, changed=["safety", "notes"]),
        events.recommendation_created(call, rec),
        events.call_escalated(call, rec, previous_lead="mental_health"),
        events.unit_assigned(
            call,
            lead=rec.lead,
            responder_type="officer",
            responder_id=unit,
            call_sign="1A1",
            role="lead",
            safety_concern=rec.safety_concern,
        ),
        events.unit_released(
            call_id=call.id,
            external_id=call.external_id,
            responder_type="officer",
            responder_id=unit,
            call_sign="1A1",
            role="lead",
            status="available",
            reason="call_cleared",
        ),
        events.unit_status_changed(
            responder_type="officer",
            responder_id=unit,
            call_sign="1A1",
            status="en_route",
            previous_status="dispatched",
            call_id=call.id,
            external_id=call.external_id,
            location=(40.7, -111.9),
        ),
        events.call_cleared(call, lead=rec.lead),
        events.coverage_gap_ahead(
            district="D4",
            kind="cit",
            starts=AT + timedelta(days=2),
            ends=AT + timedelta(days=2, hours=8),
            adjacent_cover=True,
            target=1,
            under_way=False,
        ),
        events.coverage_gap_closed(
            district="D4",
            kind="cit",
            starts=AT + timedelta(days=2),
            ends=None,
            part_of=AT + timedelta(days=1),
        ),
        events.certification_expiring(
            officer_id=unit,
            name="Ana Torres",
            badge_number="701",
            state_officer_id="UT-POST-4101",
            expires_on=AT.date() + timedelta(days=30),
            days_left=30,
            threshold_days=30,
            districts=["D1"],
        ),
    ]
