"""call.updated says what changed: a crew en route reads a new weapon flag or a new
address at once, where it had to compare the call with what it knew (and could not tell
the unit leading it leaving from new information at all: tests/api/test_dispatch.py
tells lead_left)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from app.encryption import CALL_NOTES, DataCipher, generate_key
from tests.eido.documents import document, incident_id, later
from tests.helpers import Api, add_co_responder, add_officer, grid_districts


async def _heard(db: asyncpg.Connection, call_id: str) -> list[tuple[Any, set[str]]]:
    """Each call.updated of the call: what it says changed, and the units that hear it."""
    rows = await db.fetch(
        "SELECT payload::text AS p, units_on_call FROM event"
        " WHERE type = 'call.updated' AND call_id = $1 ORDER BY id",
        uuid.UUID(call_id),
    )
    return [(json.loads(r["p"])["changed"], {str(u) for u in r["units_on_call"]}) for r in rows]


async def _told(db: asyncpg.Connection, call_id: str) -> list[Any]:
    rows = await db.fetch(
        "SELECT payload::text AS p FROM event WHERE type = 'call.updated' AND call_id = $1"
        " ORDER BY id",
        uuid.UUID(call_id),
    )
    return [json.loads(r["p"])["changed"] for r in rows]


async def test_each_patch_says_which_of_the_calls_fields_it_changed(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    path = f"/v1/calls/{call['id']}"
    await admin.ok("PATCH", path, {"safety": {"weapon": True}, "notes": "knife in hand"})
    await admin.ok("PATCH", path, {"nature": "MTLV"})
    # A point in D2 moves the call there: both are told.
    await admin.ok("PATCH", path, {"location": {"lat": 40.785, "lon": -111.875}})
    await admin.ok("PATCH", path, {"subject": {"age": 34}, "notes": "knife in hand"})
    await admin.ok("PATCH", path, {"district": "D3"})
    # Sent again as it is: nothing changed, nothing told.
    await admin.ok("PATCH", path, {"nature": "MTLV", "safety": {"weapon": True}})
    assert await _told(db, call["id"]) == [
        ["safety", "notes"],
        ["nature"],
        ["location", "district"],
        ["subject"],
        ["district"],
    ]


async def test_notes_no_key_decrypts_are_told_as_changed(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "first"}, 201)
    lost = DataCipher.from_setting(generate_key())
    row_id = uuid.UUID(call["id"])
    await db.execute(
        "UPDATE call SET notes = $1 WHERE id = $2",
        lost.encrypt("first", column=CALL_NOTES, row_id=row_id),
        row_id,
    )
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": "first"})
    assert await _told(db, call["id"]) == [["notes"]]


async def test_a_cads_newer_document_says_what_it_changed(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    incident = incident_id()
    created = await admin.ok("POST", "/v1/eido", document(incident, beat="D1"), 201)
    newer = document(incident, at=later(5), nature="MTLV", beat="D1", notes=["now armed"])
    await admin.ok("POST", "/v1/eido", newer)
    (changed,) = await _told(db, created["id"])
    assert changed[:1] == ["nature"]
    assert "notes" in changed
    assert "location" not in changed
    assert "district" not in changed


async def test_the_document_lists_what_may_change(admin: Api) -> None:
    document_ = (await admin.client.get("/openapi.json")).json()
    schemas = document_["components"]["schemas"]
    changed = schemas["WebhookCallUpdated"]["properties"]["changed"]
    items = next(s for s in changed["anyOf"] if s.get("type") == "array")["items"]
    assert items["enum"] == [
        "nature",
        "safety",
        "location",
        "district",
        "subject",
        "notes",
        "lead_left",
        "units",
    ]


async def test_the_units_on_a_call_hear_units_join_them_and_leave(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A crew on scene heard nothing of the reinforcements sent to it, nor of a unit beside
    it called away: each terminal hears unit.assigned and unit.released of its own unit
    alone (the field unit's check). call.updated `units` tells them all; the one leading
    the call leaving is told as lead_left, as before, and the last one leaving to no one."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    extra = await add_officer(admin, district="D1", call_sign="1A2")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    path = f"/v1/calls/{call['id']}"
    # The first dispatch: no unit was on the call to hear of the others.
    await admin.ok("POST", f"{path}/dispatch")
    assert await _heard(db, call["id"]) == []
    sent = {"responder_type": "officer", "responder_id": extra, "role": "backup"}
    body = {"units": [sent], "override_reason": "second unit for a large scene"}
    await admin.ok("POST", f"{path}/dispatch", body)
    assert await _heard(db, call["id"]) == [(["units"], {co, officer, extra})]
    [updated] = [
        json.loads(r["p"])
        for r in await db.fetch("SELECT payload::text AS p FROM event WHERE type = 'call.updated'")
    ]
    assert (updated["call_id"], updated["status"], updated["lead"]) == (
        call["id"],
        "dispatched",
        "mental_health",
    )
    # Its part changed, and it alone hears unit.assigned so: the others hear of it too.
    part = {"units": [{**sent, "role": "stabilize"}], "override_reason": "calm the scene"}
    await admin.ok("POST", f"{path}/dispatch", part)
    assert (await _heard(db, call["id"]))[1:] == [(["units"], {co, officer, extra})]
    # The officer is called away: the two left hear so, and read who stays.
    await admin.ok("PUT", f"/v1/officers/{extra}/status", {"status": "out_of_service"})
    assert (await _heard(db, call["id"]))[2:] == [(["units"], {co, officer})]
    # The co-responder leading it leaves: told as before, lead_left, to the officer.
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    assert (await _heard(db, call["id"]))[3:] == [(["lead_left"], {officer})]
    # The last one back in service: nobody is left to hear, nothing is told.
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    assert len(await _heard(db, call["id"])) == 4
