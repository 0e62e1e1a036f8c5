"""A terminal's status reports that no longer fit its unit (outside-in check of the field
unit): a report naming the call it is about (`call_id`) is refused once the unit is off
that call, and a report of the position alone keeps the unit's status."""

from __future__ import annotations

import uuid

import asyncpg
from fastapi import FastAPI
from jsonschema import Draft202012Validator

from tests.helpers import Api, add_co_responder, add_officer, grid_districts


async def _on_call(admin: Api) -> tuple[str, Api, str]:
    """A co-responder dispatched to a new call in D1: its id, its terminal, the call's id."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    terminal = await admin.with_role("unit", responder_id=co)  # type: ignore[arg-type]
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-A"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    return co, terminal, call["id"]


async def _status_events(db: asyncpg.Connection, co: str) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM event WHERE type = 'unit.status_changed' AND responder_id = $1",
            uuid.UUID(co),
        )
    )


async def test_a_report_about_a_call_the_unit_was_moved_off_changes_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Queued while the terminal was offline, `on_scene` landed on the call the dispatcher
    had sent the unit to since: the board showed it on scene a second after its dispatch."""
    co, terminal, first = await _on_call(admin)
    path = f"/v1/co-responders/{co}/status"
    await terminal.ok("PUT", path, {"status": "en_route", "call_id": first})
    await admin.ok("PUT", path, {"status": "available"})  # the dispatcher pulls it off
    second = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-B"}, 201)
    sent = await admin.ok("POST", f"/v1/calls/{second['id']}/dispatch")
    assert co in {a["responder_id"] for a in sent["assignments"]}
    before = await _status_events(db, co)

    stale = await terminal.put(path, {"status": "on_scene", "call_id": first})

    assert stale.status_code == 409
    problem = stale.json()
    assert problem["type"].endswith("/not-on-that-call")
    assert problem["active_call_id"] == second["id"]
    assert f"is on call CAD-B, {second['id']} now" in problem["detail"]
    # The call it is about by the CAD's number too, as the crew knows it.
    assert problem["detail"].startswith(f"this report is about call CAD-A, {first}, but")
    me = await terminal.ok("GET", "/v1/units/me")
    assert (me["unit"]["status"], me["unit"]["active_call_id"]) == ("dispatched", second["id"])
    assert me["assignment"]["on_scene_at"] is None
    assert await _status_events(db, co) == before
    # The same report about the call it is on now is taken.
    taken = await terminal.ok("PUT", path, {"status": "on_scene", "call_id": second["id"]})
    assert (taken["status"], taken["active_call_id"]) == ("on_scene", second["id"])


async def test_a_report_about_another_agencys_call_does_not_learn_its_cad_number(
    admin: Api, other_admin: Api
) -> None:
    co, terminal, _ = await _on_call(admin)
    await grid_districts(other_admin)
    theirs = await other_admin.ok(
        "POST", "/v1/calls", {"district": "D1", "external_id": "THEIRS-1"}, 201
    )
    path = f"/v1/co-responders/{co}/status"
    stale = await terminal.put(path, {"status": "on_scene", "call_id": theirs["id"]})
    assert stale.status_code == 409, stale.text
    detail = stale.json()["detail"]
    assert detail.startswith(f"this report is about call {theirs['id']}, but")
    assert "THEIRS" not in detail


async def test_a_report_about_a_cleared_call_leaves_the_unit_free(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A busy report racing the clear made the unit busy on no call, out of routing."""
    co, terminal, call = await _on_call(admin)
    path = f"/v1/co-responders/{co}/status"
    await admin.ok("POST", f"/v1/calls/{call}/clear", {"disposition": "resolved on scene"})

    late = await terminal.put(path, {"status": "on_scene", "call_id": call})

    assert late.status_code == 409
    assert late.json()["active_call_id"] is None
    assert "on no cit-dispatch call now" in late.json()["detail"]
    mine = await terminal.ok("GET", "/v1/units/me")
    assert (mine["unit"]["status"], mine["unit"]["active_call_id"]) == ("available", None)
    board = await admin.ok("GET", "/v1/units?district=D1")
    assert {u["responder_id"]: u["status"] for u in board["items"]}[co] == "available"


async def test_a_retried_report_that_released_the_unit_is_taken_again(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Its answer lost, a terminal sends `available` about its call again: a 409 saying
    nothing was changed made it think its report had failed (review r14). A report that
    asks something else of a unit off that call is still refused."""
    co, terminal, call = await _on_call(admin)
    path = f"/v1/co-responders/{co}/status"
    report = {"status": "available", "call_id": call, "location": {"lat": 40.7, "lon": -111.9}}
    await terminal.ok("PUT", path, report)
    now = {"lat": 40.8, "lon": -111.8}
    await terminal.ok("PUT", path, {"location": now})  # the unit moves on meanwhile
    events = await _status_events(db, co)
    again = await terminal.ok("PUT", path, report)
    # Nothing changes, its position neither: the retry's is older (review r15).
    assert (again["status"], again["active_call_id"], again["location"]) == (
        "available",
        None,
        now,
    )
    assert (await terminal.ok("GET", "/v1/units/me"))["unit"]["location"] == now
    assert await _status_events(db, co) == events
    busy = await terminal.put(path, {"status": "out_of_service", "call_id": call})
    assert busy.status_code == 409


async def test_a_position_report_of_a_separated_unit_left_busy_is_taken(
    admin: Api, db: asyncpg.Connection
) -> None:
    """It reported no status, yet was refused as reporting the busy one it had (review
    r14). Separated while busy on an incident the CAD did not name, as an earlier release
    allowed: refused now (tests/api/test_units_read_model.py), and migration 0041 makes
    those out of service; here, a row left so by hand. Sent `active: false` again, with a
    new name, it is not refused as busy: deactivating it again changes nothing."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    path = f"/v1/officers/{officer}/status"
    await admin.ok("PUT", path, {"status": "en_route"})
    refused = await admin.patch(f"/v1/officers/{officer}", {"active": False})
    assert refused.status_code == 409, refused.text
    await db.execute("UPDATE officer SET active = false WHERE id = $1", uuid.UUID(officer))
    renamed = await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": False, "name": "R"})
    assert (renamed["active"], renamed["name"]) == (False, "R")
    here = {"lat": 40.78, "lon": -111.93}
    moved = await admin.ok("PUT", path, {"location": here})
    assert (moved["status"], moved["location"]) == ("en_route", here)
    assert (await admin.put(path, {"status": "on_scene"})).status_code == 409


def test_the_openapi_document_states_what_a_report_needs(app: FastAPI) -> None:
    """Bodies the server refuses (422) were valid by the document (review r14)."""
    document = app.openapi()
    schema = {
        **document["components"]["schemas"]["StatusUpdate"],
        "components": document["components"],
    }
    check = Draft202012Validator(schema)
    here = {"lat": 40.78, "lon": -111.93}
    refused = [
        {},
        {"external_incident": "CAD-77"},
        {"call_id": str(uuid.uuid4())},
        {"location": None},
        {"status": "available", "external_incident": "CAD-77"},
    ]
    taken = [
        {"location": here},
        {"status": "en_route", "external_incident": "CAD-77"},
        {"status": "available", "location": here, "call_id": str(uuid.uuid4())},
    ]
    assert [check.is_valid(body) for body in refused] == [False] * len(refused)
    assert [check.is_valid(body) for body in taken] == [True] * len(taken)


async def test_a_position_report_alone_keeps_the_units_status(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A terminal's position report had to restate a status: after a clear, the one it
    still showed made the free unit busy on no call."""
    co, terminal, call = await _on_call(admin)
    path = f"/v1/co-responders/{co}/status"
    await terminal.ok("PUT", path, {"status": "en_route"})
    here = {"lat": 40.75, "lon": -111.93}
    moved = await terminal.ok("PUT", path, {"location": here})
    assert (moved["status"], moved["active_call_id"], moved["location"]) == (
        "en_route",
        call,
        here,
    )
    await admin.ok("POST", f"/v1/calls/{call}/clear", {"disposition": "resolved on scene"})
    events = await _status_events(db, co)
    there = {"lat": 40.76, "lon": -111.94}
    after = await terminal.ok("PUT", path, {"location": there})
    assert (after["status"], after["active_call_id"], after["location"]) == (
        "available",
        None,
        there,
    )
    assert await _status_events(db, co) == events  # nothing changed but the position


async def test_a_report_with_neither_status_nor_position_is_refused(admin: Api) -> None:
    co, terminal, _ = await _on_call(admin)
    path = f"/v1/co-responders/{co}/status"
    empty = await terminal.put(path, {})
    assert empty.status_code == 422
    assert "a status, a location, or both" in empty.json()["detail"]
    incident = await terminal.put(path, {"external_incident": "CAD-77"})
    assert incident.status_code == 422
    assert "external_incident comes with the busy status" in incident.json()["detail"]
    assert (await terminal.ok("GET", "/v1/units/me"))["unit"]["status"] == "dispatched"
