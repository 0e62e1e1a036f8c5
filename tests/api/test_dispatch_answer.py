"""The dispatch answer is rendered from what dispatch read and wrote, not read back: it must
say exactly what a read of the call says afterwards, and the events what the tables say."""

from __future__ import annotations

import asyncpg

from tests.helpers import Api, add_co_responder, add_officer, grid_districts

_SHOWN = ("status", "updated_at", "dispatched_at", "assignments", "dispatches", "recommendation")


async def test_each_dispatch_answers_what_a_read_of_the_call_shows_afterwards(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    first = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    after_first = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert {k: first[k] for k in _SHOWN} == {k: after_first[k] for k in _SHOWN}

    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    extra = await add_officer(admin, district="D1", call_sign="1A2")
    body = {
        "units": [
            {"responder_type": "officer", "responder_id": officer, "role": "backup"},
            {"responder_type": "officer", "responder_id": extra, "role": "backup"},
        ],
        "override_code": "closer_unit",
    }
    second = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", body)
    after_second = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert {k: second[k] for k in _SHOWN} == {k: after_second[k] for k in _SHOWN}
    assert len(second["dispatches"]) == 2
    assert len(second["assignments"]) == 4

    # Each unit.assigned event names every unit then on the call, the new ones included.
    on_call = await db.fetch(
        "SELECT e.units_on_call, ARRAY(SELECT a.responder_id FROM assignment a"
        " WHERE a.call_id = e.call_id AND a.assigned_at <= e.created_at"
        " AND (a.released_at IS NULL OR a.released_at > e.created_at)) AS expected"
        " FROM event e WHERE e.type = 'unit.assigned'"
    )
    assert len(on_call) == 4
    for row in on_call:
        assert sorted(row["units_on_call"]) == sorted(row["expected"])


async def test_each_assignment_names_the_dispatch_that_sent_it(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Which dispatch sent a unit was known only from `assigned_at` equal to the dispatch's
    `at`: an integrator reconciling a CAD's record had to match times."""
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    path = f"/v1/calls/{call['id']}/dispatch"
    first = await admin.ok("POST", path)
    extra = await add_officer(admin, district="D1", call_sign="1A2")
    units = [{"responder_type": "officer", "responder_id": extra, "role": "backup"}]
    second = await admin.ok("POST", path, {"units": units, "override_code": "closer_unit"})
    one, two = (d["id"] for d in second["dispatches"])
    assert [a["dispatch_id"] for a in first["assignments"]] == [one, one]
    sent = {a["responder_id"]: a["dispatch_id"] for a in second["assignments"]}
    assert sent == {**{a["responder_id"]: one for a in first["assignments"]}, extra: two}
    stored = await db.fetch("SELECT id, dispatch_id FROM assignment")
    assert {str(r["dispatch_id"]) for r in stored} == {one, two}
    assert len(stored) == 3
