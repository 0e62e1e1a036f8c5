"""The last unit on a call goes out of service: the call needs units again.

A crew alone on a crisis call whose vehicle breaks down, or who are hurt, reports out of
service. The call stayed `dispatched` with nobody on it and nothing recommended, so the
board read it as handled (noticed in the last notes). Now it is re-triaged and its
recommendations warn that no unit is on it until one is; a unit reporting available last
still ends the work quietly.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from tests.helpers import Api, add_co_responder, add_officer, grid_districts

WARNED = "No unit is on this call: MCT-1, the last on it, went out of service"


async def _events(db: asyncpg.Connection, event_type: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT payload::text AS p FROM event WHERE type = $1 ORDER BY id", event_type
    )
    return [json.loads(r["p"]) for r in rows]


async def _dispatched(admin: Api) -> tuple[str, str, str]:
    """A D1 call dispatched as recommended: MCT-1 leads, 1A1 backs up. (path, co, officer)"""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    path = f"/v1/calls/{call['id']}"
    await admin.ok("POST", f"{path}/dispatch")
    return path, co, officer


def _warned(recommendation: dict[str, Any]) -> dict[str, str]:
    return {w["code"]: w["message"] for w in recommendation["warnings"]}


async def test_the_last_unit_going_out_of_service_leaves_the_call_needing_units(
    admin: Api, db: asyncpg.Connection
) -> None:
    path, co, officer = await _dispatched(admin)
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    before = len((await admin.ok("GET", f"{path}/recommendations"))["items"])
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})

    history = (await admin.ok("GET", f"{path}/recommendations"))["items"]
    assert len(history) == before + 1
    latest = history[-1]
    # Told first, before what the rules warn of; the officer free again is whom to send.
    assert latest["warnings"][0] == {"code": "no_unit_on_call", "message": WARNED}
    assert [(u["responder_id"], u["role"]) for u in latest["units"]] == [(officer, "lead")]
    shown = await admin.ok("GET", path)
    assert shown["status"] == "dispatched"
    assert shown["recommendation"]["id"] == latest["id"]
    [created] = [
        e
        for e in await _events(db, "recommendation.created")
        if e["recommendation_id"] == latest["id"]
    ]
    assert "no_unit_on_call" in created["warnings"]
    # Nobody is on the call to hear of a change of lead: nothing escalates.
    assert await _events(db, "call.escalated") == []
    [entry] = (await admin.ok("GET", "/v1/audit?action=call.retriage"))["items"]
    assert entry["detail"] == {
        "reason": "the last unit on the call went out of service",
        "responder_type": "co_responder",
        "responder_id": co,
        "status": "out_of_service",
    }

    # Every re-triage says so until a unit is on the call again.
    renewed = (await admin.ok("PATCH", path, {"notes": "the subject is still on the bridge"}))[
        "recommendation"
    ]
    assert _warned(renewed)["no_unit_on_call"] == WARNED
    await admin.ok("POST", f"{path}/dispatch")
    after = (await admin.ok("PATCH", path, {}))["recommendation"]
    assert "no_unit_on_call" not in _warned(after)


async def test_a_unit_sent_to_the_call_takes_the_warning_off_what_it_shows(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The dispatch that sends a unit to a call left without units renews its
    recommendation: the call, and the dispatch's answer, showed "No unit is on this call"
    first beside the unit sent, and still did once that unit had finished the work and
    reported available, so the board read a call done as one needing units."""
    path, co, officer = await _dispatched(admin)
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    stranded = (await admin.ok("GET", path))["recommendation"]
    assert "no_unit_on_call" in _warned(stranded)

    done = await admin.ok("POST", f"{path}/dispatch")
    assert done["dispatches"][-1]["recommendation_id"] == stranded["id"]
    assert [a["responder_id"] for a in done["assignments"] if not a["released_at"]] == [officer]
    renewed = done["recommendation"]
    assert renewed["id"] != stranded["id"]
    assert "no_unit_on_call" not in _warned(renewed)
    assert [(u["responder_id"], u["role"]) for u in renewed["units"]] == [(officer, "lead")]
    assert (await admin.ok("GET", path))["recommendation"] == renewed
    [created] = [
        e
        for e in await _events(db, "recommendation.created")
        if e["recommendation_id"] == renewed["id"]
    ]
    assert "no_unit_on_call" not in created["warnings"]
    entries = (await admin.ok("GET", "/v1/audit?action=call.retriage"))["items"]
    assert [e["detail"]["reason"] for e in entries] == [
        "a unit is on the call again",
        "the last unit on the call went out of service",
    ]
    # The officer sent finishes the work: the call waits to be cleared, warning nothing.
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    assert "no_unit_on_call" not in _warned((await admin.ok("GET", path))["recommendation"])
    assert await _events(db, "call.escalated") == []


async def test_new_danger_on_a_call_with_no_unit_on_it_still_escalates(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The CAD hears call.escalated whoever is on the call (an agency-wide subscription hears
    every one). A weapon reported on a dispatched call whose units all left, out of service
    or done, changes its lead as on any dispatched call: the escalation was dropped with
    the units, on the very call that needed officers sent."""
    path, co, officer = await _dispatched(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-2")
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    # Its unit's report changed no lead: MCT-2 is free to lead it.
    assert (await admin.ok("GET", path))["recommendation"]["lead"] == "mental_health"
    assert await _events(db, "call.escalated") == []

    patched = (await admin.ok("PATCH", path, {"safety": {"weapon": True}}))["recommendation"]
    assert _warned(patched)["no_unit_on_call"] == WARNED
    [escalated] = await _events(db, "call.escalated")
    assert (escalated["previous_lead"], escalated["lead"]) == ("mental_health", "law_enforcement")
    assert escalated["recommendation_id"] == patched["id"]


async def test_new_danger_on_a_call_whose_units_finished_still_escalates(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Every unit reported available: the call waits to be cleared. New danger reported on
    it escalates as it did before units leaving a call could be told apart."""
    path, co, officer = await _dispatched(admin)
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    patched = (await admin.ok("PATCH", path, {"safety": {"weapon": True}}))["recommendation"]
    [escalated] = await _events(db, "call.escalated")
    assert (escalated["previous_lead"], escalated["lead"]) == ("mental_health", "law_enforcement")
    assert escalated["recommendation_id"] == patched["id"]


async def test_the_last_unit_reporting_available_finished_the_work(admin: Api) -> None:
    """Back in service last, the crew finished: the call waits to be cleared, with
    nothing recommended and nothing warned of by a later re-triage."""
    path, co, officer = await _dispatched(admin)
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "out_of_service"})
    count = len((await admin.ok("GET", f"{path}/recommendations"))["items"])
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    assert len((await admin.ok("GET", f"{path}/recommendations"))["items"]) == count
    assert (await admin.ok("GET", "/v1/audit?action=call.retriage"))["items"] == []
    renewed = (await admin.ok("PATCH", path, {}))["recommendation"]
    assert "no_unit_on_call" not in _warned(renewed)


async def test_a_backup_left_alone_going_out_of_service_names_itself(admin: Api) -> None:
    """The lead finished and left; the officer still there goes out of service. It is the
    last on the call in whatever part: the call needs units again, named by the call sign
    it was dispatched under."""
    path, co, officer = await _dispatched(admin)
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "out_of_service"})
    latest = (await admin.ok("GET", f"{path}/recommendations"))["items"][-1]
    assert _warned(latest)["no_unit_on_call"] == (
        "No unit is on this call: 1A1, the last on it, went out of service"
    )


async def test_a_cleared_call_is_not_re_triaged_by_a_late_report(admin: Api) -> None:
    """Clearing releases every unit; an out-of-service report after it finds no call to
    re-triage."""
    path, co, _ = await _dispatched(admin)
    await admin.ok("POST", f"{path}/clear", {"disposition": "resolved on scene"})
    count = len((await admin.ok("GET", f"{path}/recommendations"))["items"])
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    assert len((await admin.ok("GET", f"{path}/recommendations"))["items"]) == count
