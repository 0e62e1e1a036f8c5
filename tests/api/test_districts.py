from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest
from asyncpg.transaction import Transaction
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.repositories import districts as district_repo
from app.repositories.agencies import load_agency_context
from app.repositories.districts import BOUNDARIES_LOCK
from tests.helpers import (
    Api,
    add_co_responder,
    add_shift,
    add_unrostered_co_responder,
    grid_districts,
    owner_session,
    square,
    until_waiting_on_locks,
)


async def test_adjacency_is_symmetric_and_stored_once_per_pair(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    d1 = await admin.ok("GET", "/v1/districts/D1")
    d4 = await admin.ok("GET", "/v1/districts/D4")
    assert d1["adjacent"] == ["D2", "D3"]
    assert d4["adjacent"] == ["D2", "D3"]
    assert await db.fetchval("SELECT count(*) FROM district_adjacency") == 4


async def test_patch_adjacent_replaces_only_this_districts_pairs(admin: Api) -> None:
    await grid_districts(admin)
    await admin.ok("PATCH", "/v1/districts/D1", {"adjacent": ["D4"]})
    assert (await admin.ok("GET", "/v1/districts/D1"))["adjacent"] == ["D4"]
    assert (await admin.ok("GET", "/v1/districts/D2"))["adjacent"] == ["D4"]
    assert (await admin.ok("GET", "/v1/districts/D4"))["adjacent"] == ["D1", "D2", "D3"]


async def test_a_change_is_in_the_trail_field_by_field_from_and_to(admin: Api) -> None:
    """Who moved a boundary or dropped a neighbour changes where calls go: the trail named
    the district only (outside-in check)."""
    await grid_districts(admin)
    was = await admin.ok("GET", "/v1/districts/D1")
    moved = square(10.0, 10.0)
    await admin.ok(
        "PATCH", "/v1/districts/D1", {"name": "North", "adjacent": ["D4"], "boundary": moved}
    )
    await admin.ok("PATCH", "/v1/districts/D1", {"name": "North"})
    unchanged, entry = (await admin.ok("GET", "/v1/audit?action=district.update"))["items"]
    assert entry["resource_id"] == "D1"
    now = await admin.ok("GET", "/v1/districts/D1")
    assert entry["detail"]["changed"] == {
        "name": {"from": was["name"], "to": "North"},
        "adjacent": {"from": ["D2", "D3"], "to": ["D4"]},
        "boundary": {"from": was["boundary"], "to": now["boundary"]},
    }
    assert now["boundary"] != was["boundary"]
    assert unchanged["detail"]["changed"] == {}


async def test_two_changes_at_once_are_in_the_trail_one_after_the_other(admin: Api) -> None:
    """Each change reads the district once its row is locked: the later one's `from` is
    what the earlier one wrote (both recorded the original when they read it unlocked)."""
    await grid_districts(admin)
    was = (await admin.ok("GET", "/v1/districts/D1"))["name"]
    for round_ in range(4):
        names = [f"North {round_}a", f"North {round_}b"]
        await asyncio.gather(
            *(admin.ok("PATCH", "/v1/districts/D1", {"name": name}) for name in names)
        )
        items = (await admin.ok("GET", "/v1/audit?action=district.update"))["items"]
        later, earlier = (e["detail"]["changed"]["name"] for e in items[:2])
        assert earlier["from"] == was, round_
        assert later["from"] == earlier["to"], round_
        assert {earlier["to"], later["to"]} == set(names)
        was = later["to"]
        assert (await admin.ok("GET", "/v1/districts/D1"))["name"] == was


async def test_unknown_adjacent_code_is_422_and_writes_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    response = await admin.post("/v1/districts", {"code": "D9", "name": "x", "adjacent": ["NOPE"]})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "NOPE" in response.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM district") == 0


async def test_a_patch_with_null_for_what_cannot_be_empty_is_422_and_changes_nothing(
    admin: Api,
) -> None:
    """null for a name was taken for "left out": the client meant something, and got a
    200 that changed nothing. A boundary may be removed with null."""
    await grid_districts(admin)
    co = (await admin.ok("POST", "/v1/co-responders", _clinician(), 201))["id"]
    body = {"state_officer_id": "UT-1", "badge_number": "1", "name": "Officer One"}
    officer = (await admin.ok("POST", "/v1/officers", body, 201))["id"]
    for path, field in (
        ("/v1/districts/D1", "name"),
        ("/v1/districts/D1", "adjacent"),
        (f"/v1/officers/{officer}", "active"),
        (f"/v1/officers/{officer}", "name"),
        (f"/v1/co-responders/{co}", "specialties"),
    ):
        before = await admin.ok("GET", path)
        refused = await admin.patch(path, {field: None})
        assert refused.status_code == 422, (path, field)
        assert refused.json()["errors"][0]["loc"] == ["body", field]
        assert await admin.ok("GET", path) == before
    cleared = await admin.ok("PATCH", "/v1/districts/D1", {"boundary": None})
    assert cleared["boundary"] is None


def _clinician() -> dict[str, str]:
    return {"name": "Clinician", "kind": "mobile_crisis_team", "provider": "County MH"}


async def test_duplicate_code_is_409(admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "a"}, 201)
    response = await admin.post("/v1/districts", {"code": "D1", "name": "b"})
    assert response.status_code == 409
    assert response.json()["status"] == 409


async def test_a_code_that_differs_only_in_case_is_409_and_intake_says_which_is_meant(
    admin: Api, db: asyncpg.Connection
) -> None:
    # "d1" beside "D1": a CAD writing the code in the other case would send its call to an
    # empty district. Codes stay exact; a new one may not be another's in other letters.
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "a"}, 201)
    answers = await asyncio.gather(
        *(admin.post("/v1/districts", {"code": code, "name": "b"}) for code in ("d1", "d1"))
    )
    for response in answers:
        assert response.status_code == 409, response.text
        assert response.json()["detail"].startswith("district D1 already exists; a code that")
    # Two new ones at once, in two cases: one gets in.
    both = await asyncio.gather(
        *(admin.post("/v1/districts", {"code": code, "name": "c"}) for code in ("Q9", "q9"))
    )
    assert sorted(r.status_code for r in both) == [201, 409]
    assert await db.fetchval("SELECT count(*) FROM district") == 2
    await admin.ok("POST", "/v1/districts", {"code": "D1-A", "name": "d"}, 201)
    refused = await admin.post("/v1/calls", {"district": "d1"})
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "unknown district d1 (codes match exactly: did you mean D1?)"
    )
    # So do the queries naming a district: the calls list, the units board, an EIDO's.
    for path in ("/v1/calls?district=d1", "/v1/units?district=d1"):
        listed = await admin.get(path)
        assert listed.status_code == 422, path
        assert listed.json()["errors"][0]["msg"].endswith("(codes match exactly: did you mean D1?)")


async def test_the_roster_naming_a_district_in_another_case_is_told_the_code_meant(
    admin: Api,
) -> None:
    """A coordinator types "d1" in a shift, its also_covers, the shifts list or a new
    district's neighbours: the 422 names D1, as intake and the reports do. It said only
    "unknown district d1" (the coordinator's check)."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    hint = "(codes match exactly: did you mean {}?)"
    starts = datetime.now(UTC) + timedelta(days=2)
    shift = {
        "responder_type": "co_responder",
        "responder_id": co,
        "call_sign": "MCT-1",
        "district": "d1",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=8)).isoformat(),
    }

    async def refused(method: str, path: str, body: dict[str, Any] | None) -> str:
        answer = await admin.client.request(method, path, json=body, headers=admin.headers)
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["errors"]
        return str(error["msg"])

    assert await refused("POST", "/v1/shifts", shift) == f"unknown district d1 {hint.format('D1')}"
    bulk = {"shifts": [{**shift, "district": "D1", "also_covers": ["d2", "D9"]}]}
    assert await refused("POST", "/v1/shifts/bulk", bulk) == (
        f"unknown district(s) in also_covers: D9, d2 {hint.format('D2')}"
    )
    made = await admin.ok("POST", "/v1/shifts", {**shift, "district": "D1"}, 201)
    assert await refused("PATCH", f"/v1/shifts/{made['id']}", {"district": "d4"}) == (
        f"unknown district d4 {hint.format('D4')}"
    )
    assert await refused("GET", "/v1/shifts?district=d3", None) == (
        f"unknown district d3 {hint.format('D3')}"
    )
    neighbours = {"code": "D5", "name": "E", "adjacent": ["d4", "D3"]}
    assert await refused("POST", "/v1/districts", neighbours) == (
        f"unknown district(s) in adjacent: d4 {hint.format('D4')}"
    )


async def test_the_code_locate_is_refused_as_it_names_the_lookup(
    admin: Api, db: asyncpg.Connection
) -> None:
    response = await admin.post("/v1/districts", {"code": "locate", "name": "x"})
    assert response.status_code == 422
    assert "reserved" in response.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM district") == 0


async def test_locate_finds_the_district_containing_the_point(admin: Api) -> None:
    await grid_districts(admin)
    found = await admin.ok("GET", "/v1/districts/locate?lat=40.73&lon=-111.87")
    assert found["code"] == "D4"
    missing = await admin.get("/v1/districts/locate?lat=10&lon=10")
    assert missing.status_code == 404


async def test_self_intersecting_boundary_is_rejected(admin: Api) -> None:
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    response = await admin.post("/v1/districts", {"code": "D1", "name": "x", "boundary": bow_tie})
    assert response.status_code == 422


async def test_a_boundary_overlapping_another_districts_is_422_and_edges_may_touch(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A point inside two districts would place a call in one of them silently."""
    await grid_districts(admin)  # D1-D4: squares sharing edges
    over_d1 = square(40.78, -111.94, 0.02)  # inside D1
    refused = await admin.post("/v1/districts", {"code": "X", "name": "x", "boundary": over_d1})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "boundary"]
    assert "D1" in refused.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM district") == 4
    moved = await admin.patch("/v1/districts/D4", {"boundary": square(40.73, -111.92)})
    assert moved.status_code == 422
    assert (await admin.ok("GET", "/v1/districts/locate?lat=40.735&lon=-111.875"))["code"] == "D4"
    # Sharing an edge is not overlapping; a district may also redraw itself.
    beside = square(40.81, -111.95)  # north of D1, along its northern edge
    await admin.ok("POST", "/v1/districts", {"code": "N", "name": "n", "boundary": beside}, 201)
    await admin.ok("PATCH", "/v1/districts/D1", {"boundary": square(40.76, -111.95, 0.04)})


async def test_overlapping_boundaries_sent_at_the_same_moment_let_exactly_one_in(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Each check reads the boundaries committed so far: two requests at once must not each
    miss the other's. Five pairs, each drawing over the same place (a new district, or a
    new boundary for an existing one)."""
    for n in range(5):
        blank = {"code": f"P{n}", "name": "p"}
        await admin.ok("POST", "/v1/districts", blank, 201)
    answers = await asyncio.gather(
        *(
            asyncio.gather(
                admin.post(
                    "/v1/districts",
                    {"code": f"N{n}", "name": "n", "boundary": square(10 + n, 10, 0.5)},
                ),
                admin.patch(f"/v1/districts/P{n}", {"boundary": square(10.1 + n, 10.1, 0.5)}),
            )
            for n in range(5)
        )
    )
    for created, moved in answers:
        # The new district in (201) and the redraw refused, or the redraw in (200) and the
        # new district refused: never both.
        assert sorted((created.status_code, moved.status_code)) in ([200, 422], [201, 422])
    drawn = await db.fetch("SELECT code FROM district WHERE jsonb_typeof(boundary) = 'object'")
    assert len(drawn) == 5, [r["code"] for r in drawn]


async def _hold_boundaries(db: asyncpg.Connection, admin: Api) -> Transaction:
    """The agency's boundary lock, held by the test until it rolls the transaction back."""
    held = db.transaction()
    await held.start()
    await db.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", BOUNDARIES_LOCK, str(admin.agency_id)
    )
    return held


async def test_a_rename_waiting_for_the_boundary_lock_does_not_deadlock(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A change of name and boundary waits for the boundary lock holding nothing, so a
    boundary-only change of the same district ahead of it finishes (no deadlock, no 500)."""
    await grid_districts(admin)
    held = await _hold_boundaries(db, admin)
    first = asyncio.create_task(admin.patch("/v1/districts/D1", {"boundary": square(50, 50)}))
    await asyncio.sleep(0.3)
    second = asyncio.create_task(
        admin.patch("/v1/districts/D1", {"name": "North", "boundary": square(50.5, 50)})
    )
    await asyncio.sleep(0.3)
    await held.rollback()
    answers = [(await first).status_code, (await second).status_code]
    assert answers == [200, 200], answers
    d1 = await admin.ok("GET", "/v1/districts/D1")
    assert d1["name"] == "North"
    assert d1["boundary"] == square(50.5, 50)


async def test_a_district_deleted_while_its_change_waits_is_a_404(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The change reads the district again under its lock, after the boundary lock: gone by
    then, it is a 404, not the 500 of refreshing a deleted row (from the review)."""
    await grid_districts(admin)
    await admin.ok("POST", "/v1/districts", {"code": "D9", "name": "Spare"}, 201)
    held = await _hold_boundaries(db, admin)
    change = asyncio.create_task(admin.patch("/v1/districts/D9", {"boundary": square(50, 50)}))
    await asyncio.sleep(0.3)
    await admin.ok("DELETE", "/v1/districts/D9", status=204)
    await held.rollback()
    answer = await change
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


async def test_neighbours_changing_their_pairs_at_once_do_not_deadlock(admin: Api) -> None:
    """A district's row is locked as an UPDATE locks it (FOR NO KEY UPDATE): a pair written
    by its neighbour only key-shares it. FOR UPDATE made these two wait on each other."""
    await grid_districts(admin)
    for round_ in range(6):
        answers = await asyncio.gather(
            admin.patch("/v1/districts/D1", {"adjacent": ["D2", "D3"], "name": f"N{round_}"}),
            admin.patch("/v1/districts/D2", {"adjacent": ["D1", "D4"], "name": f"E{round_}"}),
        )
        assert [a.status_code for a in answers] == [200, 200], (round_, answers[0].text)


async def test_multipolygon_boundary_is_accepted(admin: Api) -> None:
    two = {
        "type": "MultiPolygon",
        "coordinates": [square(1, 1)["coordinates"], square(2, 2)["coordinates"]],
    }
    created = await admin.ok(
        "POST", "/v1/districts", {"code": "M", "name": "x", "boundary": two}, 201
    )
    assert created["boundary"]["type"] == "MultiPolygon"
    assert (await admin.ok("GET", "/v1/districts/locate?lat=2.02&lon=2.02"))["code"] == "M"


async def test_delete_district_in_use_by_a_shift_is_409_and_unused_one_is_deleted(
    admin: Api,
) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "busy"}, 201)
    await admin.ok("POST", "/v1/districts", {"code": "D2", "name": "idle"}, 201)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    refused = await admin.delete("/v1/districts/D1")
    assert refused.status_code == 409
    assert (await admin.get("/v1/districts/D1")).status_code == 200
    assert (await admin.delete("/v1/districts/D2")).status_code == 204
    assert (await admin.get("/v1/districts/D2")).status_code == 404


async def test_list_is_paginated_with_a_cursor(admin: Api) -> None:
    for n in range(5):
        await admin.ok("POST", "/v1/districts", {"code": f"D{n}", "name": "x"}, 201)
    first = await admin.ok("GET", "/v1/districts?limit=2")
    assert [d["code"] for d in first["items"]] == ["D0", "D1"]
    second = await admin.ok("GET", f"/v1/districts?limit=2&cursor={first['next_cursor']}")
    assert [d["code"] for d in second["items"]] == ["D2", "D3"]
    last = await admin.ok("GET", f"/v1/districts?limit=2&cursor={second['next_cursor']}")
    assert [d["code"] for d in last["items"]] == ["D4"]
    assert last["next_cursor"] is None


async def test_another_agencys_district_is_404(admin: Api, other_admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "mine"}, 201)
    assert (await other_admin.get("/v1/districts/D1")).status_code == 404
    assert (await other_admin.ok("GET", "/v1/districts"))["items"] == []
    assert (await other_admin.patch("/v1/districts/D1", {"name": "x"})).status_code == 404


async def test_a_district_put_in_use_while_it_is_deleted_is_409_and_kept(
    admin: Api, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shift committed in the district after the delete found none: its foreign key
    refused the delete, and the answer was a 500."""
    await grid_districts(admin)
    clinician = await add_unrostered_co_responder(admin, "Clinician")
    checked = district_repo.is_referenced

    async def put_in_use_after_checking(*args: Any, **kwargs: Any) -> bool:
        found = await checked(*args, **kwargs)
        now = datetime.now(UTC)
        await add_shift(
            admin,
            "co_responder",
            clinician,
            call_sign="MCT-4",
            district="D4",
            starts_at=now,
            ends_at=now + timedelta(hours=8),
        )
        return found

    monkeypatch.setattr(district_repo, "is_referenced", put_in_use_after_checking)
    refused = await admin.delete("/v1/districts/D4")
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == "district D4 has calls or shifts; it cannot be deleted"
    assert (await admin.ok("GET", "/v1/districts/D4"))["adjacent"] == ["D2", "D3"]
    assert await db.fetchval("SELECT count(*) FROM shift") == 1


async def test_a_neighbour_deleted_while_it_is_named_adjacent_is_409_and_writes_nothing(
    admin: Api, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another coordinator deletes the neighbour once the request has found it: the pair's
    foreign key refused it, and the answer was a 500."""
    await grid_districts(admin)
    for code in ("Z1", "Z2"):
        await admin.ok("POST", "/v1/districts", {"code": code, "name": code}, 201)
    read = district_repo.by_codes

    async def deleted_after_reading(*args: Any, **kwargs: Any) -> Any:
        found = await read(*args, **kwargs)
        await db.execute("DELETE FROM district WHERE code = ANY($1::text[])", list(found))
        return found

    monkeypatch.setattr(district_repo, "by_codes", deleted_after_reading)
    made = await admin.post("/v1/districts", {"code": "Y", "name": "Y", "adjacent": ["Z1"]})
    changed = await admin.patch("/v1/districts/D1", {"name": "Renamed", "adjacent": ["Z2"]})
    monkeypatch.undo()
    for refused in (made, changed):
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == (
            "the adjacent districts changed meanwhile: read them again, and retry"
        )
    assert (await admin.get("/v1/districts/Y")).status_code == 404
    d1 = await admin.ok("GET", "/v1/districts/D1")
    assert (d1["name"], d1["adjacent"]) == ("NW", ["D2", "D3"])


class _Meanwhile:
    """A connection or session that runs `then` once, after the first statement whose SQL
    holds `marker`: another request's change, committed between two statements."""

    def __init__(self, inner: Any, marker: str, then: Callable[[], Awaitable[None]]) -> None:
        self.inner, self.marker, self.then = inner, marker, then
        self.ran = False

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = await self.inner.execute(statement, *args, **kwargs)
        if not self.ran and self.marker in str(statement):
            self.ran = True
            await self.then()
        return result


async def test_a_district_made_during_a_context_load_is_in_it_whole_or_not_at_all(
    app: FastAPI, admin: Api
) -> None:
    """The load read the districts, then their pairs: a district made in between, with
    its pairs, was a KeyError, a 500 for every request that waited on the load."""
    await grid_districts(admin)

    async def made() -> None:
        body = {"code": "D5", "name": "New", "adjacent": ["D1", "D4"]}
        await admin.ok("POST", "/v1/districts", body, 201)

    state = app.state.cit
    async with state.unit_of_work(admin.agency_id, read_only=True) as work:
        conn = _Meanwhile(await work.connection(), "FROM district", made)
        loaded = await load_agency_context(cast(AsyncConnection, conn), admin.agency_id)
    assert conn.ran
    assert loaded is not None
    assert sorted(loaded.districts_by_code) == ["D1", "D2", "D3", "D4"]
    assert loaded.adjacency["D1"] == {"D2", "D3"}
    async with state.unit_of_work(admin.agency_id, read_only=True) as work:
        again = await load_agency_context(await work.connection(), admin.agency_id)
    assert again is not None
    assert again.adjacency["D5"] == {"D1", "D4"}
    assert again.adjacency["D1"] == {"D2", "D3", "D5"}


async def test_a_neighbour_deleted_while_districts_are_read_is_in_them_whole_or_not_at_all(
    app: FastAPI, admin: Api, db: asyncpg.Connection
) -> None:
    """The pairs were read, then their codes: a neighbour deleted in between was a
    KeyError, a 500 for GET /v1/districts."""
    await grid_districts(admin)

    async def deleted() -> None:
        await db.execute("DELETE FROM district WHERE code = 'D2'")

    async with owner_session(app.state.cit) as session:
        d1 = (await district_repo.by_codes(session, agency_id=admin.agency_id, codes=["D1"]))["D1"]
        read = _Meanwhile(session, "district_adjacency", deleted)
        codes = await district_repo.adjacent_codes(
            cast(AsyncSession, read), agency_id=admin.agency_id, district_ids=[d1.id]
        )
    assert read.ran
    assert codes == {d1.id: ["D2", "D3"]}
    assert (await admin.ok("GET", "/v1/districts/D1"))["adjacent"] == ["D3"]


async def test_a_call_moved_to_a_district_deleted_meanwhile_is_a_422_and_unchanged(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The PATCH checked the district against the agency's settings, and the delete
    committed before its update: the foreign key refused it, and the answer was a 500
    (from the code review). Intake already answered this race with a 422."""
    await grid_districts(admin)
    await admin.ok("POST", "/v1/districts", {"code": "D9", "name": "Empty"}, 201)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    deleting = db.transaction()
    await deleting.start()
    await db.execute("DELETE FROM district WHERE code = 'D9'")
    patch = asyncio.create_task(admin.patch(f"/v1/calls/{call['id']}", {"district": "D9"}))
    await asyncio.wait_for(until_waiting_on_locks(db, 1), 10)
    await deleting.commit()
    answer = await patch
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"] == ["body", "district"]
    assert "unknown district D9" in answer.text
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["district"] == "D1"
    assert len((await admin.ok("GET", f"/v1/calls/{call['id']}/recommendations"))["items"]) == 1
