"""New safety information on a call a dispatcher gave a co-responder to lead by override.

The recommendation had law enforcement lead only because no co-responder was in reach; the
dispatcher called one in from elsewhere to lead. Then a weapon is reported: SPEC §1, a CIT
officer now leads and mental health supports. The lead recommended stayed
`law_enforcement`, so nothing compared as an escalation: no call.escalated reached the
crew, and the dispatch as recommended sent the CIT officer as the co-responder's back-up
(3 a.m. check on the demo).
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from app.records.recommendations import Decided
from app.repositories import dispatch_reads
from tests.helpers import Api, add_co_responder, add_officer, grid_districts


async def _escalations(db: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT payload::text AS p FROM event WHERE type = 'call.escalated' ORDER BY id"
    )
    return [json.loads(r["p"]) for r in rows]


async def _co_responder_led_by_override(admin: Api) -> tuple[str, str, str]:
    """A D1 call with no co-responder in reach, led by one from D4 a dispatcher sent."""
    await grid_districts(admin)
    far = await add_co_responder(admin, district="D4", call_sign="MCT-4")
    cit = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    assert call["recommendation"]["lead"] == "law_enforcement"
    assert [u["responder_id"] for u in call["recommendation"]["units"]] == [cit]
    sent = {
        "units": [{"responder_type": "co_responder", "responder_id": far, "role": "lead"}],
        "override_code": "specialty_needed",
    }
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", sent)
    return call["id"], far, cit


async def test_a_weapon_on_a_call_a_co_responder_leads_by_override_makes_the_cit_officer_lead(
    admin: Api, db: asyncpg.Connection
) -> None:
    call_id, far, cit = await _co_responder_led_by_override(admin)
    patched = await admin.ok("PATCH", f"/v1/calls/{call_id}", {"safety": {"weapon": True}})
    assert patched["recommendation"]["lead"] == "law_enforcement"
    # The crew hears of it: the co-responder leading is not what the call needs now.
    [escalation] = await _escalations(db)
    assert escalation["previous_lead"] == "mental_health"
    assert escalation["lead"] == "law_enforcement"
    assert escalation["recommendation_id"] == patched["recommendation"]["id"]
    done = await admin.ok("POST", f"/v1/calls/{call_id}/dispatch")
    assert {(a["responder_id"], a["role"]) for a in done["assignments"]} == {
        (cit, "lead"),
        (far, "support"),
    }
    assert done["dispatches"][-1]["dispatched_lead"] == "law_enforcement"
    # The re-triage told it; the dispatch carrying it out does not tell it again.
    assert len(await _escalations(db)) == 1


async def test_the_cit_officer_backing_up_the_co_responder_takes_the_lead_on_a_weapon(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The dispatch as recommended after the override sent the CIT officer as back-up; the
    one after the weapon gives it the lead (it was a 409: nothing to assign)."""
    call_id, far, cit = await _co_responder_led_by_override(admin)
    backed = await admin.ok("POST", f"/v1/calls/{call_id}/dispatch")
    assert {(a["responder_id"], a["role"]) for a in backed["assignments"]} == {
        (far, "lead"),
        (cit, "backup"),
    }
    await admin.ok("PATCH", f"/v1/calls/{call_id}", {"safety": {"violence": True}})
    done = await admin.ok("POST", f"/v1/calls/{call_id}/dispatch")
    assert {(a["responder_id"], a["role"]) for a in done["assignments"]} == {
        (cit, "lead"),
        (far, "support"),
    }
    # Notes added later change nothing: the lead stays as dispatched.
    await admin.ok("PATCH", f"/v1/calls/{call_id}", {"notes": "knife put down"})
    assert (await admin.post(f"/v1/calls/{call_id}/dispatch")).status_code == 409
    assert len(await _escalations(db)) == 1


async def test_a_flagged_call_an_officer_leads_is_dispatched_without_reading_the_earlier_concern(
    admin: Api, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether the recommendation at the deciding dispatch found a concern matters only
    when a co-responder leads what law enforcement is recommended to lead; it was read on
    every plain dispatch of a flagged call re-triaged since, one more statement on the
    dispatch's hot path for a call an officer leads, as flagged calls are."""
    asked: list[object] = []

    async def counted(*args: Any, **kwargs: Any) -> Decided | None:
        asked.append(kwargs)
        return await read_concern(*args, **kwargs)

    read_concern = dispatch_reads.decided_on
    monkeypatch.setattr(dispatch_reads, "decided_on", counted)
    await grid_districts(admin)
    mct = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    cit = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    body = {"district": "D1", "nature": "MNTL", "safety": {"weapon": True}}
    call = await admin.ok("POST", "/v1/calls", body, 201)
    alone = {
        "units": [{"responder_type": "officer", "responder_id": cit, "role": "lead"}],
        "override_reason": "the crisis team joins once the scene is safe",
    }
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", alone)
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": "knife in the kitchen"})
    done = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    assert {(a["responder_id"], a["role"]) for a in done["assignments"]} == {
        (cit, "lead"),
        (mct, "support"),
    }
    assert asked == []


async def _kept_leading(
    admin: Api, body: dict[str, Any], officer_role: str, code: str
) -> tuple[str, str, str]:
    """A D1 call (body) whose co-responder MCT-1 a dispatcher sent to lead by override,
    with CIT officer 1A1 in officer_role: (the call's path, MCT-1, 1A1)."""
    await grid_districts(admin)
    mct = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    cit = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", body, 201)
    path = f"/v1/calls/{call['id']}"
    if not body.get("safety"):
        await admin.ok("POST", f"{path}/dispatch")
        await admin.ok("PATCH", path, {"safety": {"weapon": True}})
    units = [
        {"responder_type": "co_responder", "responder_id": mct, "role": "lead"},
        {"responder_type": "officer", "responder_id": cit, "role": officer_role},
    ]
    await admin.ok("POST", f"{path}/dispatch", {"units": units, "override_code": code})
    return path, mct, cit


async def test_a_flag_cleared_and_raised_again_after_an_override_is_carried_out_as_told(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A weapon escalated the call; the dispatcher kept the co-responder leading by
    override. The weapon turned out a toy (mental health recommended), then a knife was
    seen: the crew heard call.escalated, law enforcement leads, but the dispatch as
    recommended left the co-responder leading, as the lead recommended was the one at the
    override (review r3 of the last session)."""
    path, mct, cit = await _kept_leading(
        admin, {"district": "D1"}, "stabilize", "new_safety_information"
    )
    # No dispatch between: mental health recommended again, then law enforcement.
    await admin.ok("PATCH", path, {"safety": {"weapon": False}})
    told = len(await _escalations(db))
    await admin.ok("PATCH", path, {"safety": {"weapon": True}})
    assert len(await _escalations(db)) == told + 1
    done = await admin.ok("POST", f"{path}/dispatch")
    active = {(a["responder_id"], a["role"]) for a in done["assignments"] if not a["released_at"]}
    assert active == {(cit, "lead"), (mct, "support")}


async def test_an_override_stands_while_the_lead_recommended_never_changed(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The same override on a call flagged from the start, then only notes: nothing was
    told, and the dispatch as recommended leaves the co-responder leading (nothing to
    assign)."""
    body = {"district": "D1", "safety": {"weapon": True}}
    path, _, _ = await _kept_leading(admin, body, "backup", "caller_request")
    await admin.ok("PATCH", path, {"notes": "the caller says it is a toy"})
    await admin.ok("PATCH", path, {"subject": {"age": 40}})
    assert (await admin.post(f"{path}/dispatch")).status_code == 409
    assert await _escalations(db) == []


async def test_a_flag_raised_and_cleared_after_an_officer_was_sent_to_lead_is_carried_out_as_told(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The other way round: a dispatcher sent the CIT officer to lead a call mental health
    was recommended to lead. A weapon reported (law enforcement recommended, which leads
    already: nothing told), then found a toy: the re-triage told the crew mental health
    leads (call.escalated), and the dispatch as recommended carries it out, as for a
    co-responder kept leading. While nothing changed, the override stood."""
    await grid_districts(admin)
    mct = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    cit = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert call["recommendation"]["lead"] == "mental_health"
    path = f"/v1/calls/{call['id']}"
    units = [
        {"responder_type": "officer", "responder_id": cit, "role": "lead"},
        {"responder_type": "co_responder", "responder_id": mct, "role": "support"},
    ]
    await admin.ok("POST", f"{path}/dispatch", {"units": units, "override_code": "closer_unit"})
    await admin.ok("PATCH", path, {"notes": "the caller is calmer"})
    assert (await admin.post(f"{path}/dispatch")).status_code == 409  # the override stands
    raised = await admin.ok("PATCH", path, {"safety": {"weapon": True}})
    assert raised["recommendation"]["lead"] == "law_enforcement"
    assert await _escalations(db) == []
    cleared = await admin.ok("PATCH", path, {"safety": {"weapon": False}})
    [told] = await _escalations(db)
    assert (told["previous_lead"], told["lead"]) == ("law_enforcement", "mental_health")
    assert told["recommendation_id"] == cleared["recommendation"]["id"]
    done = await admin.ok("POST", f"{path}/dispatch")
    active = {(a["responder_id"], a["role"]) for a in done["assignments"] if not a["released_at"]}
    assert active == {(mct, "lead"), (cit, "backup")}
    assert done["dispatches"][-1]["dispatched_lead"] == "mental_health"
    assert len(await _escalations(db)) == 1
