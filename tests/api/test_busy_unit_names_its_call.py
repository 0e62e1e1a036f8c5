"""A dispatch's 409 names the call a unit is busy on by the CAD's incident number.

A dispatcher sending a unit that is on another call read "MCT-3 (on call
01a24590-172c-712d-a46a-d278faced040)": an id no console shows a person, where the CAD's
number (CAD-004) is what the dispatcher knows the call by (3 a.m. check on the demo).
"""

from __future__ import annotations

from tests.helpers import Api, add_co_responder, add_officer, grid_districts


async def _busy_on(admin: Api, external_id: str | None) -> tuple[str, str, str]:
    """A co-responder and a CIT officer on a first call; a second call, waiting."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-3")
    await add_officer(admin, district="D1", call_sign="1C10", cit=True)
    first = {"district": "D1", "nature": "MNTL"}
    if external_id is not None:
        first["external_id"] = external_id
    busy = await admin.ok("POST", "/v1/calls", first, 201)
    await admin.ok("POST", f"/v1/calls/{busy['id']}/dispatch")
    waiting = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    return busy["id"], waiting["id"], co


async def _send(admin: Api, call_id: str, co: str) -> str:
    sent = [{"responder_type": "co_responder", "responder_id": co, "role": "lead"}]
    response = await admin.post(
        f"/v1/calls/{call_id}/dispatch", {"units": sent, "override_code": "closer_unit"}
    )
    assert response.status_code == 409, response.text
    return str(response.json()["detail"])


async def test_a_unit_busy_on_another_call_is_named_with_that_calls_cad_number(
    admin: Api,
) -> None:
    busy, waiting, co = await _busy_on(admin, "CAD-\u200b004")
    detail = await _send(admin, waiting, co)
    # The id stays, for a console to open the call; the number's invisible characters are
    # escaped, as in the 409 for a taken external_id.
    assert detail.endswith(f"nothing was assigned: MCT-3 (on call CAD-\\u200b004, {busy})")


async def test_a_unit_busy_on_a_call_without_a_cad_number_is_named_with_its_id(
    admin: Api,
) -> None:
    busy, waiting, co = await _busy_on(admin, None)
    detail = await _send(admin, waiting, co)
    assert detail.endswith(f"nothing was assigned: MCT-3 (on call {busy})")


async def test_a_status_409_names_the_units_call_by_its_cad_number_too(admin: Api) -> None:
    """A unit's status report going back on its call, or naming a CAD incident beside it,
    was told the call by its id alone ("on its call (01a2458f-…)"), as dispatch's 409 was
    before be5ec04 (3 a.m. check on the demo)."""
    busy, _, co = await _busy_on(admin, "CAD-\u200b004")
    path = f"/v1/co-responders/{co}/status"
    await admin.ok("PUT", path, {"status": "on_scene"})
    assert (await _status_refused(admin, path, {"status": "en_route"})).startswith(
        "a unit cannot go back from on_scene to en_route on its call"
        f" (CAD-\\u200b004, {busy}): on a call its status only moves forward;"
    )
    beside = {"status": "on_scene", "external_incident": "B-42"}
    assert (await _status_refused(admin, path, beside)).endswith(
        f"this unit is on call CAD-\\u200b004, {busy}: report it available first"
        " (which releases it)"
    )


async def _status_refused(admin: Api, path: str, body: dict[str, str]) -> str:
    """The detail of a status report's 409."""
    response = await admin.put(path, body)
    assert response.status_code == 409, response.text
    return str(response.json()["detail"])
