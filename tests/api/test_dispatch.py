"""Dispatch, clear and the unit lifecycle, through HTTP on real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from jsonschema import Draft202012Validator

from app.db.engine import plain_url
from app.vocabulary import ROLES_OF
from tests.helpers import (
    Api,
    add_co_responder,
    add_officer,
    add_shift,
    add_unrostered_co_responder,
    grid_districts,
)


async def _events(db: asyncpg.Connection, event_type: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT payload::text AS p FROM event WHERE type = $1 ORDER BY id", event_type
    )
    return [json.loads(r["p"]) for r in rows]


async def _setup(admin: Api) -> tuple[str, str]:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    return co, officer


async def test_dispatch_assigns_the_recommended_units(admin: Api, db: asyncpg.Connection) -> None:
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "private"}, 201)
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    assert done["status"] == "dispatched"
    assert {(a["responder_id"], a["role"]) for a in done["assignments"]} == {
        (co, "lead"),
        (officer, "backup"),
    }
    assert all(a["released_at"] is None for a in done["assignments"])
    for path in (f"/v1/co-responders/{co}", f"/v1/officers/{officer}"):
        assert (await admin.ok("GET", path))["status"] == "dispatched"
    units = (await admin.ok("GET", "/v1/units?district=D1"))["items"]
    assert {u["active_call_id"] for u in units} == {call["id"]}
    assigned = await _events(db, "unit.assigned")
    assert {e["role"] for e in assigned} == {"lead", "backup"}
    assert all(e["lead"] == "mental_health" and e["district"] == "D1" for e in assigned)
    assert "private" not in json.dumps(assigned)


async def test_a_crew_sent_to_a_call_whose_nature_is_the_danger_is_told_of_it(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A WEAPON call with every flag false: the terminal's unit.assigned said only
    safety.weapon false, the danger in the nature alone (an outside-in check). It says the
    recommendation's safety concern, as call.escalated does."""
    co, officer = await _setup(admin)
    calm = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    await admin.ok("POST", f"/v1/calls/{calm['id']}/dispatch")
    await admin.ok("POST", f"/v1/calls/{calm['id']}/clear", {"disposition": "resolved"})
    armed = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "WEAPON"}, 201)
    assert armed["recommendation"]["safety_concern"] is True
    await admin.ok("POST", f"/v1/calls/{armed['id']}/dispatch")
    told = {
        (e["call_id"], e["responder_id"]): (e["safety"]["weapon"], e["safety_concern"])
        for e in await _events(db, "unit.assigned")
    }
    assert told == {
        (calm["id"], co): (False, False),
        (calm["id"], officer): (False, False),
        (armed["id"], co): (False, True),
        (armed["id"], officer): (False, True),
    }


async def test_a_unit_sent_by_override_while_busy_elsewhere_is_named_with_why(
    admin: Api,
) -> None:
    """The CAD's incident a unit is busy on is named, as deactivating it names it: the
    dispatcher can tell the CAD's dispatcher which incident holds the unit (an outside-in
    check found "on scene on an incident of the CAD's", with the incident known)."""
    co, officer = await _setup(admin)
    unnamed = await add_officer(admin, district="D1", call_sign="1A2")
    await admin.ok(
        "PUT", f"/v1/officers/{officer}/status", {"status": "on_scene", "external_incident": "B-1"}
    )
    await admin.ok("PUT", f"/v1/officers/{unnamed}/status", {"status": "en_route"})
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    for kind, unit, why in (
        ("officer", officer, "1A1 (on scene on the CAD's incident B-1)"),
        ("officer", unnamed, "1A2 (en route on an incident of the CAD's)"),
        ("co_responder", co, "MCT-1 (out of service)"),
    ):
        sent = [{"responder_type": kind, "responder_id": unit, "role": "lead"}]
        response = await admin.post(
            f"/v1/calls/{call['id']}/dispatch", {"units": sent, "override_code": "closer_unit"}
        )
        assert response.status_code == 409, response.text
        assert response.json()["detail"].endswith(f"nothing was assigned: {why}"), response.text


async def test_a_busy_units_incident_is_named_with_its_invisible_characters_escaped(
    admin: Api,
) -> None:
    """An external_incident is one line, but may hold a direction mark or a zero-width
    space: named raw in the 409, "B-<U+202E>1" turned the rest of the sentence around (the
    units after it, and why). Each is named as its escape, in dispatch's 409 and
    deactivation's alike."""
    co, officer = await _setup(admin)
    await admin.ok(
        "PUT",
        f"/v1/officers/{officer}/status",
        {"status": "on_scene", "external_incident": "B-\u202e1\u200b"},
    )
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    sent = [
        {"responder_type": "officer", "responder_id": officer, "role": "lead"},
        {"responder_type": "co_responder", "responder_id": co, "role": "support"},
    ]
    response = await admin.post(
        f"/v1/calls/{call['id']}/dispatch", {"units": sent, "override_code": "closer_unit"}
    )
    assert response.status_code == 409, response.text
    assert response.json()["detail"].endswith(
        "1A1 (on scene on the CAD's incident B-\\u202e1\\u200b), MCT-1 (out of service)"
    )
    deactivated = await admin.patch(f"/v1/officers/{officer}", {"active": False})
    assert deactivated.status_code == 409, deactivated.text
    assert "the CAD's incident B-\\u202e1\\u200b:" in deactivated.json()["detail"]
    for answer in (response, deactivated):
        assert not any(c in answer.text for c in "\u202e\u200b")


async def test_other_units_need_an_override_reason_which_is_stored(
    admin: Api, db: asyncpg.Connection
) -> None:
    _, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    only_officer = {
        "units": [{"responder_type": "officer", "responder_id": officer, "role": "lead"}]
    }
    refused = await admin.post(f"/v1/calls/{call['id']}/dispatch", only_officer)
    assert refused.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM assignment") == 0
    done = await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {**only_officer, "override_reason": "MCT is across town on another call"},
    )
    assert [a["role"] for a in done["assignments"]] == ["lead"]
    reason = await db.fetchval("SELECT override_reason FROM assignment")
    assert reason == "MCT is across town on another call"
    # The officer's terminal is told law enforcement leads, as sent: the recommendation's
    # lead (mental health) was not, and a unit in a car acts on this.
    assert done["recommendation"]["lead"] == "mental_health"
    [assigned] = await _events(db, "unit.assigned")
    assert (assigned["role"], assigned["lead"]) == ("lead", "law_enforcement")
    # A unit sent later to back it up hears the same.
    backup = await add_officer(admin, district="D1", call_sign="1A3")
    more = [{"responder_type": "officer", "responder_id": backup, "role": "backup"}]
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {"units": more, "override_reason": "a second officer"},
    )
    later = (await _events(db, "unit.assigned"))[1]
    assert (later["responder_id"], later["lead"]) == (backup, "law_enforcement")


async def test_a_code_naming_the_cause_stands_alone_and_other_needs_a_reason(
    admin: Api, db: asyncpg.Connection
) -> None:
    _, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    path = f"/v1/calls/{call['id']}/dispatch"
    units = [{"responder_type": "officer", "responder_id": officer, "role": "lead"}]
    refused = await admin.post(path, {"units": units, "override_code": "other"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "override_reason"]
    assert await db.fetchval("SELECT count(*) FROM assignment") == 0
    done = await admin.ok("POST", path, {"units": units, "override_code": "unit_busy_in_field"})
    [dispatch] = done["dispatches"]
    assert (dispatch["override_code"], dispatch["override_reason"]) == (
        "unit_busy_in_field",
        None,
    )
    # `other` with the reason is taken.
    other = await add_officer(admin, district="D1", call_sign="1A7")
    more = [{"responder_type": "officer", "responder_id": other, "role": "backup"}]
    body = {"units": more, "override_code": "other", "override_reason": "a second car"}
    last = (await admin.ok("POST", path, body))["dispatches"][-1]
    assert (last["override_code"], last["override_reason"]) == ("other", "a second car")


async def test_a_dispatch_as_recommended_keeps_the_code_and_reason_it_is_sent_with(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The reason was kept and the code dropped: half of what the dispatcher said
    (outside-in check). Both are kept, as sent."""
    await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    units = [
        {key: u[key] for key in ("responder_type", "responder_id", "role")}
        for u in call["recommendation"]["units"]
    ]
    body = {"units": units, "override_code": "caller_request", "override_reason": "asked"}
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", body)
    [dispatch] = done["dispatches"]
    assert (dispatch["override_code"], dispatch["override_reason"]) == ("caller_request", "asked")
    [entry] = (await admin.ok("GET", "/v1/audit?action=call.dispatch"))["items"]
    assert entry["detail"]["override_code"] == "caller_request"
    assert entry["detail"]["override_reason"] == "asked"
    # What the outcome report counts is unchanged: the recommendation was followed.
    [group] = (await admin.ok("GET", "/v1/reports/outcomes"))["groups"]
    assert group["mh_lead_not_followed"]["total"] == 0


async def test_taken_unit_gives_409_with_fresh_recommendation_and_changes_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    co, officer = await _setup(admin)
    first = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    second = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{first['id']}/dispatch")
    response = await admin.post(f"/v1/calls/{second['id']}/dispatch")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {u["responder_id"] for u in problem["unavailable_units"]} == {co, officer}
    # Which, by call sign, and why (it named ids alone: an outside-in check).
    assert problem["detail"].endswith(
        f"nothing was assigned: 1A1 (on call {first['id']}), MCT-1 (on call {first['id']})"
    ) or problem["detail"].endswith(
        f"nothing was assigned: MCT-1 (on call {first['id']}), 1A1 (on call {first['id']})"
    )
    assert problem["recommendation"]["units"] == []
    assert "no_units_available" in {w["code"] for w in problem["recommendation"]["warnings"]}
    after = await admin.ok("GET", f"/v1/calls/{second['id']}")
    assert after["status"] == "pending"
    history = await admin.ok("GET", f"/v1/calls/{second['id']}/recommendations")
    assert len(history["items"]) == 2
    assert history["items"][-1]["id"] == problem["recommendation"]["id"]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM assignment WHERE call_id = $1", uuid.UUID(second["id"])
        )
        == 0
    )


async def test_the_database_refuses_a_double_booking_the_unit_rows_did_not_show(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The partial unique index is the last word (SPEC §3.4): with the officer's row wrongly
    showing it free, a second dispatch is still a 409 and writes nothing."""
    _, officer = await _setup(admin)
    first = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    second = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    units = [{"responder_type": "officer", "responder_id": officer, "role": "lead"}]
    body = {"units": units, "override_code": "supervisor_decision"}
    await admin.ok("POST", f"/v1/calls/{first['id']}/dispatch", body)
    await db.execute("UPDATE officer SET status = 'available', active_call_id = NULL")
    refused = await admin.post(f"/v1/calls/{second['id']}/dispatch", body)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "assigned elsewhere" in refused.json()["detail"]
    assert (await admin.ok("GET", f"/v1/calls/{second['id']}"))["status"] == "pending"
    calls = await db.fetch(
        "SELECT call_id FROM assignment WHERE responder_id = $1", uuid.UUID(officer)
    )
    assert [str(r["call_id"]) for r in calls] == [first["id"]]
    dispatched = await db.fetchval("SELECT count(*) FROM event WHERE type = 'unit.assigned'")
    assert dispatched == 1


async def test_dispatching_again_adds_reinforcements_and_skips_units_on_it(admin: Api) -> None:
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    extra = await add_officer(admin, district="D1", call_sign="1A2")
    body = {
        "units": [
            {"responder_type": "officer", "responder_id": officer, "role": "backup"},
            {"responder_type": "officer", "responder_id": extra, "role": "backup"},
        ],
        "override_reason": "second unit for a large scene",
    }
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", body)
    assert {a["responder_id"] for a in done["assignments"]} == {co, officer, extra}
    nothing_left = await admin.post(f"/v1/calls/{call['id']}/dispatch", body)
    assert nothing_left.status_code == 409
    assert nothing_left.json()["unavailable_units"] == []


async def test_a_dispatched_call_keeps_its_units_when_dispatched_again_or_updated(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The units on a call rank first for it when it is re-triaged: dispatching it again
    with nothing to assign, or new information that changes nothing about safety, neither
    turns it to law enforcement nor swaps its units for free ones just like them."""
    co, officer = await _setup(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-2")
    await add_officer(admin, district="D1", call_sign="1A2", cit=True)
    await add_officer(admin, district="D2", call_sign="2A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    on_call = {(co, "lead"), (officer, "backup")}
    for _ in range(2):
        again = await admin.post(f"/v1/calls/{call['id']}/dispatch")
        assert again.status_code == 409
        problem = again.json()
        assert problem["unavailable_units"] == []
        fresh = problem["recommendation"]
        assert fresh["lead"] == "mental_health"
        assert {(u["responder_id"], u["role"]) for u in fresh["units"]} == on_call
    patched = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": "calmer now"})
    assert {(u["responder_id"], u["role"]) for u in patched["recommendation"]["units"]} == on_call
    state = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert {(a["responder_id"], a["role"]) for a in state["assignments"]} == on_call
    assert await _events(db, "call.escalated") == []


async def test_units_on_a_call_count_for_it_off_shift_out_of_reach_or_without_a_shift(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Whatever its roster says, a unit on the call serves it: one whose shift ended while
    it worked the call, one sent from beyond the policy's reach, one sent with no shift."""
    co, _ = await _setup(admin)
    far = await add_co_responder(admin, district="D4", call_sign="MCT-4")
    unrostered = (
        await admin.ok(
            "POST", "/v1/co-responders", {"name": "C", "kind": "clinician", "provider": "P"}, 201
        )
    )["id"]
    # Each call is taken while the D1 co-responder is free (mental health leads), then sent
    # one co-responder of the three as its lead.
    calls = [
        ((await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201))["id"], unit)
        for unit in (co, far, unrostered)
    ]
    for call_id, unit in calls:
        sent = {"responder_type": "co_responder", "responder_id": unit, "role": "lead"}
        await admin.ok(
            "POST",
            f"/v1/calls/{call_id}/dispatch",
            {"units": [sent], "override_code": "closer_unit"},
        )
    # The first co-responder's shift ended a minute ago, while it worked its call; a free
    # co-responder in the call's own district comes on now.
    await db.execute(
        "UPDATE shift SET ends_at = now() - interval '1 minute' WHERE responder_id = $1",
        uuid.UUID(co),
    )
    await db.execute(
        "UPDATE shift_coverage SET ends_at = now() - interval '1 minute' WHERE responder_id = $1",
        uuid.UUID(co),
    )
    await add_co_responder(admin, district="D1", call_sign="MCT-9")
    for call_id, unit in calls:
        patched = await admin.ok("PATCH", f"/v1/calls/{call_id}", {"notes": "still on scene"})
        rec = patched["recommendation"]
        assert rec["lead"] == "mental_health"
        leads = [u["responder_id"] for u in rec["units"] if u["role"] == "lead"]
        assert leads == [unit], (unit, rec["units"])
    assert await _events(db, "call.escalated") == []


async def test_more_than_one_lead_in_a_dispatch_is_refused(
    admin: Api, db: asyncpg.Connection
) -> None:
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    two_leads = {
        "units": [
            {"responder_type": "officer", "responder_id": officer, "role": "lead"},
            {"responder_type": "co_responder", "responder_id": co, "role": "lead"},
        ],
        "override_code": "other",
    }
    refused = await admin.post(f"/v1/calls/{call['id']}/dispatch", two_leads)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "units"]
    assert await db.fetchval("SELECT count(*) FROM assignment") == 0
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["status"] == "pending"


async def test_clear_releases_every_unit_and_records_diversion(
    admin: Api, db: asyncpg.Connection
) -> None:
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    cleared = await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/clear",
        {"disposition": "resolved on scene", "diverted_to": "crisis_center", "notes": "calm"},
    )
    assert cleared["status"] == "cleared"
    assert cleared["diverted_to"] == "crisis_center"
    assert all(a["released_at"] is not None for a in cleared["assignments"])
    for path in (f"/v1/co-responders/{co}", f"/v1/officers/{officer}"):
        assert (await admin.ok("GET", path))["status"] == "available"
    assert len(await _events(db, "unit.released")) == 2
    assert len(await _events(db, "call.cleared")) == 1
    assert (await admin.post(f"/v1/calls/{call['id']}/dispatch")).status_code == 409
    assert (await admin.patch(f"/v1/calls/{call['id']}", {"nature": "X"})).status_code == 409
    assert (
        await admin.post(f"/v1/calls/{call['id']}/clear", {"disposition": "x"})
    ).status_code == 409


async def test_unit_lifecycle_moves_forward_and_release_by_reporting_available(
    admin: Api, db: asyncpg.Connection
) -> None:
    co, _ = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    path = f"/v1/co-responders/{co}/status"
    here = {"lat": 40.75, "lon": -111.93}
    assert (await admin.ok("PUT", path, {"status": "en_route", "location": here}))[
        "location"
    ] == here
    for status in ("on_scene", "transporting"):
        assert (await admin.ok("PUT", path, {"status": status}))["status"] == status
    backwards = await admin.put(path, {"status": "en_route"})
    assert backwards.status_code == 409
    back = await admin.ok("PUT", path, {"status": "available"})
    assert back["active_call_id"] is None
    released = await db.fetchval(
        "SELECT released_at FROM assignment WHERE responder_id = $1", uuid.UUID(co)
    )
    assert released is not None
    changes = await _events(db, "unit.status_changed")
    assert [c["status"] for c in changes] == ["en_route", "on_scene", "transporting", "available"]
    # Each carries the last known position, though only the first report gave one.
    assert [c["location"] for c in changes] == [here] * 4
    # The report, then the release it caused, in the order the live feed gives them.
    last = await db.fetch(
        "SELECT type FROM event WHERE responder_id = $1 ORDER BY xact_id DESC, id DESC LIMIT 2",
        uuid.UUID(co),
    )
    assert [r["type"] for r in reversed(last)] == ["unit.status_changed", "unit.released"]


async def test_a_unit_going_back_on_its_call_is_told_what_it_may_report_and_how_to_undo_it(
    admin: Api,
) -> None:
    """A unit that tapped transporting and then on_scene was told only that it cannot go
    back (an outside-in check). The 409 says what it may report from where it is, and how a
    status reported by mistake is undone under the rules as they are; and that way works."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    path = f"/v1/co-responders/{co}/status"
    await admin.ok("PUT", path, {"status": "transporting"})
    refused = await admin.put(path, {"status": "on_scene"})
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith(
        f"a unit cannot go back from transporting to on_scene on its call ({call['id']}):"
        " on a call its status only moves forward; from transporting it may report"
        " transporting, available or out_of_service."
    )
    assert "report available, which releases the unit from the call" in detail
    assert "have a dispatcher dispatch it to the call again" in detail
    assert (await admin.ok("GET", path.removesuffix("/status")))["status"] == "transporting"
    en_route = await admin.put(f"/v1/officers/{officer}/status", {"status": "en_route"})
    assert en_route.status_code == 200, en_route.text
    back = await admin.put(f"/v1/officers/{officer}/status", {"status": "dispatched"})
    assert (
        "from en_route it may report en_route, on_scene, transporting, available or"
        in (back.json()["detail"])
    )
    # The way the 409 gives: available, dispatched again (an override: the call was
    # re-triaged as its lead left), then the status meant.
    await admin.ok("PUT", path, {"status": "available"})
    again = [{"responder_type": "co_responder", "responder_id": co, "role": "lead"}]
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {"units": again, "override_reason": "on_scene was reported as transporting"},
    )
    assert (await admin.ok("PUT", path, {"status": "on_scene"}))["active_call_id"] == call["id"]


async def test_the_way_back_the_409_gives_works_for_a_unit_that_did_not_lead(
    admin: Api,
) -> None:
    """The 409 said to dispatch the unit again "naming it in units": for the officer backing
    up a co-responder that is a 422 (the units named differ from the recommendation, which
    names both), so the way given did not work as told. It says an override_reason."""
    _, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    path = f"/v1/officers/{officer}/status"
    await admin.ok("PUT", path, {"status": "transporting"})
    refused = await admin.put(path, {"status": "on_scene"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"].endswith(
        "have a dispatcher dispatch it to the call again, naming it in units with an"
        " override_reason"
    )
    await admin.ok("PUT", path, {"status": "available"})
    again = [{"responder_type": "officer", "responder_id": officer, "role": "backup"}]
    url = f"/v1/calls/{call['id']}/dispatch"
    assert (await admin.post(url, {"units": again})).status_code == 422
    await admin.ok("POST", url, {"units": again, "override_reason": "tapped transporting"})
    assert (await admin.ok("PUT", path, {"status": "on_scene"}))["active_call_id"] == call["id"]


async def test_a_calls_assignments_and_releases_name_each_unit_by_its_call_sign_then(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A call's assignments named each unit by its id alone: a dispatcher reading who is on
    a call had to look each id up on the units board, which knows today's shifts only. Each
    names the call sign its unit was dispatched under, kept with it (a shift's call sign
    changed since is not the one the unit had on this call), and unit.released says it."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    signs = {co: "MCT-1", officer: "1A1"}

    def named(shown: dict[str, Any]) -> dict[str, str | None]:
        return {a["responder_id"]: a["call_sign"] for a in shown["assignments"]}

    assert named(await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")) == signs
    assert {e["responder_id"]: e["call_sign"] for e in await _events(db, "unit.assigned")} == (
        signs
    )
    await db.execute("UPDATE shift SET call_sign = call_sign || '-NEXT'")
    assert named(await admin.ok("GET", f"/v1/calls/{call['id']}")) == signs
    [listed] = (await admin.ok("GET", "/v1/calls"))["items"]
    assert named(listed) == signs
    # Released by its own report, then by the clear: each release says who left.
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    cleared = await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done"})
    assert named(cleared) == signs
    released = await _events(db, "unit.released")
    assert [(e["responder_id"], e["call_sign"]) for e in released] == [
        (officer, "1A1"),
        (co, "MCT-1"),
    ]
    # And why: a terminal tells "the call is over" from "you were taken off it".
    assert [e["reason"] for e in released] == ["status_report", "call_cleared"]


async def test_out_of_service_unit_is_released_and_never_recommended(
    admin: Api, db: asyncpg.Connection
) -> None:
    co, _ = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    state = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert state["status"] == "dispatched"
    [released] = [a for a in state["assignments"] if a["responder_id"] == co]
    assert released["released_at"] is not None
    assert [a["released_at"] for a in state["assignments"] if a["responder_id"] != co] == [None]
    [event] = await _events(db, "unit.released")
    assert (event["responder_id"], event["status"]) == (co, "out_of_service")
    [unit] = [u for u in (await admin.ok("GET", "/v1/units"))["items"] if u["responder_id"] == co]
    assert (unit["status"], unit["active_call_id"]) == ("out_of_service", None)
    fresh = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert co not in {u["responder_id"] for u in fresh["recommendation"]["units"]}


def _released_status(call: dict[str, Any]) -> dict[str, str | None]:
    """Each unit's released_status on the call as the API shows it (one assignment each)."""
    return {a["responder_id"]: a["released_status"] for a in call["assignments"]}


async def test_a_unit_on_the_call_shows_no_released_status(admin: Api) -> None:
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    on_call = {co: None, officer: None}
    assert _released_status(done) == on_call
    assert _released_status(await admin.ok("GET", f"/v1/calls/{call['id']}")) == on_call
    [listed] = (await admin.ok("GET", "/v1/calls"))["items"]
    assert _released_status(listed) == on_call


async def test_clearing_a_call_shows_its_units_released_available(admin: Api) -> None:
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    cleared = await admin.ok(
        "POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved on scene"}
    )
    released = {co: "available", officer: "available"}
    assert _released_status(cleared) == released
    assert _released_status(await admin.ok("GET", f"/v1/calls/{call['id']}")) == released


async def test_a_unit_gone_out_of_service_shows_so_on_the_call_after_it_is_cleared(
    admin: Api,
) -> None:
    """A coordinator reading the call back tells the unit that went out of service from
    the one released when the call was cleared."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    state = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert _released_status(state) == {co: "out_of_service", officer: None}
    cleared = await admin.ok(
        "POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved on scene"}
    )
    released = {co: "out_of_service", officer: "available"}
    assert _released_status(cleared) == released
    [listed] = (await admin.ok("GET", "/v1/calls"))["items"]
    assert _released_status(listed) == released


async def test_a_dispatcher_sending_the_other_kind_to_lead_a_worked_call_escalates_it(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The co-responder led; a dispatcher sends a CIT officer to lead by override. The
    officer already backing up heard nothing: unit.assigned reaches only the units it names
    (from the code review). A dispatch as recommended after a re-triage's escalation says
    nothing more: the re-triage told it."""
    co, backup = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    taking_over = await add_officer(admin, district="D1", call_sign="1A2", cit=True)
    body = {
        "units": [{"responder_type": "officer", "responder_id": taking_over, "role": "lead"}],
        "override_code": "new_safety_information",
        "override_reason": "caller's brother says he is armed",
    }
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", body)
    roles = {a["responder_id"]: a["role"] for a in done["assignments"]}
    assert roles == {co: "support", backup: "backup", taking_over: "lead"}
    [escalated] = await _events(db, "call.escalated")
    assert (escalated["previous_lead"], escalated["lead"]) == ("mental_health", "law_enforcement")
    assert escalated["reasons"] == [
        {
            "rule": "dispatch_override",
            "message": "A dispatcher sent law enforcement to lead (new_safety_information)",
        }
    ]
    assert "armed" not in json.dumps(escalated)
    hearing = await db.fetchval("SELECT units_on_call FROM event WHERE type = 'call.escalated'")
    assert uuid.UUID(backup) in hearing
    # A weapon makes the recommendation agree with the unit leading: nothing more is said.
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": True}})
    assert len(await _events(db, "call.escalated")) == 1
    # Handed back to the co-responder by a dispatcher, as the weapon turns out a toy: said.
    back = {
        "units": [{"responder_type": "co_responder", "responder_id": co, "role": "lead"}],
        "override_code": "new_safety_information",
    }
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", back)
    *_, handed_back = await _events(db, "call.escalated")
    assert (handed_back["previous_lead"], handed_back["lead"]) == (
        "law_enforcement",
        "mental_health",
    )


async def test_a_lead_leaving_a_worked_call_re_triages_it(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The co-responder leading reports out of service while the CIT officer backing it up
    stays on scene: the call had no lead, and nobody heard of it until the next PATCH
    (from the outside-in check, as docs/api.md promised). Now the call is re-triaged: the
    officer's terminal hears that law enforcement leads, and the dispatch as recommended
    makes it lead."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "on_scene"})  # backup
    assert await _events(db, "recommendation.created") != []
    before = len(await _events(db, "recommendation.created"))
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    history = (await admin.ok("GET", f"/v1/calls/{call['id']}/recommendations"))["items"]
    assert len(await _events(db, "recommendation.created")) == before + 1
    latest = history[-1]
    assert latest["lead"] == "law_enforcement"
    assert [(u["responder_id"], u["role"]) for u in latest["units"]] == [(officer, "lead")]
    [escalated] = await _events(db, "call.escalated")
    assert (escalated["previous_lead"], escalated["lead"]) == ("mental_health", "law_enforcement")
    assert escalated["reasons"][0]["rule"] == "no_co_responder"
    hearing = await db.fetchval("SELECT units_on_call FROM event WHERE type = 'call.escalated'")
    assert list(hearing) == [uuid.UUID(officer)]
    [entry] = (await admin.ok("GET", "/v1/audit?action=call.retriage"))["items"]
    assert entry["detail"] == {
        "reason": "the unit leading the call left it",
        "responder_type": "co_responder",
        "responder_id": co,
        "status": "out_of_service",
    }
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    assert [
        (a["responder_id"], a["role"]) for a in done["assignments"] if not a["released_at"]
    ] == [(officer, "lead")]
    # The last unit leaving ends the work, not the call: nothing more is recommended.
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    assert len((await admin.ok("GET", f"/v1/calls/{call['id']}/recommendations"))["items"]) == (
        len(history)
    )


async def test_a_lead_back_in_service_is_not_named_again_for_the_call_it_left(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The co-responder leading reports available (called away) while the officer stays:
    free again, it was the best candidate, and the re-triage named it to lead the call it
    had just left, with the officer as back-up (noticed in the last note)."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    latest = (await admin.ok("GET", f"/v1/calls/{call['id']}/recommendations"))["items"][-1]
    assert latest["lead"] == "law_enforcement"
    assert [(u["responder_id"], u["role"]) for u in latest["units"]] == [(officer, "lead")]
    # Free on the board, it is said why it is not named (a warning says none is free).
    said = {r["rule"]: r["message"] for r in latest["reasons"]}
    assert (
        said["unit_left"] == "MCT-1 left this call (available) and is not recommended for it again"
    )
    assert "no_co_responder_available" in {w["code"] for w in latest["warnings"]}
    [escalated] = await _events(db, "call.escalated")
    assert (escalated["previous_lead"], escalated["lead"]) == ("mental_health", "law_enforcement")
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    active = {(a["responder_id"], a["role"]) for a in done["assignments"] if not a["released_at"]}
    assert active == {(officer, "lead")}


async def test_a_dispatch_pinned_to_a_recommendation_replaced_since_assigns_nothing(
    admin: Api, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Two consoles on one call: one flags a weapon (a re-triage: law enforcement leads),
    the other dispatches what it still shows, mental health. Without a pin the units
    it sends differ from the latest and need an override, and with no units it sends the
    latest, which the dispatcher never saw (noticed in the last note). Pinned, it is a 409
    with the latest, and nothing changes."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    path = f"/v1/calls/{call['id']}"
    seen = call["recommendation"]
    assert seen["lead"] == "mental_health"
    changed = await admin.ok("PATCH", path, {"safety": {"weapon": True}})
    latest = changed["recommendation"]
    assert latest["lead"] == "law_enforcement"
    before = await db.fetchval("SELECT count(*) FROM recommendation")
    for body in (
        {"recommendation_id": seen["id"]},
        {
            "recommendation_id": seen["id"],
            "units": [{"responder_type": "co_responder", "responder_id": co, "role": "lead"}],
        },
    ):
        response = await admin.client.post(f"{path}/dispatch", json=body, headers=admin.headers)
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["type"].endswith("/recommendation-changed")
        assert problem["recommendation"] == latest
        assert seen["id"] in problem["detail"]
        assert latest["id"] in problem["detail"]
        assert problem["detail"].endswith("nothing was assigned: review it and dispatch again")
    document = (await client.get("/openapi.json")).json()
    Draft202012Validator(
        {
            **document["components"]["schemas"]["RecommendationChangedProblem"],
            "components": document["components"],
        },
    ).validate(problem)
    # Nothing was assigned, and no recommendation was made.
    assert await db.fetchval("SELECT count(*) FROM assignment") == 0
    assert await db.fetchval("SELECT count(*) FROM recommendation") == before
    assert (await admin.ok("GET", path))["status"] == "pending"
    # Pinned to the latest, it goes.
    done = await admin.ok("POST", f"{path}/dispatch", {"recommendation_id": latest["id"]})
    assert {(a["responder_id"], a["role"]) for a in done["assignments"]} == {
        (officer, "lead"),
        (co, "support"),
    }
    assert done["dispatches"][0]["recommendation_id"] == latest["id"]


async def test_a_dispatch_pinned_to_no_recommendation_of_the_call_is_a_422(
    admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    """Another call's recommendation, another agency's, or an id that names none: the
    dispatcher's console sent the wrong one, not a stale one."""
    await _setup(admin)
    await grid_districts(other_admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    second = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    theirs = await other_admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    for wrong in (second, theirs):
        problem = await admin.ok(
            "POST",
            f"/v1/calls/{call['id']}/dispatch",
            {"recommendation_id": wrong["recommendation"]["id"]},
            422,
        )
        assert problem["errors"][0]["loc"] == ["body", "recommendation_id"]
        assert problem["detail"] == (
            f"recommendation {wrong['recommendation']['id']} is not a recommendation of this call"
        )
    await admin.ok(
        "POST", f"/v1/calls/{call['id']}/dispatch", {"recommendation_id": str(uuid.uuid4())}, 422
    )
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {"recommendation_id": "latest"}, 422)
    assert await db.fetchval("SELECT count(*) FROM assignment") == 0


async def test_a_lead_that_left_is_not_named_again_by_a_later_re_triage(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The re-triage its leaving caused said "not recommended for it again"; a PATCH of
    the call after, or a second lead leaving, re-triaged it with the unit free and named
    it to lead once more (noticed in the last note). A unit sent back to the call by the
    dispatcher is on it, and named as any unit on it."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    path = f"/v1/calls/{call['id']}"
    await admin.ok("POST", f"{path}/dispatch")
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    # Free, and the only co-responder: a PATCH with news still leaves it out.
    latest = (await admin.ok("PATCH", path, {"notes": "the subject is calmer"}))["recommendation"]
    assert [(u["responder_id"], u["role"]) for u in latest["units"]] == [(officer, "lead")]
    said = {r["rule"]: r["message"] for r in latest["reasons"]}
    assert said["unit_left"] == "MCT-1 left this call and is not recommended for it again"
    # Another co-responder comes on shift and is sent to lead; it leaves too: both are out.
    second = await add_co_responder(admin, district="D1", call_sign="MCT-2")
    latest = (await admin.ok("PATCH", path, {}))["recommendation"]
    assert (second, "lead") in {(u["responder_id"], u["role"]) for u in latest["units"]}
    await admin.ok("POST", f"{path}/dispatch")
    await admin.ok("PUT", f"/v1/co-responders/{second}/status", {"status": "out_of_service"})
    latest = (await admin.ok("GET", f"{path}/recommendations"))["items"][-1]
    assert [(u["responder_id"], u["role"]) for u in latest["units"]] == [(officer, "lead")]
    said = {r["rule"]: r["message"] for r in latest["reasons"]}
    assert said["unit_left"] == (
        "MCT-1 and MCT-2 (out of service) left this call and are not recommended for it again"
    )
    # Sent back by the dispatcher, the first is on the call: named, and not as one left.
    back = {
        "units": [{"responder_type": "co_responder", "responder_id": co, "role": "lead"}],
        "override_code": "specialty_needed",
    }
    await admin.ok("POST", f"{path}/dispatch", back)
    latest = (await admin.ok("PATCH", path, {}))["recommendation"]
    assert co in {u["responder_id"] for u in latest["units"]}
    said = {r["rule"]: r["message"] for r in latest["reasons"]}
    assert said["unit_left"] == "MCT-2 left this call and is not recommended for it again"


async def _called_away_and_sent_back(admin: Api, co: str, role: str) -> str:
    """A new call dispatched as recommended, its co-responder lead called away while the
    officer stays, then sent back by the dispatcher in role: the call's path."""
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    path = f"/v1/calls/{call['id']}"
    await admin.ok("POST", f"{path}/dispatch")
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    back = {
        "units": [{"responder_type": "co_responder", "responder_id": co, "role": role}],
        "override_code": "specialty_needed",
    }
    await admin.ok("POST", f"{path}/dispatch", back)
    return path


async def test_a_lead_that_left_last_finished_the_work_and_may_be_named_again(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The back-up leaves, then the lead: the lead was the last on the call, no unit called
    away from others working it. Left out of later re-triages as one, a call with no
    safety concern turned to a police lead with a phone consult (review)."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    path = f"/v1/calls/{call['id']}"
    await admin.ok("POST", f"{path}/dispatch")
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    latest = (await admin.ok("PATCH", path, {"notes": "the subject called back"}))["recommendation"]
    assert {(u["responder_id"], u["role"]) for u in latest["units"]} == {
        (co, "lead"),
        (officer, "backup"),
    }
    assert "unit_left" not in {r["rule"] for r in latest["reasons"]}
    # Called away once, sent back to lead, then the last to leave: judged by its last
    # leaving, it finished the work (review: its first leaving kept it out).
    path = await _called_away_and_sent_back(admin, co, "lead")
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    latest = (await admin.ok("PATCH", path, {"notes": "the subject called back"}))["recommendation"]
    assert (co, "lead") in {(u["responder_id"], u["role"]) for u in latest["units"]}
    assert "unit_left" not in {r["rule"] for r in latest["reasons"]}
    # Called away as lead, sent back in support, called away again while the officer
    # stays: called away both times, it stays out (third review: its last part was not lead).
    path = await _called_away_and_sent_back(admin, co, "support")
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    latest = (await admin.ok("PATCH", path, {"notes": "the subject called back"}))["recommendation"]
    assert co not in {u["responder_id"] for u in latest["units"]}
    assert "unit_left" in {r["rule"] for r in latest["reasons"]}


async def test_a_lead_that_left_with_no_shift_to_name_it_is_named_by_its_own_name(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A call sign comes from a shift; a unit with none left (a row removed behind the
    API's back) is still named in the reason, by the name it was entered with."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await db.execute("DELETE FROM shift WHERE responder_id = $1", uuid.UUID(co))
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    latest = (await admin.ok("GET", f"/v1/calls/{call['id']}/recommendations"))["items"][-1]
    assert [(u["responder_id"], u["role"]) for u in latest["units"]] == [(officer, "lead")]
    said = {r["rule"]: r["message"] for r in latest["reasons"]}
    assert said["unit_left"] == (
        "Clinician MCT-1 left this call (available) and is not recommended for it again"
    )


async def test_a_lead_leaving_for_one_of_its_kind_is_replaced_by_the_dispatch_as_recommended(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Two co-responders and an officer on the call; the leading one leaves. The new
    recommendation names the other co-responder to lead, the same kind: nothing escalates,
    but the dispatch as recommended was a 409 and left the call with no lead (from the
    review of today's change)."""
    first, officer = await _setup(admin)
    second = await add_co_responder(admin, district="D1", call_sign="MCT-2")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    units = [
        {"responder_type": "co_responder", "responder_id": first, "role": "lead"},
        {"responder_type": "co_responder", "responder_id": second, "role": "support"},
        {"responder_type": "officer", "responder_id": officer, "role": "backup"},
    ]
    body = {"units": units, "override_code": "specialty_needed"}
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", body)
    await admin.ok("PUT", f"/v1/co-responders/{first}/status", {"status": "out_of_service"})
    assert await _events(db, "call.escalated") == []
    # Nothing escalates, but the units left on the call hear that it changed: its lead left
    # (a crew left alone on it was told nothing, the outside-in check).
    [updated] = await _events(db, "call.updated")
    assert (updated["call_id"], updated["lead"]) == (call["id"], "mental_health")
    assert updated["changed"] == ["lead_left"]
    hearing = await db.fetchval("SELECT units_on_call FROM event WHERE type = 'call.updated'")
    assert set(hearing) == {uuid.UUID(second), uuid.UUID(officer)}
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    active = {(a["responder_id"], a["role"]) for a in done["assignments"] if not a["released_at"]}
    assert active == {(second, "lead"), (officer, "backup")}


async def test_a_lead_sent_by_override_leaving_escalates_back_to_the_other_kind(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The officer led by override where mental health was recommended, and leaves: the
    co-responder on the call should lead now. The re-triage compared recommendations, both
    mental health, and said nothing (from the review of today's change)."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    units = [
        {"responder_type": "officer", "responder_id": officer, "role": "lead"},
        {"responder_type": "co_responder", "responder_id": co, "role": "support"},
    ]
    body = {"units": units, "override_code": "closer_unit"}
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", body)
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    [escalated] = await _events(db, "call.escalated")
    assert (escalated["previous_lead"], escalated["lead"]) == ("law_enforcement", "mental_health")
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    active = {(a["responder_id"], a["role"]) for a in done["assignments"] if not a["released_at"]}
    assert (co, "lead") in active


async def test_a_backup_leaving_a_worked_call_changes_no_recommendation(admin: Api) -> None:
    _, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    history = (await admin.ok("GET", f"/v1/calls/{call['id']}/recommendations"))["items"]
    assert len(history) == 1
    assert (await admin.ok("GET", "/v1/audit?action=call.retriage"))["items"] == []


async def test_new_safety_information_on_a_dispatched_call_escalates(
    admin: Api, db: asyncpg.Connection
) -> None:
    await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await add_officer(admin, district="D1", call_sign="1A9", cit=True)
    patched = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": True}})
    assert patched["recommendation"]["lead"] == "law_enforcement"
    escalations = await _events(db, "call.escalated")
    assert len(escalations) == 1
    assert escalations[0]["previous_lead"] == "mental_health"
    assert escalations[0]["recommendation_id"] == patched["recommendation"]["id"]
    # It says why, for a crew that hears of it from its terminal alone.
    assert escalations[0]["safety_concern"] is True
    assert escalations[0]["reasons"] == patched["recommendation"]["reasons"]
    assert escalations[0]["reasons"][0] == {
        "rule": "safety_flagged",
        "message": "Safety concern flagged: weapon",
    }
    calm = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"nature": "MNTL"})
    assert calm["recommendation"]["lead"] == "law_enforcement"
    assert len(await _events(db, "call.escalated")) == 1


async def test_after_an_escalation_the_cit_officer_on_the_call_takes_the_lead(
    admin: Api, db: asyncpg.Connection
) -> None:
    """SPEC §1: with safety flagged a CIT officer leads and mental health supports; CIT
    officers take charge even when not first there. The officer already on the call as
    backup was never made lead (a 409: nothing to assign)."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": True}})
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    assert {(a["responder_id"], a["role"]) for a in done["assignments"]} == {
        (officer, "lead"),
        (co, "support"),
    }
    assert [d["dispatched_lead"] for d in done["dispatches"]] == [
        "mental_health",
        "law_enforcement",
    ]
    # Each terminal is told its new part.
    changed = (await _events(db, "unit.assigned"))[2:]
    assert {(e["responder_id"], e["previous_role"], e["role"]) for e in changed} == {
        (officer, "backup", "lead"),
        (co, "lead", "support"),
    }
    assert all(e["lead"] == "law_enforcement" for e in changed)
    terminal = await admin.with_role("unit", responder_id=officer)  # type: ignore[arg-type]
    assert (await terminal.ok("GET", "/v1/units/me"))["assignment"]["role"] == "lead"
    (audited,) = await db.fetch(
        "SELECT detail::text AS d FROM audit_entry WHERE action = 'call.dispatch'"
        " AND detail ? 'role_changes'"
    )
    assert sorted(
        (c["responder_type"], c["from"], c["to"]) for c in json.loads(audited["d"])["role_changes"]
    ) == [("co_responder", "lead", "support"), ("officer", "backup", "lead")]
    # The re-triage told the escalation; the dispatch carrying it out says it no more.
    assert len(await _events(db, "call.escalated")) == 1
    # Nothing is left to change: the 409 as before.
    again = await admin.post(f"/v1/calls/{call['id']}/dispatch")
    assert again.status_code == 409


async def test_a_unit_sent_by_name_after_an_escalation_does_not_use_it_up(admin: Api) -> None:
    """After the escalation a dispatcher sends one more officer by name, as back-up; the
    dispatch as recommended after it still makes the CIT officer on the call lead. It was
    a 409, "no units to assign", with the co-responder still leading a call with a weapon
    (from the code review)."""
    co, cit = await _setup(admin)
    extra = await add_officer(admin, district="D1", call_sign="1A2")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": True}})
    named = {
        "units": [{"responder_type": "officer", "responder_id": extra, "role": "backup"}],
        "override_reason": "a second officer for the door",
    }
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", named)
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    assert {(a["responder_id"], a["role"]) for a in done["assignments"]} == {
        (cit, "lead"),
        (co, "support"),
        (extra, "backup"),
    }


async def test_a_lead_kept_by_name_after_an_escalation_is_not_undone_by_a_plain_dispatch(
    admin: Api,
) -> None:
    """After the weapon, a dispatcher keeps the co-responder leading, by name, and adds an
    officer. That dispatch decided the lead: a plain dispatch (or a CAD's retry) after it
    must not hand the lead to the CIT officer (from the review of this change)."""
    co, cit = await _setup(admin)
    extra = await add_officer(admin, district="D1", call_sign="1A2")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": True}})
    kept = {
        "units": [
            {"responder_type": "co_responder", "responder_id": co, "role": "lead"},
            {"responder_type": "officer", "responder_id": extra, "role": "backup"},
        ],
        "override_code": "caller_request",
    }
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", kept)
    again = await admin.post(f"/v1/calls/{call['id']}/dispatch")
    assert again.status_code == 409, again.text
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert {(a["responder_id"], a["role"]) for a in read["assignments"]} == {
        (co, "lead"),
        (cit, "backup"),
        (extra, "backup"),
    }


async def test_a_lead_sent_later_takes_over_and_the_earlier_one_steps_down(
    admin: Api, db: asyncpg.Connection
) -> None:
    co, cit = await _setup(admin)
    patrol = await add_officer(admin, district="D1", call_sign="1A2")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    units = [
        {"responder_type": "co_responder", "responder_id": co, "role": "lead"},
        {"responder_type": "officer", "responder_id": patrol, "role": "backup"},
    ]
    await admin.ok(
        "POST", f"/v1/calls/{call['id']}/dispatch", {"units": units, "override_reason": "closer"}
    )
    patched = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": True}})
    lead = next(u for u in patched["recommendation"]["units"] if u["role"] == "lead")
    assert lead["responder_id"] == cit
    done = await admin.ok(
        "POST", f"/v1/calls/{call['id']}/dispatch", {"override_reason": "CIT takes the scene"}
    )
    active = {(a["responder_id"], a["role"]) for a in done["assignments"] if not a["released_at"]}
    assert active == {(cit, "lead"), (co, "support"), (patrol, "backup")}
    stepped_down = [e for e in await _events(db, "unit.assigned") if e["previous_role"]]
    assert [(e["responder_id"], e["role"]) for e in stepped_down] == [(co, "support")]
    # The database holds one lead, as the answer does.
    leads = await db.fetchval(
        "SELECT count(*) FROM assignment WHERE call_id = $1 AND role = 'lead'"
        " AND released_at IS NULL",
        uuid.UUID(call["id"]),
    )
    assert leads == 1


async def test_a_plain_dispatch_again_does_not_undo_a_lead_chosen_by_override(
    admin: Api,
) -> None:
    """SPEC §3.4: units already on the call are ignored. Only a recommendation newer than
    the last dispatch that changes the kind of lead re-roles them; a CAD's retry or a second
    console's dispatch must not put back the lead a supervisor overrode."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    chosen = [
        {"responder_type": "officer", "responder_id": officer, "role": "lead"},
        {"responder_type": "co_responder", "responder_id": co, "role": "support"},
    ]
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {"units": chosen, "override_code": "supervisor_decision"},
    )
    # Twice: the first 409 stores a fresh recommendation, which still recommends what the
    # supervisor overrode (a mental-health lead): nothing changed, so nothing re-roles.
    for _ in range(2):
        again = await admin.post(f"/v1/calls/{call['id']}/dispatch")
        assert again.status_code == 409
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert {(a["responder_id"], a["role"]) for a in read["assignments"]} == {
        (officer, "lead"),
        (co, "support"),
    }
    assert len(read["dispatches"]) == 1


async def _other_lead_by_override(
    admin: Api, call: dict[str, Any], kind: str, unit: str, code: str = "closer_unit"
) -> None:
    """The dispatcher sends unit alone to lead the call, instead of the one recommended."""
    alone = [{"responder_type": kind, "responder_id": unit, "role": "lead"}]
    await admin.ok(
        "POST", f"/v1/calls/{call['id']}/dispatch", {"units": alone, "override_code": code}
    )


async def test_the_rest_of_the_recommendation_joins_a_lead_chosen_by_override_beside_it(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A dispatcher sent the officer alone to lead (the caller asked for police); a plain
    dispatch then sends the co-responder the recommendation named to lead. It joins as
    support, beside the lead chosen: it took the lead over, the officer stepping down to
    backup (outside-in check), undoing the override though nothing had changed."""
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await _other_lead_by_override(admin, call, "officer", officer, "caller_request")
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    assert {(a["responder_id"], a["role"]) for a in done["assignments"]} == {
        (officer, "lead"),
        (co, "support"),
    }
    assert done["dispatches"][-1]["dispatched_lead"] is None
    assert await _events(db, "call.escalated") == []
    [latest, _] = (await admin.ok("GET", "/v1/audit?action=call.dispatch"))["items"]
    assert "role_changes" not in latest["detail"]


async def test_officers_join_a_co_responder_chosen_to_lead_as_backup_not_to_stabilise(
    admin: Api,
) -> None:
    """The recommendation for a weapon call: a CIT officer from next door to lead, one here
    to stabilise the scene until then, the co-responder to support. A dispatcher sent the
    co-responder alone to lead; the plain dispatch after it sends both officers as backup:
    stabilising for a lead that is not coming means nothing (review)."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    cit = await add_officer(admin, district="D2", call_sign="2C1", cit=True)
    near = await add_officer(admin, district="D1", call_sign="1A1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    named = {u["responder_id"]: u["role"] for u in call["recommendation"]["units"]}
    assert named == {cit: "lead", near: "stabilize", co: "support"}
    await _other_lead_by_override(admin, call, "co_responder", co, "supervisor_decision")
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    assert {(a["responder_id"], a["role"]) for a in done["assignments"]} == {
        (co, "lead"),
        (cit, "backup"),
        (near, "backup"),
    }


def _recommended(call: dict[str, Any], role: str) -> str:
    return str(
        next(u["responder_id"] for u in call["recommendation"]["units"] if u["role"] == role)
    )


async def test_a_plain_dispatch_after_another_co_responder_was_chosen_to_lead_leaves_it_leading(
    admin: Api,
) -> None:
    """A dispatcher sent one co-responder to lead instead of the one recommended; a plain
    dispatch then, for the back-up, sent the one declined too and handed it the lead (the
    fourth review). The one chosen leads; the one declined is not sent."""
    await _setup(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-2")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    recommended, backup = _recommended(call, "lead"), _recommended(call, "backup")
    units = (await admin.ok("GET", "/v1/units?district=D1"))["items"]
    [chosen] = [
        u["responder_id"]
        for u in units
        if u["responder_type"] == "co_responder" and u["responder_id"] != recommended
    ]
    await _other_lead_by_override(admin, call, "co_responder", chosen)
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    assert {(a["responder_id"], a["role"]) for a in done["assignments"]} == {
        (chosen, "lead"),
        (backup, "backup"),
    }
    assert (await admin.ok("GET", f"/v1/co-responders/{recommended}"))["status"] == "available"


@pytest.mark.parametrize("chosen_is_cit", [True, False])
async def test_a_plain_dispatch_after_another_officer_was_chosen_to_lead_sends_cit_to_take_charge(
    admin: Api, chosen_is_cit: bool
) -> None:
    """Safety flagged, a CIT officer is recommended to lead; the dispatcher sent another
    officer to lead instead. A plain dispatch for the co-responder's support sends the
    recommended officer only to take charge from one who is not CIT (SPEC §1)."""
    co, _ = await _setup(admin)
    chosen = await add_officer(admin, district="D1", call_sign="1A2", cit=chosen_is_cit)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    recommended = _recommended(call, "lead")
    assert recommended != chosen
    await _other_lead_by_override(admin, call, "officer", chosen)
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    active = {(a["responder_id"], a["role"]) for a in done["assignments"] if not a["released_at"]}
    if chosen_is_cit:
        assert active == {(chosen, "lead"), (co, "support")}
    else:
        assert active == {(recommended, "lead"), (chosen, "backup"), (co, "support")}


@pytest.mark.parametrize("chosen_is_cit", [True, False])
async def test_a_cit_officer_recommended_as_back_up_takes_charge_from_an_officer_chosen_to_lead(
    admin: Api, db: asyncpg.Connection, chosen_is_cit: bool
) -> None:
    """Mental health was recommended to lead, with the CIT officer as back-up; the
    dispatcher sent another officer to lead (the caller asked for police). A plain dispatch
    sent the CIT officer as back-up under an officer who is not CIT (the outside-in check
    as a CAD integrator): now it takes charge (SPEC §1), the co-responder supporting;
    beside a CIT officer leading, it backs up."""
    co, cit = await _setup(admin)
    chosen = await add_officer(admin, district="D1", call_sign="1A2", cit=chosen_is_cit)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert call["recommendation"]["lead"] == "mental_health"
    assert _recommended(call, "backup") == cit
    await _other_lead_by_override(admin, call, "officer", chosen, "caller_request")
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    active = {(a["responder_id"], a["role"]) for a in done["assignments"] if not a["released_at"]}
    if chosen_is_cit:
        assert active == {(chosen, "lead"), (cit, "backup"), (co, "support")}
    else:
        assert active == {(cit, "lead"), (chosen, "backup"), (co, "support")}
        [stepped] = [e for e in await _events(db, "unit.assigned") if e["responder_id"] == chosen][
            1:
        ]
        assert (stepped["previous_role"], stepped["role"]) == ("lead", "backup")
    # Law enforcement leads either way, as the dispatcher chose: nothing escalates.
    assert await _events(db, "call.escalated") == []


async def test_an_officer_leading_for_want_of_a_cit_officer_stabilises_when_one_takes_charge(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A weapon call with no CIT officer in reach: the officer here was sent to lead. A CIT
    officer from next door comes on shift, and the call's re-triage names it to lead and the
    officer on the call to stabilise the scene until it arrives (cit_adjacent). The plain
    dispatch sent the CIT officer to lead and stepped the officer on scene down to back-up,
    not to the part the recommendation named: its terminal was told to back up a lead still
    on its way, and the trail said so."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    near = await add_officer(admin, district="D1", call_sign="1A1", trainings=["de_escalation"])
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    assert _recommended(call, "lead") == near
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    cit = await add_officer(admin, district="D2", call_sign="2C1", cit=True)
    patched = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": "still armed"})
    named = {u["responder_id"]: u["role"] for u in patched["recommendation"]["units"]}
    assert named == {cit: "lead", near: "stabilize", co: "support"}
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    assert {(a["responder_id"], a["role"]) for a in done["assignments"]} == {
        (cit, "lead"),
        (near, "stabilize"),
        (co, "support"),
    }
    told = [e for e in await _events(db, "unit.assigned") if e["responder_id"] == near]
    assert (told[-1]["previous_role"], told[-1]["role"]) == ("lead", "stabilize")
    [latest, _] = (await admin.ok("GET", "/v1/audit?action=call.dispatch"))["items"]
    [change] = latest["detail"]["role_changes"]
    assert (change["responder_id"], change["from"], change["to"]) == (near, "lead", "stabilize")


async def test_the_document_says_the_parts_each_kind_plays_as_the_422_does(
    client: httpx.AsyncClient,
) -> None:
    """The schema took any part for any kind, so a request it called valid (a co-responder
    sent to stabilise) was a 422: the fuzzer's ST202 (CI). It says what the 422 says now."""
    document = (await client.get("/openapi.json")).json()
    schema = {**document["components"]["schemas"]["UnitChoice"], "components": {}}
    validator = Draft202012Validator(schema)
    unit = str(uuid.uuid4())
    for kind, parts in ROLES_OF.items():
        for role in ("lead", "backup", "support", "stabilize"):
            choice = {"responder_type": kind, "responder_id": unit, "role": role}
            assert validator.is_valid(choice) == (role in parts), choice


async def test_a_unit_sent_in_a_part_its_kind_does_not_play_is_422(
    admin: Api, db: asyncpg.Connection
) -> None:
    # support is a co-responder's part beside a law-enforcement lead; backup and stabilize
    # are an officer's. The reports count who led and who backed up from these.
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    path = f"/v1/calls/{call['id']}/dispatch"
    for kind, unit, role, parts in (
        ("officer", officer, "support", "lead, backup, stabilize"),
        ("co_responder", co, "stabilize", "lead, support"),
        ("co_responder", co, "backup", "lead, support"),
    ):
        lead = {"responder_type": "officer", "responder_id": officer, "role": "lead"}
        units = [{"responder_type": kind, "responder_id": unit, "role": role}]
        if kind == "co_responder":
            units.insert(0, lead)
        refused = await admin.post(path, {"units": units, "override_reason": "x"})
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["errors"]
        assert error["loc"] == ["body", "units", len(units) - 1, "role"]
        assert error["msg"].endswith(f"may be sent as {parts}")
    assert await db.fetchval("SELECT count(*) FROM assignment") == 0
    # The same units in their own parts are sent.
    units = [
        {"responder_type": "officer", "responder_id": officer, "role": "lead"},
        {"responder_type": "co_responder", "responder_id": co, "role": "support"},
    ]
    await admin.ok("POST", path, {"units": units, "override_reason": "armed, per caller"})


async def test_a_dispatch_that_mistypes_a_unit_on_the_call_or_leaves_no_lead_is_422(
    admin: Api,
) -> None:
    co, officer = await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    path = f"/v1/calls/{call['id']}/dispatch"
    mistyped = [{"responder_type": "officer", "responder_id": co, "role": "lead"}]
    refused = await admin.post(path, {"units": mistyped, "override_reason": "typo"})
    assert refused.status_code == 422
    assert "on this call" in refused.json()["detail"]
    leaderless = [{"responder_type": "co_responder", "responder_id": co, "role": "support"}]
    refused = await admin.post(path, {"units": leaderless, "override_reason": "x"})
    assert refused.status_code == 422
    assert "without a lead" in refused.json()["detail"]
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert {(a["responder_id"], a["role"]) for a in read["assignments"]} == {
        (co, "lead"),
        (officer, "backup"),
    }


async def test_another_agency_cannot_dispatch_or_clear(admin: Api, other_admin: Api) -> None:
    await _setup(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert (await other_admin.post(f"/v1/calls/{call['id']}/dispatch")).status_code == 404
    assert (
        await other_admin.post(f"/v1/calls/{call['id']}/clear", {"disposition": "x"})
    ).status_code == 404
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["status"] == "pending"


async def _many_calls_and_units(admin: Api, calls: int, units: int) -> tuple[list[str], list[str]]:
    await grid_districts(admin)
    officers = [
        await add_officer(admin, district="D1", call_sign=f"1A{n:02d}") for n in range(units)
    ]
    made = await asyncio.gather(
        *(admin.ok("POST", "/v1/calls", {"district": "D1"}, 201) for _ in range(calls))
    )
    return [c["id"] for c in made], officers


def _unit(officer_id: str, role: str = "lead") -> dict[str, str]:
    return {"responder_type": "officer", "responder_id": officer_id, "role": role}


async def _units_agree_with_their_assignments(db: asyncpg.Connection) -> None:
    """Each officer on a call is `dispatched` to it; every other one is still `available`
    and on no call (SPEC §3.4: a 409 changes no unit's status)."""
    rows = await db.fetch(
        "SELECT o.status, o.active_call_id, a.call_id FROM officer o"
        " LEFT JOIN assignment a ON a.responder_id = o.id AND a.released_at IS NULL"
    )
    assert rows
    for row in rows:
        expected = ("available", None) if row["call_id"] is None else ("dispatched", row["call_id"])
        assert (row["status"], row["active_call_id"]) == expected


async def test_fifty_concurrent_dispatches_for_ten_units_assign_each_unit_once(
    admin: Api, db: asyncpg.Connection
) -> None:
    calls, officers = await _many_calls_and_units(admin, 50, 10)
    responses = await asyncio.gather(
        *(
            admin.post(
                f"/v1/calls/{call_id}/dispatch",
                {"units": [_unit(officers[n % 10])], "override_reason": "load test"},
            )
            for n, call_id in enumerate(calls)
        )
    )
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 10
    assert codes.count(409) == 40
    per_unit = await db.fetch(
        "SELECT responder_id, count(*) AS n FROM assignment WHERE released_at IS NULL"
        " GROUP BY responder_id"
    )
    assert len(per_unit) == 10
    assert all(row["n"] == 1 for row in per_unit)
    for call_id, response in zip(calls, responses, strict=True):
        if response.status_code == 409:
            assert (await admin.ok("GET", f"/v1/calls/{call_id}"))["status"] == "pending"
    await _units_agree_with_their_assignments(db)


async def test_two_units_per_dispatch_are_both_assigned_or_neither(
    admin: Api, db: asyncpg.Connection
) -> None:
    calls, officers = await _many_calls_and_units(admin, 50, 10)
    responses = await asyncio.gather(
        *(
            admin.post(
                f"/v1/calls/{call_id}/dispatch",
                {
                    "units": [_unit(officers[n % 10]), _unit(officers[(n + 3) % 10], "backup")],
                    "override_reason": "load test",
                },
            )
            for n, call_id in enumerate(calls)
        )
    )
    assert {r.status_code for r in responses} <= {200, 409}
    rows = await db.fetch(
        "SELECT call_id::text AS call_id, count(*) AS n FROM assignment GROUP BY call_id"
    )
    counts = {r["call_id"]: r["n"] for r in rows}
    for call_id, response in zip(calls, responses, strict=True):
        assert counts.get(call_id, 0) == (2 if response.status_code == 200 else 0)
    active = await db.fetch(
        "SELECT responder_id, count(*) AS n FROM assignment WHERE released_at IS NULL"
        " GROUP BY responder_id"
    )
    assert all(row["n"] == 1 for row in active)
    assert sum(r.status_code == 200 for r in responses) >= 1
    await _units_agree_with_their_assignments(db)


async def test_deactivating_a_unit_while_it_is_dispatched_lets_exactly_one_win(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Each unit is dispatched and deactivated at the same moment: either it is on the call
    and still active (the deactivation a 409), or it is inactive and the call was sent
    nothing (the dispatch a 409). Never an inactive unit holding an assignment."""
    calls, officers = await _many_calls_and_units(admin, 10, 10)

    async def dispatch(call_id: str, officer: str) -> int:
        body = {"units": [_unit(officer)], "override_reason": "race"}
        return (await admin.post(f"/v1/calls/{call_id}/dispatch", body)).status_code

    async def deactivate(officer: str) -> int:
        return (await admin.patch(f"/v1/officers/{officer}", {"active": False})).status_code

    outcomes = await asyncio.gather(
        *(
            asyncio.gather(dispatch(call_id, officer), deactivate(officer))
            for call_id, officer in zip(calls, officers, strict=True)
        )
    )
    for call_id, officer, (sent, removed) in zip(calls, officers, outcomes, strict=True):
        assert sorted((sent, removed)) == [200, 409], (sent, removed)
        unit = await admin.ok("GET", f"/v1/officers/{officer}")
        call = await admin.ok("GET", f"/v1/calls/{call_id}")
        if sent == 200:
            assert unit["active"]
            assert unit["status"] == "dispatched"
            assert [a["responder_id"] for a in call["assignments"]] == [officer]
        else:
            assert not unit["active"]
            assert call["status"] == "pending"
            assert call["assignments"] == []
    stranded = await db.fetchval(
        "SELECT count(*) FROM assignment a JOIN officer o ON o.id = a.responder_id"
        " WHERE a.released_at IS NULL AND NOT o.active"
    )
    assert stranded == 0


async def test_a_terminal_reads_its_role_and_the_units_it_works_with(admin: Api) -> None:
    """SPEC §3.2: a unit's own record plus its active assignment; a terminal that restarts
    must learn again whether it leads, and with whom."""
    co, officer = await _setup(admin)
    other = await add_officer(admin, district="D1", call_sign="1A2")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "private"}, 201)
    units = [
        {"responder_type": "co_responder", "responder_id": co, "role": "lead"},
        {"responder_type": "officer", "responder_id": other, "role": "backup"},
    ]
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {"units": units, "override_reason": "1A1 is on a break"},
    )
    terminal = await admin.with_role("unit", responder_id=other)  # type: ignore[arg-type]
    me = await terminal.ok("GET", "/v1/units/me")
    assert (me["assignment"]["role"], me["assignment"]["released_at"]) == ("backup", None)
    assert me["call"]["id"] == call["id"]
    # The units actually sent, not the recommendation's (1A1 was recommended).
    sent = {(a["responder_id"], a["role"]) for a in me["call"]["assignments"]}
    assert sent == {(co, "lead"), (other, "backup")}
    assert officer not in {a["responder_id"] for a in me["call"]["assignments"]}
    assert "notes" not in me["call"]
    # Released, it has neither.
    await admin.ok("PUT", f"/v1/officers/{other}/status", {"status": "available"})
    me = await terminal.ok("GET", "/v1/units/me")
    assert (me["assignment"], me["call"]) == (None, None)
    # The read that showed the call is in the trail as a read of it (SPEC: every read of a
    # call's details); the one that showed none is not.
    trail = await admin.ok("GET", f"/v1/audit?action=call.read&resource_id={call['id']}")
    keys = (await admin.ok("GET", "/v1/api-keys"))["items"]
    terminal_key = next(k["id"] for k in keys if terminal.key.startswith(f"cit_{k['prefix']}_"))
    mine = [e for e in trail["items"] if e["role"] == "unit"]
    assert [(e["key_id"], e["detail"]) for e in mine] == [
        (terminal_key, {"via": "GET /v1/units/me"})
    ]


async def test_a_unit_whose_shift_ends_during_its_call_still_sees_the_call(admin: Api) -> None:
    await grid_districts(admin)
    co = await add_unrostered_co_responder(admin, "Clinician Late")
    now = datetime.now(UTC)
    ends = now + timedelta(seconds=2)
    hour = timedelta(hours=1)
    await add_shift(
        admin,
        "co_responder",
        co,
        call_sign="MCT-9",
        district="D1",
        starts_at=now - 8 * hour,
        ends_at=ends,
    )
    # The next shift is booked but has not started: the record stays the one just worked.
    await add_shift(
        admin,
        "co_responder",
        co,
        call_sign="MCT-10",
        district="D1",
        starts_at=now + 12 * hour,
        ends_at=now + 20 * hour,
    )
    unit = await admin.with_role("unit", responder_id=co)  # type: ignore[arg-type]
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "private"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await asyncio.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.1)

    me = await unit.ok("GET", "/v1/units/me")
    assert me["unit"]["call_sign"] == "MCT-9"
    assert me["unit"]["status"] == "dispatched"
    assert datetime.fromisoformat(me["unit"]["shift_ends_at"]) <= datetime.now(UTC)
    assert me["call"]["id"] == call["id"]
    assert "notes" not in me["call"]
    # The consoles still show it on its call, as the record of the shift it worked.
    (held,) = [u for u in (await admin.ok("GET", "/v1/units"))["items"] if u["responder_id"] == co]
    assert (held["call_sign"], held["active_call_id"]) == ("MCT-9", call["id"])


async def test_a_unit_before_its_first_shift_gets_a_404(admin: Api) -> None:
    await grid_districts(admin)
    co = await add_unrostered_co_responder(admin, "Clinician New")
    now = datetime.now(UTC)
    await add_shift(
        admin,
        "co_responder",
        co,
        call_sign="MCT-11",
        district="D1",
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=9),
    )
    unit = await admin.with_role("unit", responder_id=co)  # type: ignore[arg-type]
    response = await unit.get("/v1/units/me")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def _until_waiting_for_a_lock(db: asyncpg.Connection) -> None:
    waiting = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    for _ in range(200):  # up to 10 s
        if await db.fetchval(waiting):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the request never waited for the call")


async def test_dispatch_and_clear_lock_no_unit_while_another_holds_the_call(
    admin: Api, db: asyncpg.Connection, database_url: str
) -> None:
    # A dispatch's read that locks the call also locks its units once it holds the call; it
    # must never lock them before (the global order is call, officers, co-responders), or a
    # dispatch holding the call and waiting for a unit would deadlock with it. A clear locks
    # its units after its read.
    [call_id, other], [officer, spare] = await _many_calls_and_units(admin, 2, 2)
    await admin.ok(
        "POST", f"/v1/calls/{other}/dispatch", {"units": [_unit(spare)], "override_reason": "t"}
    )
    probe = await asyncpg.connect(plain_url(database_url))
    try:
        steps = [
            (call_id, "dispatch", {"units": [_unit(officer)], "override_reason": "t"}, officer),
            (other, "clear", {"disposition": "done"}, spare),
        ]
        for held, action, body, unit in steps:
            async with db.transaction():
                await db.execute("SELECT 1 FROM call WHERE id = $1 FOR UPDATE", uuid.UUID(held))
                request = asyncio.create_task(admin.post(f"/v1/calls/{held}/{action}", body))
                await _until_waiting_for_a_lock(db)
                async with probe.transaction():
                    await probe.execute(
                        "SELECT 1 FROM officer WHERE id = $1 FOR UPDATE NOWAIT", uuid.UUID(unit)
                    )
            response = await request
            assert response.status_code == 200, (action, response.text)
    finally:
        await probe.close()


async def test_a_dispatch_undone_to_break_a_deadlock_is_a_503_to_retry_and_keeps_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    # Another client of the database (a script, an operator's session) taking a unit's lock
    # and then the call's deadlocks with a dispatch, which holds the call and waits for the
    # unit. PostgreSQL undoes the dispatch, the first to wait: the dispatcher is told to
    # retry (never a 500), nothing of it is kept, and the same key then runs it afresh.
    [call_id], [officer] = await _many_calls_and_units(admin, 1, 1)
    body = {"units": [_unit(officer)], "override_reason": "t"}
    url, key = f"/v1/calls/{call_id}/dispatch", {**admin.headers, "Idempotency-Key": "dl-1"}
    async with db.transaction():
        await db.execute("SELECT 1 FROM officer WHERE id = $1 FOR UPDATE", uuid.UUID(officer))
        request = asyncio.create_task(admin.client.post(url, json=body, headers=key))
        await _until_waiting_for_a_lock(db)
        await db.execute("SELECT 1 FROM call WHERE id = $1 FOR UPDATE", uuid.UUID(call_id))
        response = await request
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    problem = response.json()
    assert problem["type"].endswith("/rolled-back")
    assert "retry" in problem["detail"].lower()
    assert await db.fetchval("SELECT count(*) FROM assignment") == 0
    assert (await admin.ok("GET", f"/v1/calls/{call_id}"))["status"] == "pending"
    assert (await admin.ok("GET", f"/v1/officers/{officer}"))["status"] == "available"
    again = await admin.client.post(url, json=body, headers=key)
    assert again.status_code == 200, again.text
    assert "idempotent-replayed" not in again.headers
