"""What clearing and dispatching record for the CIT program: outcomes, override codes, leads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.vocabulary import APCO_DISPOSITION, OUTCOMES
from tests.helpers import Api, add_co_responder, add_officer, grid_districts

# The registry's codes, copied from ../shared/reference/eido/ (NENA-STA-021.1b, Table 35).
REGISTRY = Path(__file__).parents[1] / "data/apco_common_dispositions.tsv"


async def _mh_call(admin: Api) -> tuple[dict[str, Any], str, str]:
    """A call in D1 with a co-responder (recommended lead) and a CIT officer on shift."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT1")
    officer = await add_officer(admin, district="D1", call_sign="1A11", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    assert call["recommendation"]["lead"] == "mental_health"
    return call, co, officer


async def test_clearing_records_the_outcome_and_every_read_returns_it(
    admin: Api, db: asyncpg.Connection
) -> None:
    call, _, _ = await _mh_call(admin)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    cleared = await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/clear",
        {
            "disposition": "taken to the crisis centre",
            "diverted_to": "detox",
            "outcome": "transported_voluntary",
            "subject_injured": True,
        },
    )
    expected = {
        "status": "cleared",
        "disposition": "taken to the crisis centre",
        "diverted_to": "detox",
        "outcome": "transported_voluntary",
        "use_of_force": False,
        "subject_injured": True,
        "officer_injured": False,
    }
    assert {k: cleared[k] for k in expected} == expected
    assert cleared["cleared_at"] is not None
    assert cleared["dispatched_at"] is not None

    detail = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert {k: detail[k] for k in expected} == expected
    [listed] = (await admin.ok("GET", "/v1/calls?status=cleared"))["items"]
    assert {k: listed[k] for k in expected} == expected

    payload = await db.fetchval(
        "SELECT payload FROM event WHERE type = 'call.cleared' AND call_id = $1", call["id"]
    )
    assert '"outcome": "transported_voluntary"' in payload
    assert '"subject_injured": true' in payload
    assert '"use_of_force": false' in payload


async def test_an_old_client_clears_without_an_outcome(admin: Api) -> None:
    call, _, _ = await _mh_call(admin)
    cleared = await admin.ok(
        "POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved", "diverted_to": "none"}
    )
    assert cleared["outcome"] is None
    assert cleared["use_of_force"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"disposition": "x", "outcome": "sent_home"},
        {"disposition": "x", "diverted_to": "prison"},
        {"disposition": "x", "use_of_force": "yes"},
        {"disposition": "x", "officer_injured": 1},
    ],
)
async def test_a_bad_outcome_is_a_422_and_leaves_the_call_open(
    admin: Api, body: dict[str, Any]
) -> None:
    call, _, _ = await _mh_call(admin)
    response = await admin.client.post(
        f"/v1/calls/{call['id']}/clear", json=body, headers=admin.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    after = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert after["status"] == "pending"
    assert after["outcome"] is None


@pytest.mark.parametrize(("column", "value"), [("outcome", "sent_home"), ("diverted_to", "prison")])
async def test_the_database_refuses_an_unknown_code(
    admin: Api, db: asyncpg.Connection, column: str, value: str
) -> None:
    call, _, _ = await _mh_call(admin)
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(f"UPDATE call SET {column} = $1 WHERE id = $2", value, call["id"])  # noqa: S608


async def test_a_dispatch_that_overrides_a_mental_health_lead_keeps_both_leads_and_the_code(
    admin: Api,
) -> None:
    call, _, officer = await _mh_call(admin)
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {
            "units": [{"responder_type": "officer", "responder_id": officer, "role": "lead"}],
            "override_code": "caller_request",
        },
    )
    detail = await admin.ok("GET", f"/v1/calls/{call['id']}")
    [dispatch] = detail["dispatches"]
    assert dispatch["recommendation_id"] == call["recommendation"]["id"]
    assert dispatch["recommended_lead"] == "mental_health"
    assert dispatch["dispatched_lead"] == "law_enforcement"
    assert dispatch["override_code"] == "caller_request"
    assert dispatch["override_reason"] is None
    [assignment] = detail["assignments"]
    assert assignment["responder_id"] == officer
    assert assignment["role"] == "lead"


async def test_an_old_client_sending_only_a_reason_gets_the_code_other(admin: Api) -> None:
    call, _, officer = await _mh_call(admin)
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {
            "units": [{"responder_type": "officer", "responder_id": officer, "role": "lead"}],
            "override_reason": "MCT stuck in traffic",
        },
    )
    [dispatch] = (await admin.ok("GET", f"/v1/calls/{call['id']}"))["dispatches"]
    assert (dispatch["override_code"], dispatch["override_reason"]) == (
        "other",
        "MCT stuck in traffic",
    )


async def test_a_dispatch_as_recommended_has_no_override(admin: Api) -> None:
    call, _, _ = await _mh_call(admin)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    [dispatch] = (await admin.ok("GET", f"/v1/calls/{call['id']}"))["dispatches"]
    assert dispatch["recommended_lead"] == dispatch["dispatched_lead"] == "mental_health"
    assert dispatch["override_code"] is None


async def test_differing_units_without_code_or_reason_are_refused_and_nothing_is_assigned(
    admin: Api,
) -> None:
    call, _, officer = await _mh_call(admin)
    response = await admin.client.post(
        f"/v1/calls/{call['id']}/dispatch",
        json={"units": [{"responder_type": "officer", "responder_id": officer, "role": "lead"}]},
        headers=admin.headers,
    )
    assert response.status_code == 422, response.text
    detail = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert detail["dispatches"] == []
    assert detail["assignments"] == []
    # It names the recommendation it held the units to: a dispatcher sending what an older
    # one said (re-triaged since, on another console) learns that it changed.
    latest = detail["recommendation"]
    assert (
        f"latest recommendation ({latest['id']}, made {latest['created_at']})"
        in (response.json()["detail"])
    )


async def test_an_unknown_override_code_is_a_422(admin: Api) -> None:
    call, _, officer = await _mh_call(admin)
    response = await admin.client.post(
        f"/v1/calls/{call['id']}/dispatch",
        json={
            "units": [{"responder_type": "officer", "responder_id": officer, "role": "lead"}],
            "override_code": "felt_like_it",
        },
        headers=admin.headers,
    )
    assert response.status_code == 422, response.text
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["dispatches"] == []


async def test_the_first_on_scene_report_is_kept_on_the_assignment(admin: Api) -> None:
    call, co, _ = await _mh_call(admin)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")

    async def on_scene() -> dict[str | None, Any]:
        detail = await admin.ok("GET", f"/v1/calls/{call['id']}")
        return {a["responder_id"]: a["on_scene_at"] for a in detail["assignments"]}

    assert set((await on_scene()).values()) == {None}
    status = await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "on_scene"})
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "transporting"})
    after = await on_scene()
    assert after.pop(co) == status["status_at"]
    # The officer backing up has not reported on scene.
    assert set(after.values()) == {None}


def test_every_outcome_has_an_apco_common_disposition_code_from_the_registry() -> None:
    lines = REGISTRY.read_text(encoding="utf-8").splitlines()
    registered = {line.split("\t")[0] for line in lines if not line.startswith("#")}
    assert len(registered) == 45
    assert set(APCO_DISPOSITION) == set(OUTCOMES)
    assert set(APCO_DISPOSITION.values()) <= registered
    # The codes the spec names.
    assert APCO_DISPOSITION["arrest"] == "03"
    assert APCO_DISPOSITION["cancelled"] == "32"
