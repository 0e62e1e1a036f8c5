"""The CAD is the system of record (SPEC §6.1 to §6.3): its units, its ids, its round trips."""

from __future__ import annotations

import asyncio
import json
import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from tests.helpers import Api, add_co_responder, add_officer, add_shift, grid_districts


async def _events(db: asyncpg.Connection, event_type: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT payload::text AS p FROM event WHERE type = $1 ORDER BY id", event_type
    )
    return [json.loads(r["p"]) for r in rows]


async def _unit(admin: Api, responder_id: str) -> dict[str, Any]:
    units = (await admin.ok("GET", "/v1/units"))["items"]
    [unit] = [u for u in units if u["responder_id"] == responder_id]
    found: dict[str, Any] = unit
    return found


async def test_a_unit_busy_on_the_cads_own_incident_is_shown_and_not_recommended(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    busy = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    free = await add_officer(admin, district="D1", call_sign="1A2", cit=True)
    path = f"/v1/officers/{busy}/status"

    reported = await admin.ok("PUT", path, {"status": "dispatched", "external_incident": "B-42"})
    assert reported["status"] == "dispatched"
    assert reported["active_call_id"] is None
    assert reported["external_incident"] == "B-42"
    assert (await admin.ok("PUT", path, {"status": "on_scene"}))["external_incident"] == "B-42"
    unit = await _unit(admin, busy)
    assert (unit["status"], unit["active_call_id"], unit["external_incident"]) == (
        "on_scene",
        None,
        "B-42",
    )
    # Without a cit-dispatch call, no lifecycle: the CAD's word stands, in any order.
    for status in ("en_route", "transporting"):
        assert (await admin.ok("PUT", path, {"status": status}))["status"] == status

    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    recommended = {u["responder_id"] for u in call["recommendation"]["units"]}
    assert busy not in recommended
    assert free in recommended
    refused = await admin.post(
        f"/v1/calls/{call['id']}/dispatch",
        {
            "units": [{"responder_type": "officer", "responder_id": busy, "role": "lead"}],
            "override_code": "closer_unit",
        },
    )
    assert refused.status_code == 409

    # Back in service: the CAD's incident is forgotten and the unit is eligible again.
    back = await admin.ok("PUT", path, {"status": "available"})
    assert back["external_incident"] is None
    assert (await _unit(admin, busy))["external_incident"] is None
    changes = [c for c in await _events(db, "unit.status_changed") if c["responder_id"] == busy]
    assert [(c["status"], c["external_incident"]) for c in changes] == [
        ("dispatched", "B-42"),
        ("on_scene", "B-42"),
        ("en_route", None),  # going back without naming one: a new incident, not B-42
        ("transporting", None),
        ("available", None),
    ]


async def test_a_new_incident_named_for_a_busy_unit_replaces_the_old_one(admin: Api) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    path = f"/v1/co-responders/{co}/status"
    await admin.ok("PUT", path, {"status": "en_route", "external_incident": "A-1"})
    assert (await admin.ok("PUT", path, {"status": "on_scene"}))["external_incident"] == "A-1"
    again = await admin.ok("PUT", path, {"status": "on_scene", "external_incident": "A-2"})
    assert again["external_incident"] == "A-2"
    assert (await _unit(admin, co))["external_incident"] == "A-2"


async def test_external_incident_is_refused_with_a_status_that_is_not_busy(admin: Api) -> None:
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1")
    path = f"/v1/officers/{officer}/status"
    for body in (
        {"status": "available", "external_incident": "B-1"},
        {"status": "out_of_service", "external_incident": "B-1"},
        {"status": "dispatched", "external_incident": "x" * 65},
        {"status": "dispatched", "external_incident": "   "},
    ):
        response = await admin.put(path, body)
        assert response.status_code == 422, body
    assert (await _unit(admin, officer))["status"] == "available"


async def test_the_lifecycle_still_holds_for_a_unit_on_a_cit_dispatch_call(admin: Api) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    path = f"/v1/co-responders/{co}/status"
    await admin.ok("PUT", path, {"status": "on_scene"})
    for earlier in ("dispatched", "en_route"):
        backwards = await admin.put(path, {"status": earlier})
        assert backwards.status_code == 409
        assert "back" in backwards.json()["detail"]
    unit = await _unit(admin, co)
    assert (unit["status"], unit["active_call_id"]) == ("on_scene", call["id"])
    # Its incident is the call: a CAD incident beside it is a 409 (the unit's state refuses
    # it, not the body's shape), and changes nothing.
    named = await admin.put(path, {"status": "transporting", "external_incident": "CAD-9"})
    assert named.status_code == 409
    assert f"this unit is on call {call['id']}" in named.json()["detail"]
    unit = await _unit(admin, co)
    assert (unit["status"], unit["external_incident"]) == ("on_scene", None)


async def test_a_call_is_found_by_the_cads_id(admin: Api, other_admin: Api) -> None:
    await grid_districts(admin)
    await grid_districts(other_admin)
    mine = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-7"}, 201)
    await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-8"}, 201)
    await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    theirs = {"district": "D1", "external_id": "CAD-9"}
    await other_admin.ok("POST", "/v1/calls", theirs, 201)

    found = await admin.ok("GET", "/v1/calls?external_id=CAD-7")
    assert [c["id"] for c in found["items"]] == [mine["id"]]
    assert found["next_cursor"] is None
    # Another agency's id is nobody's here; an unknown id finds nothing.
    assert (await admin.ok("GET", "/v1/calls?external_id=CAD-9"))["items"] == []
    assert (await admin.ok("GET", "/v1/calls?external_id=cad-7"))["items"] == []
    assert (await admin.get("/v1/calls?external_id=")).status_code == 422
    # As long as an external_id may be (an EIDO's incident id fits), and no longer.
    assert (await admin.get("/v1/calls", params={"external_id": "x" * 255})).status_code == 200
    assert (await admin.get("/v1/calls", params={"external_id": "x" * 256})).status_code == 422


async def test_a_taken_external_id_is_a_409_naming_the_call_that_has_it(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    first = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-1"}, 201)
    again = await admin.post("/v1/calls", {"district": "D2", "external_id": "CAD-1"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    problem = again.json()
    assert problem["call_id"] == first["id"]
    assert problem["type"].endswith("/call-exists")
    assert first["id"] in problem["detail"]
    assert await db.fetchval("SELECT count(*) FROM call") == 1
    # An id with a direction mark is named with it escaped: raw, it turned the sentence's
    # end around.
    marked = "CAD-\u202e2"
    await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": marked}, 201)
    taken = await admin.post("/v1/calls", {"district": "D1", "external_id": marked})
    assert taken.status_code == 409
    assert taken.json()["detail"].endswith("already has external_id CAD-\\u202e2")


async def test_lists_carry_what_a_cleared_call_became(admin: Api) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-3"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    clear = {"disposition": "resolved", "diverted_to": "crisis_center", "outcome": "referred"}
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", clear)
    untouched = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)

    listed = {c["id"]: c for c in (await admin.ok("GET", "/v1/calls"))["items"]}
    cleared = listed[call["id"]]
    assert cleared["status"] == "cleared"
    assert cleared["dispatched_at"] is not None
    assert cleared["cleared_at"] is not None
    assert (cleared["disposition"], cleared["diverted_to"], cleared["outcome"]) == (
        "resolved",
        "crisis_center",
        "referred",
    )
    [assignment] = cleared["assignments"]
    assert (assignment["responder_id"], assignment["role"]) == (co, "lead")
    assert assignment["released_at"] is not None
    assert [d["dispatched_lead"] for d in cleared["dispatches"]] == ["mental_health"]
    assert "notes" not in cleared
    assert listed[untouched["id"]]["assignments"] == []
    # The same call read alone says the same.
    alone = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert alone["assignments"] == cleared["assignments"]
    by_cad = await admin.ok("GET", "/v1/calls?external_id=CAD-3&status=cleared")
    assert by_cad["items"] == [cleared]


async def test_an_unknown_query_parameter_is_a_422_naming_it_on_every_v1_route(
    admin: Api,
) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    misspelt = await admin.get("/v1/calls", params={"extrnal_id": "CAD-1"})
    assert misspelt.status_code == 422
    assert misspelt.json()["errors"][0]["loc"] == ["query", "extrnal_id"]
    assert "extrnal_id" in misspelt.json()["detail"]
    # Every /v1 route, with its own parameters filled in, refuses a stranger among them;
    # and a known parameter still passes.
    params = {"call_id": call["id"], "code": "D1"}
    officer = await add_officer(admin, district="D1", call_sign="1A1")
    unit = await admin.with_role("unit", uuid.UUID(officer))
    checked = 0
    document = (await admin.client.get("/openapi.json")).json()
    for template, operations in document["paths"].items():
        if not template.startswith("/v1"):
            continue
        path = template
        for name, value in params.items():
            path = path.replace("{" + name + "}", value)
        path = re.sub(r"\{[a-z_]+\}", str(uuid.uuid4()), path)
        for method in operations:
            caller = unit if template == "/v1/units/me" else admin
            response = await caller.client.request(
                method, path, params={"bogus": "1"}, headers=caller.headers, json={}
            )
            assert response.status_code == 422, (method, template, response.text)
            assert ["query", "bogus"] in [e["loc"] for e in response.json()["errors"]]
            checked += 1
    assert checked > 40
    assert (await admin.get("/v1/calls", params={"status": "pending"})).status_code == 200
    assert (await admin.get("/v1/calls", params={"limit": "1"})).status_code == 200


async def test_a_cad_number_in_a_calls_path_is_told_how_to_find_the_call_by_it(
    admin: Api,
) -> None:
    """`GET /v1/calls/CAD-101` was told "Input should be a valid UUID, invalid group
    count…", and not that the CAD's number finds the call through ?external_id=."""
    await grid_districts(admin)
    await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-101"}, 201)
    hint = (
        "A call is named by its id in the path; to find one by the CAD's number (its"
        " external_id), use GET /v1/calls?external_id= followed by that number"
    )
    for method, path in [
        ("GET", "/v1/calls/CAD-101"),
        ("PATCH", "/v1/calls/CAD-101"),
        ("POST", "/v1/calls/CAD-101/dispatch"),
        ("POST", "/v1/calls/CAD-101/clear"),
        ("GET", "/v1/calls/CAD-101/eido"),
    ]:
        refused = await admin.client.request(method, path, headers=admin.headers, json={})
        assert refused.status_code == 422, (method, path, refused.text)
        error = refused.json()["errors"][0]
        assert error["loc"] == ["path", "call_id"]
        assert error["msg"].startswith("Input should be a valid UUID")
        assert error["msg"].endswith(f". {hint}"), (method, path, refused.json()["errors"])
    # And the way it gives finds the call.
    found = await admin.ok("GET", "/v1/calls?external_id=CAD-101")
    assert [c["external_id"] for c in found["items"]] == ["CAD-101"]
    # Another kind of id in a path is told no such thing.
    officer = await admin.get("/v1/officers/CAD-101")
    assert officer.status_code == 422
    assert "external_id" not in officer.json()["detail"]


async def test_a_misspelt_query_parameter_is_told_the_one_it_may_mean(admin: Api) -> None:
    """`?distrct=D1` was told the names the route takes and no guess, where a body's
    misspelt field is told the one it may mean (the same helper, unknown_field's)."""
    misspelt = await admin.get("/v1/units", params={"distrct": "D1"})
    assert misspelt.status_code == 422
    assert misspelt.json()["errors"][0]["msg"] == (
        "Unknown query parameter; this route takes district; did you mean district?"
    )
    # A name near none of them is told no guess.
    stranger = await admin.get("/v1/units", params={"colour": "red"})
    assert stranger.json()["errors"][0]["msg"] == (
        "Unknown query parameter; this route takes district"
    )


async def test_a_name_the_client_chose_in_a_422s_detail_has_its_invisible_characters_escaped(
    admin: Api,
) -> None:
    """An unknown query parameter's or body field's name holding a right-to-left override
    (U+202E) was put raw in the 422's detail, turning the rest of the sentence around (the
    parameters the route takes), as 75823af found of a CAD incident in a 409. The detail
    escapes it; errors[].loc keeps the name as sent (cut, controls replaced), for a client
    to match with its own."""
    await grid_districts(admin)
    misspelt = await admin.get("/v1/calls", params={"dis\u202etrict": "D1"})
    assert misspelt.status_code == 422
    assert misspelt.json()["detail"].startswith(
        "query.dis\\u202etrict: Unknown query parameter; this route takes"
    )
    assert misspelt.json()["errors"][0]["loc"] == ["query", "dis\u202etrict"]
    # The six characters of the escape, typed, read apart from the mark: the backslash is
    # doubled.
    typed = await admin.get("/v1/calls", params={"dis\\u202etrict": "D1"})
    assert typed.json()["detail"].startswith("query.dis\\\\u202etrict: Unknown query parameter")
    assert typed.json()["errors"][0]["loc"] == ["query", "dis\\u202etrict"]
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    patched = await admin.patch(f"/v1/calls/{call['id']}", {"no\u200btes": "x"})
    assert patched.status_code == 422
    assert patched.json()["detail"].startswith("body.no\\u200btes: Unknown field")


async def test_a_parameter_that_takes_one_value_given_twice_is_a_422_naming_it(
    admin: Api, client: httpx.AsyncClient
) -> None:
    """`?district=D1&district=D4` read as D4 alone would mislead as a misspelt filter does."""
    await grid_districts(admin)
    for path in ("/v1/units", "/v1/coverage", "/v1/calls"):
        twice = await admin.get(f"{path}?district=D1&district=D4")
        assert twice.status_code == 422, (path, twice.text)
        assert [e["loc"] for e in twice.json()["errors"]] == [["query", "district"]]
    # A list parameter may repeat (the feed's types); the ticket beside it may not.
    # Two well-formed tickets, so that only their count is wrong.
    a, b = "cst_" + "a" * 43, "cst_" + "b" * 43
    feed = f"/v1/stream?types=call.created&types=unit.assigned&ticket={a}&ticket={b}"
    refused = await client.get(feed)
    assert refused.status_code == 422, refused.text
    assert [e["loc"] for e in refused.json()["errors"]] == [["query", "ticket"]]


async def test_an_unknown_query_parameter_does_not_come_before_authentication(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/calls", params={"bogus": "1"})
    assert response.status_code == 401


async def test_the_policy_read_changed_and_written_back_as_it_came(admin: Api) -> None:
    before = await admin.ok("GET", "/v1/policy")
    changed = {**before, "speed_kmh": before["speed_kmh"] + 10}
    after = await admin.ok("PUT", "/v1/policy", changed)
    assert after["speed_kmh"] == before["speed_kmh"] + 10
    # The server's fields are its own: the version moves on, created_at is the new one's.
    assert after["version"] == before["version"] + 1
    assert after["created_at"] >= before["created_at"]
    assert {k: v for k, v in after.items() if k not in ("version", "created_at", "speed_kmh")} == {
        k: v for k, v in before.items() if k not in ("version", "created_at", "speed_kmh")
    }
    # Ignored whatever they hold (SPEC §6.3): a text, a negative, a time that is none.
    odd = {**after, "version": "abc", "created_at": 5}
    assert (await admin.ok("PUT", "/v1/policy", odd))["version"] == after["version"] + 1
    odd = {**after, "version": -5, "created_at": "x"}
    after = await admin.ok("PUT", "/v1/policy", odd)
    # But still JSON: NaN is no JSON number, here as anywhere.
    nan = json.dumps({**after, "version": float("nan")})
    refused = await admin.client.put(
        "/v1/policy", content=nan, headers={**admin.headers, "content-type": "application/json"}
    )
    assert refused.status_code == 422
    assert after["version"] == before["version"] + 3
    # A negative zero is 0, as it is kept and answered.
    after = await admin.ok("PUT", "/v1/policy", {**after, "cit_share_target_pct": -0.0})
    assert math.copysign(1, after["cit_share_target_pct"]) == 1.0
    assert '"cit_share_target_pct":-0' not in (await admin.get("/v1/policy")).text.replace(" ", "")
    # Any other field the server does not know is still refused.
    stranger = await admin.put("/v1/policy", {**after, "speed_limit": 3})
    assert stranger.status_code == 422
    assert (await admin.ok("GET", "/v1/policy"))["version"] == after["version"]


async def test_two_consoles_writing_back_one_version_of_the_policy_lose_no_change_unseen(
    admin: Api,
) -> None:
    """Two consoles read version N and each changed one field: with no ETag and If-Match
    ignored, the second PUT put back the first one's field as it was read, unseen (an
    outside-in check). With If-Match the second is a 412 and changes nothing."""
    read = await admin.get("/v1/policy")
    tag = read.headers["ETag"]
    first = {**read.json(), "speed_kmh": read.json()["speed_kmh"] + 15}
    second = {**read.json(), "coverage_alert_days": 10}
    written = await admin.put("/v1/policy", first, headers={"If-Match": tag})
    assert written.status_code == 200, written.text
    assert written.headers["ETag"] == f'"{written.json()["version"]}"' != tag
    stale = await admin.put("/v1/policy", second, headers={"If-Match": tag})
    assert stale.status_code == 412, stale.text
    assert stale.headers["content-type"] == "application/problem+json"
    assert written.headers["ETag"] in stale.json()["detail"]
    now = await admin.get("/v1/policy")
    assert now.headers["ETag"] == written.headers["ETag"]
    assert now.json()["speed_kmh"] == first["speed_kmh"]
    # Read again, the second console's change goes in over the first's.
    again = {**now.json(), "coverage_alert_days": 10}
    for listed in ("{}", 'W/"0", {}', "*"):
        match = listed.format(now.headers["ETag"])
        done = await admin.put("/v1/policy", again, headers={"If-Match": match})
        assert done.status_code == 200, (match, done.text)
        again, now = done.json(), done
    # A weak tag, or none that parses, is no match.
    for refused in (f"W/{now.headers['ETag']}", "3", '"x"'):
        response = await admin.put("/v1/policy", again, headers={"If-Match": refused})
        assert response.status_code == 412, (refused, response.text)
    assert (await admin.ok("GET", "/v1/policy"))["version"] == now.json()["version"]


async def test_two_write_backs_of_one_version_at_once_give_a_200_and_a_412(admin: Api) -> None:
    """At once, the second PUT read the same version and failed on its unique version
    number: a 409 that did not say the If-Match no longer held (the review)."""
    read = await admin.get("/v1/policy")
    tag, body = read.headers["ETag"], read.json()
    answers = await asyncio.gather(
        *(
            admin.put("/v1/policy", {**body, "speed_kmh": speed}, headers={"If-Match": tag})
            for speed in (41.0, 42.0, 43.0)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 412, 412], [a.text for a in answers]
    [won] = [a.json() for a in answers if a.status_code == 200]
    assert (await admin.ok("GET", "/v1/policy"))["version"] == won["version"] == body["version"] + 1


async def test_a_policy_change_is_in_the_trail_field_by_field(admin: Api) -> None:
    """The version a PUT replaced is read nowhere else: the trail keeps what changed, so
    an advisory council can see who changed which safety flags lead, and when."""
    before = await admin.ok("GET", "/v1/policy")
    flags = sorted(set(before["safety_flags"]) ^ {"crime_in_progress"})
    body = {**before, "safety_flags": flags, "adjacency_depth": 2}
    after = await admin.ok("PUT", "/v1/policy", body)
    await admin.ok("PUT", "/v1/policy", after)  # the same again: a version, no change
    unchanged, entry = (await admin.ok("GET", "/v1/audit?action=policy.update"))["items"]
    assert entry["resource_id"] == str(after["version"])
    assert entry["detail"]["changed"] == {
        "safety_flags": {"from": before["safety_flags"], "to": flags},
        "adjacency_depth": {"from": before["adjacency_depth"], "to": 2},
    }
    assert unchanged["detail"]["changed"] == {}


async def test_the_policy_a_recommendation_names_can_be_read_as_it_stood(
    admin: Api, other_admin: Api
) -> None:
    """A recommendation names its policy_version; a coordinator asking why it recommended
    what it did reads that version, though the policy has changed since."""
    await grid_districts(admin)
    first = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    was = await admin.ok("GET", "/v1/policy")
    assert first["recommendation"]["policy_version"] == was["version"]
    now = await admin.ok("PUT", "/v1/policy", {**was, "adjacency_depth": 3})
    viewer = await admin.with_role("viewer")
    old = await viewer.ok("GET", f"/v1/policy/versions/{was['version']}")
    assert old == was
    assert await viewer.ok("GET", f"/v1/policy/versions/{now['version']}") == now
    # A version never made, another agency's, or no version number at all.
    for version, status in (
        (now["version"] + 1, 404),
        (0, 422),
        (2**31, 422),
        ("latest", 422),
    ):
        missing = await viewer.get(f"/v1/policy/versions/{version}")
        assert missing.status_code == status, missing.text
        assert missing.headers["content-type"] == "application/problem+json"
    # The other agency has a first version of its own, and no second.
    theirs = await other_admin.ok("GET", f"/v1/policy/versions/{was['version']}")
    assert theirs["created_at"] != was["created_at"]
    assert (await other_admin.get(f"/v1/policy/versions/{now['version']}")).status_code == 404
    officer = await add_officer(admin, district="D1", call_sign="9")
    unit = await admin.with_role("unit", uuid.UUID(officer))
    assert (await unit.get(f"/v1/policy/versions/{was['version']}")).status_code == 403


async def test_unit_assigned_carries_the_call_sign_of_the_units_shift_now(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    now = datetime.now(UTC)
    # Yesterday the officer worked as 1B7, and is rostered as 1C2 tomorrow.
    for sign, start in (("1B7", now - timedelta(hours=30)), ("1C2", now + timedelta(hours=20))):
        await add_shift(
            admin,
            "officer",
            officer,
            call_sign=sign,
            district="D1",
            starts_at=start,
            ends_at=start + timedelta(hours=8),
        )
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    assigned = await _events(db, "unit.assigned")
    assert {(e["responder_id"], e["call_sign"]) for e in assigned} == {
        (co, "MCT-1"),
        (officer, "1A1"),
    }
