"""PATCH /v1/certifications/{id}: a certification corrected, or ended early by the state."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from tests.helpers import (
    Api,
    add_officer,
    certify,
    grid_districts,
    iso,
    until_waiting_on_locks,
)


def _today_in_denver() -> str:
    # The test agency's time zone: a certification counts by the agency's calendar.
    return str(datetime.now(UTC).astimezone(ZoneInfo("America/Denver")).date())


async def _certification(api: Api, state_officer_id: str) -> Any:
    listed = await api.ok("GET", f"/v1/certifications?state_officer_id={state_officer_id}")
    [cert] = listed["items"]
    return cert


def _warnings(call: dict[str, Any]) -> set[str]:
    return {w["code"] for w in call["recommendation"]["warnings"]}


async def test_a_decertified_officer_stops_leading_at_once(admin: Api) -> None:
    # The state revoked the officer's CIT certification: with no way to record it, routing
    # kept sending the officer to lead armed crisis calls as CIT until the old expiry.
    await grid_districts(admin)
    await add_officer(admin, district="D1", call_sign="1A1", cit=True, state_officer_id="P-1")
    [unit] = (await admin.ok("GET", "/v1/units"))["items"]
    assert unit["cit_certified"] is True
    cert = await _certification(admin, "P-1")

    ended = await admin.ok(
        "PATCH", f"/v1/certifications/{cert['id']}", {"expires_on": _today_in_denver()}
    )
    assert ended["expires_on"] == _today_in_denver()
    assert (ended["certification_number"], ended["certified_on"]) == (
        cert["certification_number"],
        cert["certified_on"],
    )
    [unit] = (await admin.ok("GET", "/v1/units"))["items"]
    assert unit["cit_certified"] is False
    armed = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    assert "no_cit_available" in _warnings(armed)
    [entry] = (await admin.ok("GET", "/v1/audit?action=certification.update"))["items"]
    assert entry["resource_id"] == cert["id"]
    assert entry["detail"] == {
        "state_officer_id": "P-1",
        "changed": {"expires_on": {"from": cert["expires_on"], "to": _today_in_denver()}},
    }


async def test_a_certification_recorded_in_error_is_voided_at_once(
    admin: Api, db: asyncpg.Connection
) -> None:
    # Recorded this morning under the wrong person's number: the earliest end the service
    # took was tomorrow, so the officer led armed crisis calls as CIT for the rest of the
    # day. An expiry on the day it was certified voids it: valid on no day.
    await grid_districts(admin)
    officer_id = await add_officer(admin, district="D1", call_sign="1A1", state_officer_id="P-3")
    today = _today_in_denver()
    body = {
        "state_officer_id": "P-3",
        "certification_number": "CIT-77",
        "program": "State CIT 40h",
        "certified_on": today,
        "volunteered": True,
    }
    # A new certification still needs a day at least.
    refused = await admin.post("/v1/certifications", {**body, "expires_on": today})
    assert refused.status_code == 422
    next_year = str(date.fromisoformat(today) + timedelta(days=365))
    await admin.ok("POST", "/v1/certifications", {**body, "expires_on": next_year}, 201)
    [unit] = (await admin.ok("GET", "/v1/units"))["items"]
    assert unit["cit_certified"] is True
    cert = await _certification(admin, "P-3")

    voided = await admin.ok("PATCH", f"/v1/certifications/{cert['id']}", {"expires_on": today})
    assert (voided["certified_on"], voided["expires_on"]) == (today, today)
    [unit] = (await admin.ok("GET", "/v1/units"))["items"]
    assert unit["cit_certified"] is False
    officer = await admin.ok("GET", f"/v1/officers/{officer_id}")
    assert officer["cit"]["certified"] is False
    armed = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    assert "no_cit_available" in _warnings(armed)
    program = await admin.ok("GET", "/v1/program")
    assert program["officers"]["cit_certified"] == 0
    # The read model the candidate query ranks from holds no period for the person.
    periods = await db.fetch(
        "SELECT DISTINCT cit_periods::text AS p FROM shift_coverage WHERE responder_id = $1",
        uuid.UUID(officer_id),
    )
    assert [row["p"] for row in periods] == ["{}"]
    # Voided, it still cannot end before it began.
    the_day_before = str(date.fromisoformat(today) - timedelta(days=1))
    response = await admin.patch(f"/v1/certifications/{cert['id']}", {"expires_on": the_day_before})
    assert response.status_code == 422
    assert (await _certification(admin, "P-3"))["expires_on"] == today


async def test_a_voided_certification_neither_hides_a_lapse_nor_makes_one(admin: Api) -> None:
    # The coordinator's list of certifications that end soon. A renewal recorded in error
    # and voided must not count as continuing the one that ends; one voided inside the
    # window, beside a certification valid for long after, is no lapse.
    await grid_districts(admin)
    today = date.fromisoformat(_today_in_denver())
    ends = today + timedelta(days=5)
    await add_officer(admin, district="D1", call_sign="1A1", state_officer_id="P-5")
    await add_officer(admin, district="D1", call_sign="1A2", state_officer_id="P-6")
    for person, number, certified_on, expires_on in (
        ("P-5", "ENDING", today - timedelta(days=300), ends),
        ("P-5", "RENEWAL", ends, ends + timedelta(days=730)),
        ("P-6", "LONG", today - timedelta(days=30), today + timedelta(days=700)),
        ("P-6", "WRONG", today + timedelta(days=3), today + timedelta(days=900)),
    ):
        await certify(
            admin, person, number=number, certified_on=certified_on, expires_on=expires_on
        )
    listed = await admin.ok("GET", "/v1/certifications?limit=500")
    ids = {c["certification_number"]: c["id"] for c in listed["items"]}
    # Before voiding: the renewal continues the first, so nothing lapses.
    assert (await admin.ok("GET", "/v1/program"))["certifications_expiring"] == []
    await admin.ok("PATCH", f"/v1/certifications/{ids['RENEWAL']}", {"expires_on": str(ends)})
    voided_on = str(today + timedelta(days=3))
    await admin.ok("PATCH", f"/v1/certifications/{ids['WRONG']}", {"expires_on": voided_on})
    expiring = (await admin.ok("GET", "/v1/program"))["certifications_expiring"]
    assert [(e["badge_number"], e["expires_on"]) for e in expiring] == [("B-1A1", str(ends))]


async def test_only_the_recording_agency_may_change_a_certification(
    admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await add_officer(admin, district="D1", call_sign="1A1", cit=True, state_officer_id="P-2")
    cert = await _certification(admin, "P-2")
    path = f"/v1/certifications/{cert['id']}"
    # The person now works for the other agency too: it reads the record, and may not
    # change it.
    await grid_districts(other_admin)
    await add_officer(other_admin, district="D1", call_sign="9B1", state_officer_id="P-2")
    assert await _certification(other_admin, "P-2") == cert
    refused = await other_admin.patch(path, {"expires_on": _today_in_denver()})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    # It says what it may do instead (the admin's check: the two agencies' answers sent
    # each to the other).
    assert "a renewal is a new certification" in refused.json()["detail"]
    # A supervisor of the recording agency may not either; bad changes are 422s.
    supervisor = await admin.with_role("supervisor")
    assert (await supervisor.patch(path, {"volunteered": False})).status_code == 403
    the_day_before = str(date.fromisoformat(cert["certified_on"]) - timedelta(days=1))
    for change in (
        {"expires_on": the_day_before},
        {"certified_on": "2999-01-01"},
        {"program": None},
        {"certification_number": "X"},
        {"state_officer_id": "P-9"},
        {"expires_on": "2030-01-01T00:00:00Z"},
    ):
        response = await admin.patch(path, change)
        assert response.status_code == 422, change
        # The error names the field the change sent, never one it left alone.
        [error] = response.json()["errors"]
        assert error["loc"][:2] == ["body", next(iter(change))], (change, error)
    stored = await db.fetchrow("SELECT * FROM certification WHERE state_officer_id = 'P-2'")
    assert str(stored["expires_on"]) == cert["expires_on"]
    assert stored["volunteered"] is True
    # One it has nothing to do with is a 404, as is none.
    await add_officer(other_admin, district="D1", call_sign="9B2", cit=True, state_officer_id="Q")
    theirs = await _certification(other_admin, "Q")
    assert (await admin.patch(f"/v1/certifications/{theirs['id']}", {})).status_code == 404
    assert (await admin.patch(f"/v1/certifications/{theirs['id'][:-4]}0000", {})).status_code == 404
    # Corrected by its own agency: the program's name and the dates.
    certified_on = str(datetime.now(UTC).date() - timedelta(days=400))
    body = {"program": "State CIT 40h (2024)", "certified_on": certified_on}
    fixed = await admin.ok("PATCH", path, body)
    assert (fixed["program"], fixed["certified_on"]) == (body["program"], certified_on)


async def test_a_decertification_while_a_shift_changes_reaches_its_new_district(
    admin: Api, db: asyncpg.Connection
) -> None:
    # A district added to a shift gets a coverage row that reads the officer's periods as
    # it is added. A certification changed before that committed updated only the rows it
    # saw: in the new district the officer stayed CIT for the whole shift (review). Here
    # the shift's change is held just before its commit while the certification changes.
    await grid_districts(admin)
    officer = await add_officer(
        admin, district="D1", call_sign="1A1", cit=True, state_officer_id="P-3"
    )
    week = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
    body = {
        "responder_type": "officer",
        "responder_id": officer,
        "call_sign": "1A1",
        "district": "D1",
        "starts_at": iso(week),
        "ends_at": iso(week + timedelta(hours=8)),
    }
    shift = await admin.ok("POST", "/v1/shifts", body, 201)
    cert = await _certification(admin, "P-3")
    async with db.transaction():
        await db.execute("LOCK TABLE audit_entry IN SHARE MODE")
        change = asyncio.create_task(
            admin.patch(f"/v1/shifts/{shift['id']}", {"also_covers": ["D2"]})
        )
        await until_waiting_on_locks(db, 1)
        ended = asyncio.create_task(
            admin.patch(f"/v1/certifications/{cert['id']}", {"expires_on": _today_in_denver()})
        )
        await until_waiting_on_locks(db, 2)
    assert (await change).status_code == 200
    assert (await ended).status_code == 200
    periods = await db.fetch(
        "SELECT d.code, c.cit_periods::text AS p FROM shift_coverage c"
        " JOIN district d ON d.id = c.district_id WHERE c.shift_id = $1 ORDER BY d.code",
        uuid.UUID(shift["id"]),
    )
    assert [r["code"] for r in periods] == ["D1", "D2"]
    expected = await db.fetchval("SELECT cit_periods_of('P-3')::text")
    assert [r["p"] for r in periods] == [expected, expected]
