"""What a dispatcher reads of units not available says what was so, and no more.

A dispatch sending by override an officer busy on the CAD's own incident since before the
call was told "some units are no longer available": it never was. And with the policy's
adjacency_depth 0 the warning said "No CIT officer is available in or near D4", where no
district near D4 had been looked at (3 a.m. check on the demo).
"""

from __future__ import annotations

from tests.helpers import Api, add_co_responder, add_officer, grid_districts


async def test_a_unit_sent_by_override_that_was_never_free_is_not_available(
    admin: Api,
) -> None:
    await grid_districts(admin)
    busy = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    await admin.ok(
        "PUT", f"/v1/officers/{busy}/status", {"status": "on_scene", "external_incident": "B-42"}
    )
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    sent = [{"responder_type": "officer", "responder_id": busy, "role": "lead"}]
    response = await admin.post(
        f"/v1/calls/{call['id']}/dispatch", {"units": sent, "override_code": "closer_unit"}
    )
    assert response.status_code == 409, response.text
    assert response.json()["detail"] == (
        "some units are not available; nothing was assigned:"
        " 1A1 (on scene on the CAD's incident B-42)"
    )


async def test_a_recommended_unit_taken_since_is_no_longer_available(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-3")
    first = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    second = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert [u["call_sign"] for u in second["recommendation"]["units"]] == ["MCT-3"]
    await admin.ok("POST", f"/v1/calls/{first['id']}/dispatch")
    response = await admin.post(f"/v1/calls/{second['id']}/dispatch")
    assert response.status_code == 409, response.text
    assert response.json()["detail"] == (
        f"some units are no longer available; nothing was assigned: MCT-3 (on call {first['id']})"
    )


async def test_with_no_adjacent_district_in_reach_no_cit_is_available_in_the_district(
    admin: Api,
) -> None:
    await grid_districts(admin)
    await add_officer(admin, district="D1", call_sign="1A1")
    policy = await admin.ok("GET", "/v1/policy")
    fields = ("safety_flags", "nature_flags", "le_backup_for_mh_lead", "speed_kmh")
    await admin.ok("PUT", "/v1/policy", {**{k: policy[k] for k in fields}, "adjacency_depth": 0})
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    warned = {w["code"]: w["message"] for w in call["recommendation"]["warnings"]}
    assert warned["no_cit_available"] == "No CIT officer is available in D1"
    await admin.ok("PUT", "/v1/policy", {**{k: policy[k] for k in fields}, "adjacency_depth": 1})
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    warned = {w["code"]: w["message"] for w in call["recommendation"]["warnings"]}
    assert warned["no_cit_available"] == "No CIT officer is available in or near D1"
