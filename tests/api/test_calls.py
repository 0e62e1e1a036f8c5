"""Each routing rule, end to end: POST /v1/calls on real PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx

from tests.helpers import (
    Api,
    add_co_responder,
    add_officer,
    add_shift,
    certify,
    grid_districts,
)

# A point inside D1 (north-west cell of the grid).
D1_POINT = {"lat": 40.785, "lon": -111.925}


def _rules(call: dict[str, Any]) -> set[str]:
    return {r["rule"] for r in call["recommendation"]["reasons"]}


def _codes(call: dict[str, Any]) -> set[str]:
    return {w["code"] for w in call["recommendation"]["warnings"]}


def _roles(call: dict[str, Any]) -> dict[str, str]:
    return {u["call_sign"]: u["role"] for u in call["recommendation"]["units"]}


async def test_no_safety_concern_mental_health_leads_with_cit_backup(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1", location=(40.78, -111.93))
    await add_officer(admin, district="D1", call_sign="1A1", cit=True, location=(40.79, -111.92))
    await add_officer(admin, district="D1", call_sign="1A2", location=(40.785, -111.925))
    call = await admin.ok(
        "POST", "/v1/calls", {"district": "D1", "nature": "MNTL", "location": D1_POINT}, 201
    )
    rec = call["recommendation"]
    assert call["status"] == "pending"
    assert rec["lead"] == "mental_health"
    assert rec["safety_concern"] is False
    assert _roles(call) == {"MCT-1": "lead", "1A1": "backup"}
    assert "mh_lead" in _rules(call)
    assert rec["policy_version"] == 1
    lead = rec["units"][0]
    assert lead["eta_minutes"] is not None
    assert lead["distance_km"] is not None


async def test_weapon_flag_makes_cit_officer_lead_even_if_non_cit_is_closer(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True, location=(40.80, -111.94))
    await add_officer(admin, district="D1", call_sign="1A2", location=(40.785, -111.925))
    call = await admin.ok(
        "POST",
        "/v1/calls",
        {"district": "D1", "location": D1_POINT, "safety": {"weapon": True}},
        201,
    )
    rec = call["recommendation"]
    assert rec["lead"] == "law_enforcement"
    assert rec["safety_concern"] is True
    assert _roles(call)["1A1"] == "lead"
    assert _roles(call)["MCT-1"] == "support"
    assert {"safety_flagged", "le_lead", "cit_scene_lead"} <= _rules(call)


async def test_nature_code_maps_to_safety_flag_case_insensitively(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "mtlv"}, 201)
    assert call["recommendation"]["lead"] == "law_enforcement"
    assert "safety_flagged" in _rules(call)


async def test_no_cit_in_district_takes_adjacent_cit_with_in_district_stabilizer(
    admin: Api,
) -> None:
    await grid_districts(admin)
    await add_officer(admin, district="D2", call_sign="2A1", cit=True)
    await add_officer(admin, district="D4", call_sign="4A1", trainings=["mh_awareness"])
    await add_officer(admin, district="D4", call_sign="4A2", trainings=["de_escalation"])
    call = await admin.ok(
        "POST", "/v1/calls", {"district": "D4", "safety": {"violence": True}}, 201
    )
    assert _roles(call) == {"2A1": "lead", "4A2": "stabilize"}
    assert {
        "no_cit_in_district",
        "cit_from_adjacent_district",
        "no_co_responder_available",
    } <= _codes(call)
    assert "cit_adjacent" in _rules(call)
    assert "mh_phone_consult" in call["recommendation"]["requests"]


async def test_no_cit_in_reach_falls_back_to_de_escalation_trained_officer(admin: Api) -> None:
    await grid_districts(admin)
    await add_officer(admin, district="D4", call_sign="4A1")
    await add_officer(admin, district="D4", call_sign="4A2", trainings=["de_escalation"])
    await add_co_responder(admin, district="D4", call_sign="MCT-4")
    call = await admin.ok(
        "POST", "/v1/calls", {"district": "D4", "safety": {"threat_to_others": True}}, 201
    )
    assert _roles(call)["4A2"] == "lead"
    assert "no_cit_available" in _codes(call)
    assert "cit_when_available" in call["recommendation"]["requests"]
    assert "no_cit" in _rules(call)


async def test_no_co_responder_means_cit_officer_leads_with_phone_consult(admin: Api) -> None:
    await grid_districts(admin)
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "SUICTHRT"}, 201)
    rec = call["recommendation"]
    assert rec["lead"] == "law_enforcement"
    assert _roles(call) == {"1A1": "lead"}
    assert "no_co_responder_available" in _codes(call)
    assert "mh_phone_consult" in rec["requests"]
    assert "no_co_responder" in _rules(call)


async def test_medical_emergency_requests_ems_without_making_police_lead(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    call = await admin.ok(
        "POST", "/v1/calls", {"district": "D1", "safety": {"medical_emergency": True}}, 201
    )
    assert call["recommendation"]["lead"] == "mental_health"
    assert "ems" in call["recommendation"]["requests"]
    assert "medical" in _rules(call)


async def test_no_units_at_all_still_returns_a_recommendation(admin: Api) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D3"}, 201)
    rec = call["recommendation"]
    assert rec["units"] == []
    assert "no_units_available" in _codes(call)
    assert "no_units" in _rules(call)


async def test_youth_specialist_ranks_first_for_a_minor(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-A", location=(40.785, -111.925))
    await add_co_responder(
        admin, district="D1", call_sign="MCT-Y", specialties=["youth"], location=(40.80, -111.94)
    )
    adult = await admin.ok("POST", "/v1/calls", {"district": "D1", "location": D1_POINT}, 201)
    minor = await admin.ok(
        "POST", "/v1/calls", {"district": "D1", "location": D1_POINT, "subject": {"age": 15}}, 201
    )
    assert _roles(adult)["MCT-A"] == "lead"
    assert _roles(minor)["MCT-Y"] == "lead"


async def test_location_only_call_is_placed_by_district_boundary(admin: Api) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"location": {"lat": 40.73, "lon": -111.87}}, 201)
    assert call["district"] == "D4"


async def test_an_address_alone_is_kept_but_only_a_district_places_the_call(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await add_officer(admin, district="D1", call_sign="CIT-1", cit=True, location=(40.78, -111.92))
    where = {"address": "12 Main St"}
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "location": where}, 201)
    assert call["location"] == {"lat": None, "lon": None, "address": "12 Main St"}
    # The CIT officer is recommended, with no ETA: an address is not a place to measure from.
    [unit] = call["recommendation"]["units"]
    assert (unit["call_sign"], unit["eta_minutes"], unit["distance_km"]) == ("CIT-1", None, None)
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert read["location"] == call["location"]

    unplaced = await admin.post("/v1/calls", {"location": where})
    assert unplaced.status_code == 422
    assert "an address alone does not place the call" in unplaced.json()["detail"]
    for half in ({"lat": 40.78}, {"lon": -111.9, "address": "12 Main St"}, {}, {"address": " "}):
        refused = await admin.post("/v1/calls", {"district": "D1", "location": half})
        assert refused.status_code == 422, half
    assert await db.fetchval("SELECT count(*) FROM call") == 1

    # A PATCH with an address alone keeps the district the call has.
    patched = await admin.ok(
        "PATCH", f"/v1/calls/{call['id']}", {"location": {"address": "40 State St"}}
    )
    assert patched["district"] == "D1"
    assert patched["location"]["address"] == "40 State St"


async def test_unavailable_or_off_shift_units_are_never_recommended(admin: Api) -> None:
    await grid_districts(admin)
    busy = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    await admin.ok("PUT", f"/v1/officers/{busy}/status", {"status": "out_of_service"})
    await add_officer(admin, district="D1", call_sign="1A2")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    assert _roles(call) == {"1A2": "lead"}
    assert "no_cit_available" in _codes(call)


async def test_a_received_at_ahead_of_the_clock_is_refused_beyond_a_little_skew(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    ahead = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    refused = await admin.post("/v1/calls", {"district": "D1", "received_at": ahead})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "received_at"]
    assert await db.fetchval("SELECT count(*) FROM call") == 0
    # A CAD's clock a little ahead: taken as received at intake, not after it (the
    # outcome report's minutes to dispatch read -4.0: from the outside-in check).
    skewed = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    taken = await admin.ok("POST", "/v1/calls", {"district": "D1", "received_at": skewed}, 201)
    assert taken["received_at"] == taken["created_at"]
    await admin.ok("POST", f"/v1/calls/{taken['id']}/dispatch")
    await admin.ok("POST", f"/v1/calls/{taken['id']}/clear", {"disposition": "resolved"})
    report = await admin.ok("GET", "/v1/reports/outcomes?district=D1")
    assert report["groups"][0]["calls"] == 1
    assert report["groups"][0]["minutes_to_dispatch"]["p50"] >= 0


async def test_a_time_sent_in_any_zone_is_answered_in_utc_by_the_create_as_by_a_read(
    admin: Api,
) -> None:
    """A CAD sends local times; an integrator comparing the create's answer with a later
    read (or deduplicating on them) must find one value, not two spellings of it."""
    await grid_districts(admin)
    denver = timezone(timedelta(hours=-7))
    sent = (datetime.now(denver) - timedelta(minutes=5)).replace(microsecond=0)
    call = await admin.ok(
        "POST", "/v1/calls", {"district": "D1", "received_at": sent.isoformat()}, 201
    )
    assert call["received_at"] == sent.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["received_at"] == call["received_at"]
    officer = await add_officer(admin, district="D2", call_sign="2A9")
    kolkata = timezone(timedelta(hours=5, minutes=30))
    starts = (datetime.now(kolkata) + timedelta(days=3)).replace(microsecond=0)
    shift = await admin.ok(
        "POST",
        "/v1/shifts",
        {
            "responder_type": "officer",
            "responder_id": officer,
            "call_sign": "2A9",
            "district": "D2",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=8)).isoformat(),
        },
        201,
    )
    assert shift["starts_at"] == starts.astimezone(UTC).isoformat().replace("+00:00", "Z")
    [read] = [s for s in (await admin.ok("GET", "/v1/shifts"))["items"] if s["id"] == shift["id"]]
    assert (read["starts_at"], read["ends_at"]) == (shift["starts_at"], shift["ends_at"])


async def test_patch_merges_safety_and_keeps_recommendation_history(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok(
        "POST", "/v1/calls", {"district": "D1", "safety": {"medical_emergency": True}}, 201
    )
    assert call["recommendation"]["lead"] == "mental_health"
    patched = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": True}})
    assert patched["safety"]["weapon"] is True
    assert patched["safety"]["medical_emergency"] is True
    assert patched["recommendation"]["lead"] == "law_enforcement"
    history = await admin.ok("GET", f"/v1/calls/{call['id']}/recommendations")
    assert [r["lead"] for r in history["items"]] == ["mental_health", "law_enforcement"]
    assert history["items"][1]["id"] == patched["recommendation"]["id"]


async def test_patch_leaves_a_field_sent_as_null_as_it_was(admin: Api) -> None:
    """CAD systems often send every field: null means no change (docs/api.md). The subject
    is replaced whole, so an age sent as null is gone."""
    await grid_districts(admin)
    place = {"lat": 40.005, "lon": -75.005, "address": "1 Main St"}
    call = await admin.ok(
        "POST",
        "/v1/calls",
        {
            "district": "D1",
            "location": place,
            "nature": "MNTL",
            "notes": "caller is the sister",
            "safety": {"weapon": True},
            "subject": {"age": 15},
        },
        201,
    )
    nulls = {"nature": None, "notes": None, "location": None, "district": None, "safety": None}
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {**nulls, "subject": {"age": None}})
    after = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert after["nature"] == "MNTL"
    assert after["notes"] == "caller is the sister"
    assert after["location"] == place
    assert after["district"] == "D1"
    assert after["safety"]["weapon"] is True
    assert after["subject"] == {}


async def test_two_consoles_patching_one_call_with_if_match_lose_no_change_unseen(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Two consoles read the call; one writes the notes, the other, still showing the old
    notes, writes them back with its own line added: the first one's words were gone,
    unseen (noticed in the last notes). With the ETag read sent back as If-Match, the
    second is a 412 that changes nothing, and the call read again can be changed."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "caller: mother"}, 201)
    path = f"/v1/calls/{call['id']}"
    read = await admin.get(path)
    tag = read.headers["ETag"]
    assert re.fullmatch(r'"[A-Za-z0-9_-]{24}"', tag)
    assert (await admin.get(path)).headers["ETag"] == tag  # the same call, the same tag
    first = {"notes": "caller: mother; subject has a knife", "subject": {"age": 40}}
    written = await admin.client.patch(path, json=first, headers={**admin.headers, "If-Match": tag})
    assert written.status_code == 200, written.text
    assert written.headers["ETag"] != tag
    # The answer's tag is the call's as a read shows it (the subject read back from jsonb).
    assert (await admin.get(path)).headers["ETag"] == written.headers["ETag"]
    recommendations = await db.fetchval("SELECT count(*) FROM recommendation")
    second = {"notes": "caller: mother; she is on her way"}
    stale = await admin.client.patch(path, json=second, headers={**admin.headers, "If-Match": tag})
    assert stale.status_code == 412, stale.text
    assert stale.headers["content-type"] == "application/problem+json"
    assert written.headers["ETag"] in stale.json()["detail"]
    now = await admin.get(path)
    assert now.json()["notes"] == first["notes"]
    assert await db.fetchval("SELECT count(*) FROM recommendation") == recommendations
    # Read again, the second console's change goes in; "*" and a list holding it match too.
    for match in ("{}", 'W/"x", {}', "*"):
        current = (await admin.get(path)).headers["ETag"]
        again = await admin.client.patch(
            path,
            json={"notes": f"{first['notes']}; {match}"},
            headers={**admin.headers, "If-Match": match.format(current)},
        )
        assert again.status_code == 200, (match, again.text)
    # A weak tag never matches (RFC 9110 §13.1.1), nor a malformed one.
    current = (await admin.get(path)).headers["ETag"]
    for match in (f"W/{current}", current.strip('"'), ""):
        refused = await admin.client.patch(
            path, json={"notes": "x"}, headers={**admin.headers, "If-Match": match}
        )
        assert refused.status_code == 412, match
        # Said as a tag that never matches, not as a change (the tag quoted was the one
        # sent, unquoted, and a console retried it forever: outside-in check).
        assert "no strong entity tag" in refused.json()["detail"], match
    # What the call shows changing elsewhere changes its tag: a dispatch, a unit's arrival.
    await admin.ok("POST", f"{path}/dispatch")
    dispatched = (await admin.get(path)).headers["ETag"]
    assert dispatched != current
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "on_scene"})
    assert (await admin.get(path)).headers["ETag"] != dispatched


async def test_a_patch_of_a_cleared_call_is_its_409_whatever_if_match_says(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A stale If-Match on a cleared call was a 412 telling the console to read the call
    again and write it back, and that write was the 409 of a cleared call (outside-in
    check): no write could change it, so the 409 comes first (RFC 9110 §13.2.1), for a tag
    stale, current, weak or malformed alike; and no call is a 404, not a 412."""
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    path = f"/v1/calls/{call['id']}"
    read = (await admin.get(path)).headers["ETag"]
    await admin.ok("POST", f"{path}/clear", {"disposition": "resolved"})
    current = (await admin.get(path)).headers["ETag"]
    assert current != read
    recommendations = await db.fetchval("SELECT count(*) FROM recommendation")
    for match in (read, current, "*", f"W/{current}", current.strip('"')):
        refused = await admin.client.patch(
            path, json={"notes": "x"}, headers={**admin.headers, "If-Match": match}
        )
        assert refused.status_code == 409, (match, refused.text)
        assert refused.json()["detail"] == "the call is cleared; it can no longer be changed"
    assert await db.fetchval("SELECT count(*) FROM recommendation") == recommendations
    assert (await admin.get(path)).headers["ETag"] == current
    missing = await admin.client.patch(
        f"/v1/calls/{uuid.uuid4()}",
        json={"notes": "x"},
        headers={**admin.headers, "If-Match": 'W/"x"'},
    )
    assert missing.status_code == 404, missing.text


async def test_a_patch_answers_with_the_calls_units_as_a_read_shows_them(admin: Api) -> None:
    """A console refreshing its view from the PATCH's answer lost the units on the call
    (the answer had no assignments or dispatches, as a dispatch's answer has): now it is
    the call as GET shows it, but for the notes, and its ETag is that GET's."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "caller: mother"}, 201)
    path = f"/v1/calls/{call['id']}"
    await admin.ok("POST", f"{path}/dispatch")
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "on_scene"})
    written = await admin.client.patch(path, json={"subject": {"age": 40}}, headers=admin.headers)
    assert written.status_code == 200, written.text
    answer = written.json()
    [sent] = answer["assignments"]
    assert (sent["responder_id"], sent["call_sign"]) == (officer, "1A1")
    assert sent["on_scene_at"] is not None
    assert len(answer["dispatches"]) == 1
    assert "notes" not in answer
    read = await admin.get(path)
    assert answer == {k: v for k, v in read.json().items() if k != "notes"}
    assert written.headers["ETag"] == read.headers["ETag"]


async def test_a_console_polling_a_call_with_its_etag_gets_304_until_it_changes(
    admin: Api, other_admin: Api
) -> None:
    """A console polling a call every few seconds was sent the whole call each time, its
    notes and recommendation included: with If-None-Match naming the ETag it holds, it gets
    a 304 with no body while the call shows as it was, and the call in full once it
    changes. Weakly compared (RFC 9110 §13.1.2); a tag without its quotes names nothing.
    The key and the agency are checked first, as for any read."""
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "caller: mother"}, 201)
    path = f"/v1/calls/{call['id']}"
    tag = (await admin.get(path)).headers["ETag"]

    async def polled(held: str, api: Api = admin, method: str = "GET") -> httpx.Response:
        headers = {**api.headers, "If-None-Match": held}
        return await api.client.request(method, path, headers=headers)

    for held in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        unchanged = await polled(held)
        assert unchanged.status_code == 304, (held, unchanged.text)
        assert unchanged.content == b""
        assert unchanged.headers["ETag"] == tag
    assert (await polled(tag, method="HEAD")).status_code == 304
    for held in ('"other"', tag.strip('"'), ""):
        full = await polled(held)
        assert full.status_code == 200, held
        assert full.json()["notes"] == "caller: mother"
    assert (await polled(tag, other_admin)).status_code == 404
    no_key = await admin.client.get(path, headers={"If-None-Match": tag})
    assert no_key.status_code == 401
    await admin.ok("PATCH", path, {"notes": "caller: mother; subject has a knife"})
    changed = await polled(tag)
    assert changed.status_code == 200
    assert changed.json()["notes"] == "caller: mother; subject has a knife"
    assert (await polled(changed.headers["ETag"])).status_code == 304
    # The policy too: a console holding the version in force is told it still is.
    policy = await admin.get("/v1/policy")
    headers = {**admin.headers, "If-None-Match": policy.headers["ETag"]}
    assert (await admin.client.get("/v1/policy", headers=headers)).status_code == 304
    await admin.ok("PUT", "/v1/policy", {**policy.json(), "speed_kmh": 45})
    assert (await admin.client.get("/v1/policy", headers=headers)).status_code == 200


async def test_patch_that_changes_nothing_renews_the_recommendation_untold(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A PATCH naming nothing new (`{}`, every field null, or what the call holds) tells the
    units nothing (no call.updated) and leaves the call as it was, but re-triages it: a
    recommendation whose lead went off the air since is renewed."""
    await grid_districts(admin)
    mct = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    place = {"lat": 40.785, "lon": -111.925, "address": "1 Main St"}
    facts = {"nature": "MNTL", "notes": "caller is the sister", "location": place}
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", **facts}, 201)
    assert _roles(call) == {"MCT-1": "lead", "1A1": "backup"}
    await admin.ok("PUT", f"/v1/co-responders/{mct}/status", {"status": "out_of_service"})

    def updates() -> Any:
        return db.fetchval(
            "SELECT count(*) FROM event WHERE type = 'call.updated' AND call_id = $1",
            uuid.UUID(call["id"]),
        )

    def version() -> Any:
        return db.fetchval("SELECT ctid::text FROM call WHERE id = $1", uuid.UUID(call["id"]))

    for same in ({}, {"nature": None, "notes": None}, {**facts, "safety": {"weapon": False}}):
        was = await version()
        again = await admin.ok("PATCH", f"/v1/calls/{call['id']}", same)
        assert _roles(again) == {"1A1": "lead"}
        assert again["updated_at"] == call["updated_at"]
        assert await updates() == 0
        # The row is written all the same: a dispatch that read the call a moment before
        # the renewal committed reads it again, and sends the new recommendation, not the
        # old one (app/repositories/dispatch_reads.py, _LOCKED_CALL).
        assert await version() != was
    history = await admin.ok("GET", f"/v1/calls/{call['id']}/recommendations")
    assert len(history["items"]) == 4
    changed = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": "caller is the aunt"})
    assert changed["updated_at"] > call["updated_at"]
    assert await updates() == 1
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert read["notes"] == "caller is the aunt"


async def test_intake_takes_a_field_sent_as_null_as_not_given(admin: Api) -> None:
    """A CAD that sends every field writes null for what it does not know: a call is never
    refused for that (it was a 422 for safety and subject), and the document says so."""
    await grid_districts(admin)
    nulls = {
        "external_id": None,
        "location": None,
        "nature": None,
        "safety": None,
        "subject": None,
        "notes": None,
        "received_at": None,
    }
    call = await admin.ok("POST", "/v1/calls", {**nulls, "district": "D1"}, 201)
    assert not any(call["safety"].values())
    assert call["subject"] == {}
    assert call["recommendation"]["safety_concern"] is False
    schema = (await admin.ok("GET", "/openapi.json"))["components"]["schemas"]["CallCreate"]
    for name in nulls:
        assert {"type": "null"} in schema["properties"][name]["anyOf"], name
    # So is a flag it does not know, beside one it does (it was a 422, "Input should be a
    # valid boolean", that lost the call: the 3 a.m. check): null is not reported, false.
    flags = {"weapon": None, "violence": True, "threat_to_others": None}
    flagged = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": flags}, 201)
    assert [flag for flag, on in flagged["safety"].items() if on] == ["violence"]
    assert flagged["recommendation"]["safety_concern"] is True
    assert (
        await admin.post("/v1/calls", {"district": "D1", "safety": {"weapon": "no"}})
    ).status_code == 422
    safety = (await admin.ok("GET", "/openapi.json"))["components"]["schemas"]["SafetyIn"]
    assert {"type": "null"} in safety["properties"]["weapon"]["anyOf"]


async def test_notes_only_in_call_detail_never_in_lists_or_events(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    secret = "client disclosed diagnosis XYZ-SECRET"
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": secret}, 201)
    assert "notes" not in call
    detail = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert detail["notes"] == secret
    listed = await admin.get("/v1/calls")
    assert secret not in listed.text
    payloads = await db.fetch("SELECT payload::text AS p FROM event")
    assert payloads
    assert all(secret not in row["p"] for row in payloads)
    patched = await admin.patch(f"/v1/calls/{call['id']}", {"notes": secret + " more"})
    assert secret not in patched.text


async def test_duplicate_external_id_is_409_and_writes_nothing_more(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await admin.ok("POST", "/v1/calls", {"external_id": "CAD-1", "district": "D1"}, 201)
    again = await admin.post("/v1/calls", {"external_id": "CAD-1", "district": "D2"})
    assert again.status_code == 409
    assert await db.fetchval("SELECT count(*) FROM call") == 1
    assert await db.fetchval("SELECT count(*) FROM recommendation") == 1


async def test_a_blank_external_id_is_refused_and_a_padded_one_taken_as_sent(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A CAD that pads an empty field sends a blank id: refused, never kept as an id the
    next blank call would clash with. A padded id is taken as sent, so one stored so
    before is still found as sent."""
    await grid_districts(admin)
    for blank in ("   ", "\t", "\u200b"):
        refused = await admin.post("/v1/calls", {"external_id": blank, "district": "D1"})
        assert refused.status_code == 422
        assert "visible character" in refused.text
    # Nor a line break or a tab in one (as no other id or name may hold).
    for controlled in ("CAD\n7", "CAD-7\t", "CAD\x1b[2J"):
        refused = await admin.post("/v1/calls", {"external_id": controlled, "district": "D1"})
        assert refused.status_code == 422, controlled
        assert "no control characters" in refused.text
    assert await db.fetchval("SELECT count(*) FROM call") == 0
    call = await admin.ok("POST", "/v1/calls", {"external_id": " CAD-7 ", "district": "D1"}, 201)
    assert call["external_id"] == " CAD-7 "
    found = await admin.ok("GET", "/v1/calls?external_id=%20CAD-7%20")
    assert [c["id"] for c in found["items"]] == [call["id"]]
    again = await admin.post("/v1/calls", {"external_id": " CAD-7 ", "district": "D1"})
    assert again.status_code == 409
    assert again.json()["call_id"] == call["id"]


async def test_calls_list_filters_by_status_and_district(admin: Api) -> None:
    await grid_districts(admin)
    await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    newest = await admin.ok("POST", "/v1/calls", {"district": "D2"}, 201)
    everything = await admin.ok("GET", "/v1/calls")
    assert everything["items"][0]["id"] == newest["id"]
    d2 = await admin.ok("GET", "/v1/calls?district=D2&status=pending")
    assert [c["district"] for c in d2["items"]] == ["D2"]
    assert (await admin.ok("GET", "/v1/calls?status=cleared"))["items"] == []


async def test_a_consoles_queue_of_open_calls_is_one_request(admin: Api) -> None:
    """`?status=dispatched,pending` was a 422 (one status only), so a console's queue of the
    calls still open took two requests and a merge of their pages: several statuses,
    comma-separated or repeated, are one list, newest first, paged as one."""
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    made = [(await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201))["id"] for _ in "abc"]
    await admin.ok("POST", f"/v1/calls/{made[0]}/clear", {"disposition": "gone"})
    await admin.ok("POST", f"/v1/calls/{made[1]}/dispatch")
    open_calls = [made[2], made[1]]  # newest first

    async def listed(query: str) -> list[str]:
        return [c["id"] for c in (await admin.ok("GET", f"/v1/calls?{query}"))["items"]]

    for query in ("status=pending,dispatched", "status=dispatched&status=pending"):
        assert await listed(query) == open_calls, query
    assert await listed("status=pending,dispatched&limit=1") == [made[2]]
    assert await listed("status=cleared,pending,dispatched") == [*open_calls, made[0]]
    assert await listed("status=cleared") == [made[0]]
    for bad in ("open", "pending,", "pending, dispatched", "PENDING"):
        refused = await admin.get(f"/v1/calls?status={bad}")
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["msg"] == (
            "Should be one or more of pending, dispatched, cleared, separated by commas"
        )


async def test_policy_change_applies_to_the_next_call(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    policy = await admin.ok("GET", "/v1/policy")
    body = {k: policy[k] for k in ("safety_flags", "nature_flags", "adjacency_depth", "speed_kmh")}
    await admin.ok("PUT", "/v1/policy", {**body, "le_backup_for_mh_lead": False})
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert _roles(call) == {"MCT-1": "lead"}
    assert call["recommendation"]["policy_version"] == 2


async def test_nearest_of_many_cit_officers_leads_despite_sql_trimming(admin: Api) -> None:
    await grid_districts(admin)
    for n, km in enumerate([9, 7, 5, 8, 2, 6, 4, 3]):
        await add_officer(
            admin,
            district="D1",
            call_sign=f"1A{n}",
            cit=True,
            location=(40.785 + km / 111.2, -111.925),
        )
    call = await admin.ok(
        "POST",
        "/v1/calls",
        {"district": "D1", "location": D1_POINT, "safety": {"weapon": True}},
        201,
    )
    lead = call["recommendation"]["units"][0]
    assert lead["call_sign"] == "1A4"
    assert lead["distance_km"] == 2.0


async def test_fewer_recent_assignments_breaks_an_eta_tie(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    busy = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    await add_officer(admin, district="D1", call_sign="1A2", cit=True)
    earlier = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await db.execute(
        "INSERT INTO assignment (id, agency_id, call_id, responder_type, responder_id, role,"
        " assigned_at, released_at) VALUES (gen_random_uuid(), $1, $2, 'officer', $3, 'lead',"
        " now() - interval '3 hours', now() - interval '2 hours')",
        admin.agency_id,
        uuid.UUID(earlier["id"]),
        uuid.UUID(busy),
    )
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    assert _roles(call)["1A2"] == "lead"


async def test_unit_on_a_call_is_not_recommended_even_if_on_shift(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    first = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{first['id']}/dispatch")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert "MCT-1" not in _roles(call)
    assert "no_co_responder_available" in _codes(call)


async def test_patch_location_replaces_district_only_when_a_boundary_holds_it(admin: Api) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    moved = await admin.ok(
        "PATCH", f"/v1/calls/{call['id']}", {"location": {"lat": 40.73, "lon": -111.87}}
    )
    assert moved["district"] == "D4"
    outside = await admin.ok(
        "PATCH", f"/v1/calls/{call['id']}", {"location": {"lat": 10.0, "lon": 10.0}}
    )
    assert outside["district"] == "D4"
    assert outside["location"]["lat"] == 10.0


async def test_patching_unknown_district_is_422_and_changes_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    response = await admin.patch(f"/v1/calls/{call['id']}", {"district": "NOPE", "nature": "X"})
    assert response.status_code == 422
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["nature"] is None
    assert await db.fetchval("SELECT count(*) FROM recommendation") == 1


async def test_patching_a_field_set_elsewhere_says_where_and_an_unknown_one_what_patch_takes(
    admin: Api, db: asyncpg.Connection
) -> None:
    """`PATCH {"external_id": ...}` was told pydantic's "Extra inputs are not permitted", as
    a misspelt field is (an outside-in check): a field of the call that a PATCH does not
    change says where it is set; a field the call does not have lists those a PATCH takes.
    Nothing is changed, not even a re-triage."""
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-1"}, 201)
    url = f"/v1/calls/{call['id']}"

    async def refused(body: dict[str, Any]) -> dict[str, str]:
        response = await admin.patch(url, body)
        assert response.status_code == 422, response.text
        return {".".join(map(str, e["loc"])): e["msg"] for e in response.json()["errors"]}

    assert await refused({"external_id": "CAD-2", "nature": "MNTL"}) == {
        "body.external_id": "Set only when the call is created (POST /v1/calls, or an EIDO's"
        " $id by POST /v1/eido): a PATCH cannot change it"
    }
    status = (await refused({"status": "cleared"}))["body.status"]
    assert "POST /v1/calls/{id}/dispatch" in status
    assert "POST /v1/calls/{id}/clear" in status
    assert "POST /v1/calls/{id}/clear" in (await refused({"outcome": "referred"}))["body.outcome"]
    # A dispatch record is added by dispatching only: neither a clear nor a status report
    # changes one (it said they did, as they do assignments).
    assert (await refused({"dispatches": []}))["body.dispatches"] == (
        "Added by each dispatch (POST /v1/calls/{id}/dispatch), not by a PATCH"
    )
    # Every field of the call's representation that a PATCH does not take says so, sent
    # back whole as a CAD might: none reads as a field the call does not have.
    shown = await admin.ok("GET", url)
    takes = ["safety", "nature", "district", "location", "notes", "subject"]
    messages = await refused({k: v for k, v in shown.items() if k not in takes})
    assert set(messages) == {f"body.{k}" for k in shown if k not in takes}
    assert not any("Extra inputs" in m or m.startswith("Unknown field") for m in messages.values())
    # A field the call does not have, beside others' errors, each told as it is.
    mixed = await refused({"natrue": "MNTL", "received_at": "2026-01-01T00:00:00Z", "nature": 5})
    assert mixed["body.natrue"] == (
        f"Unknown field: a call's PATCH takes {', '.join(takes)}; did you mean nature?"
    )
    assert mixed["body.received_at"].startswith("Set only when the call is created")
    assert mixed["body.nature"] == "Input should be a valid string"
    # A misspelt field set elsewhere is not told it meant one the PATCH takes (district).
    near = await refused({"disatched_at": "2026-01-01T00:00:00Z", "subjectinjured": True})
    assert near == dict.fromkeys(
        ("body.disatched_at", "body.subjectinjured"),
        f"Unknown field: a call's PATCH takes {', '.join(takes)}",
    )
    after = await admin.ok("GET", url)
    assert (after["external_id"], after["nature"], after["status"]) == ("CAD-1", None, "pending")
    assert await db.fetchval("SELECT count(*) FROM recommendation") == 1
    # The OpenAPI document says so to a client, in its words: it named the class that does
    # it and the test that checks it.
    schema = (await admin.ok("GET", "/openapi.json"))["components"]["schemas"]["CallPatch"]
    assert schema["description"] == (
        "New information about a call. Its other fields are set elsewhere: one sent is a 422\n"
        "saying where."
    )


async def test_certification_and_training_recorded_after_the_shift_count_at_once(
    admin: Api,
) -> None:
    await grid_districts(admin)
    late_cit = await add_officer(
        admin, district="D1", call_sign="1A1", state_officer_id="LATE-1", location=(40.80, -111.94)
    )
    await add_officer(admin, district="D1", call_sign="1A2", location=(40.785, -111.925))
    before = await admin.ok(
        "POST",
        "/v1/calls",
        {"district": "D1", "location": D1_POINT, "safety": {"weapon": True}},
        201,
    )
    assert _roles(before) == {"1A2": "lead"}
    today = datetime.now(UTC).date()
    await certify(
        admin,
        "LATE-1",
        number="C-LATE",
        certified_on=today - timedelta(days=1),
        expires_on=today + timedelta(days=300),
    )
    after = await admin.ok(
        "POST",
        "/v1/calls",
        {"district": "D1", "location": D1_POINT, "safety": {"weapon": True}},
        201,
    )
    assert _roles(after)["1A1"] == "lead"
    assert after["recommendation"]["units"][0]["responder_id"] == late_cit

    # Only the training added after the shift can make 4A2 beat 4A1 (call-sign order).
    await add_officer(admin, district="D4", call_sign="4A1")
    late_trained = await add_officer(admin, district="D4", call_sign="4A2")
    trained = await admin.ok(
        "PATCH", f"/v1/officers/{late_trained}", {"trainings": ["de_escalation"]}
    )
    assert trained["trainings"] == ["de_escalation"]
    far = await admin.ok("POST", "/v1/calls", {"district": "D4", "safety": {"weapon": True}}, 201)
    assert _roles(far) == {"4A2": "lead"}
    assert "no_cit" in _rules(far)


async def test_a_longer_shift_than_any_before_is_still_searched(admin: Api) -> None:
    await grid_districts(admin)
    await add_officer(admin, district="D1", call_sign="1A1")  # an 8-hour shift
    co = await admin.ok(
        "POST", "/v1/co-responders", {"name": "Long", "kind": "clinician", "provider": "P"}, 201
    )
    now = datetime.now(UTC)
    await add_shift(
        admin,
        "co_responder",
        co["id"],
        call_sign="MCT-L",
        district="D1",
        starts_at=now - timedelta(hours=10),
        ends_at=now + timedelta(hours=2),
    )
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert _roles(call)["MCT-L"] == "lead"
