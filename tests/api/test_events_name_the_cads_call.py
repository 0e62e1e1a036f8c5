"""Every event about a call gives the CAD its own number for it (external_id), beside ours.

An outside-in check as a CAD integrator: the call events and unit.assigned carried the
call's external_id, but recommendation.created, unit.released and unit.status_changed
carried only call_id, so a CAD had to keep a table from our ids to its incident numbers
(SPEC §6: never force an integrator to keep a translation table of their own).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.conftest import ServiceFactory
from tests.helpers import Api, add_co_responder, add_officer, grid_districts, subscribe
from tests.receiver import Receiver


async def _told(receiver: Receiver, count: int) -> Counter[tuple[str | None, str | None]]:
    """How often the CAD was told of each (call_id, external_id), in the count deliveries
    it received (a relay may deliver them out of order)."""
    bodies = [json.loads(r.body) for r in await receiver.wait_for(count)]
    assert len(bodies) == count, [b["type"] for b in bodies]
    return Counter((b["data"]["call_id"], b["data"]["external_id"]) for b in bodies)


def _pairs(*told: tuple[dict[str, Any], int]) -> Counter[tuple[str | None, str | None]]:
    """Each call's (call_id, external_id), as often as the CAD should hear of it."""
    return Counter({(call["id"], call["external_id"]): times for call, times in told})


async def _a_cad_hearing(admin: Api, receiver: Receiver, event_type: str) -> None:
    """Two units on D1's roster, and a CAD (an agency-wide subscription) hearing event_type."""
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    await subscribe(admin, receiver.url, [event_type])


async def _call(admin: Api, external_id: str | None = None) -> dict[str, Any]:
    """A crisis call in D1: the CAD's, by its number, when external_id is given."""
    body = {"district": "D1", "nature": "MNTL"}
    if external_id is not None:
        body["external_id"] = external_id
    call: dict[str, Any] = await admin.ok("POST", "/v1/calls", body, 201)
    assert call["external_id"] == external_id
    return call


async def test_recommendation_created_names_the_cads_call_at_intake_and_re_triage(
    admin: Api, receiver: Receiver, service: ServiceFactory
) -> None:
    await _a_cad_hearing(admin, receiver, "recommendation.created")
    async with service():
        cads = await _call(admin, "CAD-2026-000123")
        await admin.ok("PATCH", f"/v1/calls/{cads['id']}", {"safety": {"weapon": True}})
        # A call the CAD gave no number: null, never missing.
        bare = await _call(admin)
        told = await _told(receiver, 3)
    assert told == _pairs((cads, 2), (bare, 1))


def _path(assignment: dict[str, Any]) -> str:
    """Where the assigned unit's status is set."""
    kind = "officers" if assignment["responder_type"] == "officer" else "co-responders"
    return f"/v1/{kind}/{assignment['responder_id']}/status"


async def _released_by_a_report_and_the_clear(admin: Api, call: dict[str, Any]) -> int:
    """Dispatch the call, release one unit by its status report and the others by clearing
    the call; how many units were released."""
    sent = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    units = sent["assignments"]
    assert len(units) >= 2  # one released each way
    await admin.ok("PUT", _path(units[0]), {"status": "available"})
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
    return len(units)


async def test_unit_released_names_the_cads_call_by_a_report_and_by_a_clear(
    admin: Api, receiver: Receiver, service: ServiceFactory
) -> None:
    await _a_cad_hearing(admin, receiver, "unit.released")
    async with service():
        cads = await _call(admin, "CAD-2026-000124")
        from_cads = await _released_by_a_report_and_the_clear(admin, cads)
        bare = await _call(admin)
        from_bare = await _released_by_a_report_and_the_clear(admin, bare)
        told = await _told(receiver, from_cads + from_bare)
    assert told == _pairs((cads, from_cads), (bare, from_bare))


async def test_unit_status_changed_names_the_cads_call_the_unit_is_on(
    admin: Api, receiver: Receiver, service: ServiceFactory
) -> None:
    await _a_cad_hearing(admin, receiver, "unit.status_changed")
    async with service():
        cads = await _call(admin, "CAD-2026-000125")
        unit = (await admin.ok("POST", f"/v1/calls/{cads['id']}/dispatch"))["assignments"][0]
        await admin.ok("PUT", _path(unit), {"status": "en_route"})
        # The report that releases it names the call it left.
        await admin.ok("PUT", _path(unit), {"status": "available"})
        await admin.ok("POST", f"/v1/calls/{cads['id']}/clear", {"disposition": "resolved"})
        bare = await _call(admin)
        unit = (await admin.ok("POST", f"/v1/calls/{bare['id']}/dispatch"))["assignments"][0]
        await admin.ok("PUT", _path(unit), {"status": "en_route"})
        await admin.ok("POST", f"/v1/calls/{bare['id']}/clear", {"disposition": "resolved"})
        # On no call of ours, busy on the CAD's own incident: that is external_incident.
        await admin.ok("PUT", _path(unit), {"status": "on_scene", "external_incident": "T-9"})
        told = await _told(receiver, 4)
    expected = _pairs((cads, 2), (bare, 1))
    expected[None, None] = 1
    assert told == expected
    data = [json.loads(r.body)["data"] for r in receiver.requests]
    assert [d["external_incident"] for d in data if d["call_id"] is None] == ["T-9"]
