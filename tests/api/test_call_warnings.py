"""What a recommendation warns a dispatcher of, end to end: POST /v1/calls on PostgreSQL."""

from __future__ import annotations

import ast
import re
from typing import Any

from app.vocabulary import WARNING_CODES
from tests.helpers import Api, add_co_responder, add_officer, grid_districts

# A point inside D1 (north-west cell of the grid), and one in D2 next to it.
D1_POINT = {"lat": 40.785, "lon": -111.925}
D2_PLACE = (40.785, -111.875)


def _warnings(call: dict[str, Any]) -> dict[str, str]:
    return {w["code"]: w["message"] for w in call["recommendation"]["warnings"]}


async def test_a_call_warns_of_adjacent_co_responder_no_youth_specialist_unknown_nature_and_eta(
    admin: Api,
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D2", call_sign="MCT-2", location=D2_PLACE)
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)  # no location reported
    call = await admin.ok(
        "POST",
        "/v1/calls",
        {
            "district": "D1",
            "location": D1_POINT,
            "nature": "welfare check",
            "subject": {"age": 15},
        },
        201,
    )
    rec = call["recommendation"]
    assert [(u["call_sign"], u["role"]) for u in rec["units"]] == [
        ("MCT-2", "lead"),
        ("1A1", "backup"),
    ]
    assert rec["units"][1]["eta_minutes"] is None
    warnings = _warnings(call)
    assert list(warnings) == [
        "co_responder_from_adjacent_district",
        "no_youth_specialist",
        "unknown_nature",
        "eta_unknown",
    ]
    assert warnings["co_responder_from_adjacent_district"] == (
        "No co-responder is available in D1; MCT-2 comes from adjacent district D2"
    )
    assert warnings["no_youth_specialist"] == (
        "The subject is 15: no youth specialist co-responder is available in D1"
    )
    assert warnings["unknown_nature"].startswith("Nature 'welfare check' is neither")
    assert warnings["eta_unknown"] == "No ETA for 1A1: location unknown"
    # The call's history keeps them as they were said.
    history = await admin.ok("GET", f"/v1/calls/{call['id']}/recommendations")
    assert [r["warnings"] for r in history["items"]] == [rec["warnings"]]


async def test_a_new_agency_treats_the_registry_violent_types_as_safety_concerns(
    admin: Api,
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    policy = await admin.ok("GET", "/v1/policy")
    assert policy["nature_flags"]["HOSTAGE"] == ["threat_to_others", "violence"]
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "hostage"}, 201)
    rec = call["recommendation"]
    assert rec["lead"] == "law_enforcement"
    assert rec["safety_concern"] is True
    assert "unknown_nature" not in _warnings(call)


async def test_a_local_code_the_policy_names_is_no_unknown_nature(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    before = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "CRISIS1"}, 201)
    assert "unknown_nature" in _warnings(before)
    policy = await admin.ok("GET", "/v1/policy")
    fields = ("safety_flags", "nature_flags", "le_backup_for_mh_lead", "adjacency_depth")
    await admin.ok(
        "PUT",
        "/v1/policy",
        {
            **{k: policy[k] for k in fields},
            "speed_kmh": policy["speed_kmh"],
            "eido_incident_types": [*policy["eido_incident_types"], "crisis1"],
        },
    )
    after = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "crisis1"}, 201)
    assert "unknown_nature" not in _warnings(after)


async def test_openapi_lists_every_warning_code(admin: Api) -> None:
    schema = (await admin.client.get("/openapi.json")).json()
    code = schema["components"]["schemas"]["WarningOut"]["properties"]["code"]
    assert code["enum"] == list(WARNING_CODES)
    assert {"eta_unknown", "no_youth_specialist", "co_responder_from_adjacent_district"} <= set(
        code["enum"]
    )
    assert "unknown_nature" in code["enum"]


async def test_a_re_triage_still_says_where_the_units_working_the_call_come_from(
    admin: Api,
) -> None:
    """Units on a dispatched call rank first on its re-triage, as if serving its district;
    the warnings still tell the dispatcher a CIT officer came from next door, and a unit
    whose shift covers the district is still no gap."""
    await grid_districts(admin)
    await add_officer(admin, district="D2", call_sign="2C1", cit=True)
    await add_officer(admin, district="D1", call_sign="1A1", trainings=["de_escalation"])
    # D4 is not next to D1, but this shift covers D1.
    await add_co_responder(admin, district="D4", call_sign="MCT-4", also_covers=["D1"])
    weapon = {"weapon": True}
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": weapon}, 201)
    sent = {u["call_sign"]: u["role"] for u in call["recommendation"]["units"]}
    assert sent == {"2C1": "lead", "1A1": "stabilize", "MCT-4": "support"}
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")

    patched = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": "door is open"})
    again = patched["recommendation"]
    assert {u["call_sign"]: u["role"] for u in again["units"]} == sent
    warned = _warnings(patched)
    assert (
        "2C1, on the call, comes from adjacent district D2"
        in (warned["cit_from_adjacent_district"])
    )
    assert "no_cit_in_district" in warned
    assert "co_responder_from_adjacent_district" not in warned


async def test_a_call_moved_beyond_the_reach_of_its_units_names_the_free_ones_serving(
    admin: Api,
) -> None:
    """A call moved to a district out of its units' reach keeps them (they are working
    it), and the dispatcher is told where they come from and who serves the new district,
    free: the ETAs alone would not say why nearer units were not named."""
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1C1", cit=True)
    await add_co_responder(admin, district="D4", call_sign="MCT-4")
    await add_officer(admin, district="D4", call_sign="4C1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")

    moved = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"district": "D4"})
    units = moved["recommendation"]["units"]
    assert {u["call_sign"]: u["role"] for u in units} == {"MCT-1": "lead", "1C1": "backup"}
    warned = _warnings(moved)
    assert warned["co_responder_from_adjacent_district"] == (
        "Co-responder MCT-1, on the call, comes from an out-of-reach district D1; "
        "MCT-4 serves D4 and is available"
    )
    assert warned["cit_from_adjacent_district"] == (
        "CIT officer 1C1, on the call, comes from an out-of-reach district D1; "
        "4C1 serves D4 and is available"
    )
    assert "no_cit_in_district" not in warned


async def test_a_location_outside_the_district_given_is_warned(admin: Api) -> None:
    """A district keyed in wrong sends the wrong units: the dispatcher is told where the
    point lies. Units are still chosen for the district given."""
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    d2_point = {"lat": D2_PLACE[0], "lon": D2_PLACE[1]}
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "location": d2_point}, 201)
    assert _warnings(call)["location_outside_district"] == (
        "The location is in D2, not in D1, the district given: units are chosen for D1; "
        "check the district"
    )
    assert [u["call_sign"] for u in call["recommendation"]["units"]] == ["MCT-1"]
    moved = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"location": D1_POINT})
    assert "location_outside_district" not in _warnings(moved)
    far = await admin.ok(
        "PATCH", f"/v1/calls/{call['id']}", {"location": {"lat": 41.5, "lon": -112.5}}
    )
    assert "outside every district's boundary" in _warnings(far)["location_outside_district"]
    # A longitude that lost its sign puts the call in central Asia, ETAs of days: the
    # dispatcher is told how far, and to check the coordinates.
    lost = await admin.ok(
        "PATCH", f"/v1/calls/{call['id']}", {"location": {"lat": D2_PLACE[0], "lon": -D2_PLACE[1]}}
    )
    said = _warnings(lost)["location_outside_district"]
    km = float(said.split("boundary, ")[1].split(" km")[0].replace(",", ""))
    assert 9_000 < km < 11_000
    assert said.endswith(
        "check the location's coordinates (a sign or a digit lost?) and the district"
    )
    # A district with no boundary cannot tell; an address alone has no point to place.
    await admin.ok("POST", "/v1/districts", {"code": "D9", "name": "No map"}, 201)
    for body in (
        {"district": "D9", "location": d2_point},
        {"district": "D1", "location": {"address": "9 Elm St"}},
    ):
        quiet = await admin.ok("POST", "/v1/calls", body, 201)
        assert "location_outside_district" not in _warnings(quiet)


async def test_how_far_a_point_lies_is_measured_on_the_ground(admin: Api) -> None:
    """The distance from the district given's boundary was measured to the point nearest by
    bare degrees of longitude and latitude: for a point 14 km across the antimeridian from
    an Aleutian district it took the district's far side (145 km), and north of 70 degrees a
    degree of longitude is a third of one of latitude (76 km read as 117): both asked the
    dispatcher to check coordinates that were right."""

    def polygon(*corners: tuple[float, float]) -> dict[str, Any]:
        return {"type": "Polygon", "coordinates": [[*map(list, corners), list(corners[0])]]}

    aleutians = polygon((-179.9, 51.0), (-178.0, 51.0), (-178.0, 52.0), (-179.9, 52.0))
    slope = polygon((-157.0, 71.0), (-155.0, 71.0), (-157.0, 72.0))
    for code, boundary in (("AW", aleutians), ("NS", slope)):
        await admin.ok(
            "POST", "/v1/districts", {"code": code, "name": code, "boundary": boundary}, 201
        )
    for code, (lat, lon), km in (("AW", (51.5, 179.9), 14), ("NS", (72.3, -155.0), 76)):
        call = await admin.ok(
            "POST", "/v1/calls", {"district": code, "location": {"lat": lat, "lon": lon}}, 201
        )
        assert _warnings(call)["location_outside_district"] == (
            f"The location is outside every district's boundary, {km} km from that of {code},"
            f" the district given: units are chosen for {code}; check the district"
        )


async def test_an_unknown_nature_is_named_with_its_invisible_characters_escaped(
    admin: Api,
) -> None:
    """A nature holding a zero-width space after a known code ("MNTL" and U+200B) is no
    code the registry or the policy knows, and the warning named it raw: 'Nature "MNTL" is
    neither an APCO incident type nor a code of the policy', a code the dispatcher knows
    to be one (as a445a5b found of the live feed's types). A direction mark turned the
    rest of the sentence around."""
    await grid_districts(admin)
    for nature, named in (
        ("MNTL\u200b", "MNTL\\u200b"),
        ("crisis\u202e here", "crisis\\u202e here"),
        # Typed as six characters, the escape reads apart from the mark itself.
        ("crisis\\u202e here", "crisis\\\\u202e here"),
    ):
        call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": nature}, 201)
        assert _warnings(call)["unknown_nature"].startswith(
            f"Nature '{named}' is neither an APCO incident type nor a code of the policy"
        )


async def test_an_unknown_nature_holding_quotes_is_named_so_that_it_reads_back_as_sent(
    admin: Api,
) -> None:
    """A double quote in the nature was not escaped inside the double quotes the warning
    put around it: 'Nature "MNTL" and "WELF" is neither…' read as two natures, neither
    of them the one sent. The nature is quoted as the service quotes any name a client
    wrote (a Python literal, its invisible characters escaped), which reads back as sent."""
    await grid_districts(admin)
    for nature in ('MNTL" and "WELF', 'it\'s "odd"', 'say "hi\u200b"', 'back\\slash "'):
        call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": nature}, 201)
        message = _warnings(call)["unknown_nature"]
        named = re.fullmatch(
            r"Nature (.+) is neither an APCO incident type nor a code of the policy, so it"
            r" implies no safety flag: check the call's flags",
            message,
        )
        assert named is not None, message
        assert ast.literal_eval(named[1]) == nature, message
        # And with no invisible character left as it was: each is an escape.
        assert "\u200b" not in named[1], message
