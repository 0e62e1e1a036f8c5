"""A call record survives the database: every field written is read back, on insert and
on update. A field added to CallRecord but forgotten in the repository fails here."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from fastapi import FastAPI

from app.records.calls import CallRecord, Location, SubjectFacts
from app.repositories import calls as repo
from app.security import Principal
from app.services import agency, audit
from app.services.auth import authenticate
from app.state import AppState
from tests.events.samples import sample_recommendation
from tests.helpers import Api, grid_districts


async def test_every_call_field_is_written_and_read_back(app: FastAPI, admin: Api) -> None:
    await grid_districts(admin)
    state: AppState = app.state.cit
    context = await agency.context(state, admin.agency_id)
    at = datetime(2026, 11, 30, 3, 4, 5, 678_000, tzinfo=UTC)
    call = CallRecord(
        id=uuid4(),
        agency_id=admin.agency_id,
        external_id="CAD-RECORD-1",
        status="cleared",
        district_id=context.districts_by_code["D2"].id,
        district="D2",
        location=Location(lat=40.7712, lon=-111.8745, address="500 E 100 S"),
        nature="SUICTHRT",
        safety={"weapon": True, "violence": False, "medical_emergency": True},
        subject=SubjectFacts(age=15),
        notes="v1:ciphertext-as-stored",
        received_at=at - timedelta(minutes=3),
        created_at=at,
        updated_at=at + timedelta(minutes=40),
        dispatched_at=at + timedelta(minutes=1),
        cleared_at=at + timedelta(minutes=40),
        disposition="resolved on scene",
        diverted_to="mh_outpatient",
        outcome="referred",
        use_of_force=True,
        subject_injured=True,
        officer_injured=True,
        eido_updated_at=at - timedelta(minutes=2),
        eido_notes_digest="v1:digest-ciphertext-as-stored",
        eido_reopened=True,
    )
    # Every field holds a value, so a field the repository drops cannot pass as None.
    assert all(getattr(call, f.name) is not None for f in fields(call))
    who = await _principal(admin)
    entry = audit.entry(
        who, action="call.create", resource_type="call", resource_id=call.id, request_id=None, at=at
    )
    async with state.unit_of_work(admin.agency_id) as work:
        await repo.insert_call(
            await work.connection(),
            call,
            recommendation=sample_recommendation(call),
            events=[],
            entry=entry,
            answer=None,
        )
    assert await _read(state, call) == call

    changed = replace(
        call,
        external_id="CAD-RECORD-1-B",
        status="dispatched",
        district_id=context.districts_by_code["D3"].id,
        district="D3",
        location=Location(lat=40.72, lon=-111.93, address=None),
        nature="MTLV",
        safety={"weapon": False},
        subject=SubjectFacts(),
        notes=None,
        received_at=at - timedelta(minutes=5),
        updated_at=at + timedelta(hours=1),
        dispatched_at=at + timedelta(minutes=2),
        cleared_at=None,
        disposition=None,
        diverted_to=None,
        outcome=None,
        use_of_force=False,
        subject_injured=False,
        officer_injured=False,
        eido_updated_at=at + timedelta(minutes=59),
        eido_notes_digest=None,
        eido_reopened=False,
    )
    async with state.unit_of_work(admin.agency_id) as work:
        await repo.update_call(await work.session(), changed)
    assert await _read(state, call) == changed


async def _read(state: AppState, call: CallRecord) -> CallRecord | None:
    async with state.unit_of_work(call.agency_id, read_only=True) as work:
        return await repo.get_call(await work.session(), agency_id=call.agency_id, call_id=call.id)


async def _principal(admin: Api) -> Principal:
    return await authenticate(admin.app.state.cit, admin.key, client="test", request_id=None)
