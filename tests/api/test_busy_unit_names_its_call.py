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
