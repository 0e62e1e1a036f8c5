"""PATCH /v1/calls/{id}/outcome: what a clear recorded, corrected after the fact, with the
reason in the audit trail, the reports counting the call as corrected, and `call.cleared`
sent again (a mistyped `arrest` stayed justice-involved for good: the council's check)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from tests.helpers import Api, add_co_responder, add_officer, grid_districts


async def _cleared(api: Api, **recorded: Any) -> dict[str, Any]:
    """A call dispatched and cleared with what recorded says (an arrest by default)."""
    await grid_districts(api)
    await add_co_responder(api, district="D1", call_sign="MCT1")
    await add_officer(api, district="D1", call_sign="1A11", cit=True)
    call = await api.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    await api.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    body = {"disposition": "booked", "outcome": "arrest", **recorded}
    cleared: dict[str, Any] = await api.ok("POST", f"/v1/calls/{call['id']}/clear", body)
    return cleared


async def _report(api: Api) -> dict[str, Any]:
    [group] = (await api.ok("GET", "/v1/reports/outcomes"))["groups"]
    return dict(group)


async def _cleared_events(db: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT payload FROM event WHERE type = 'call.cleared' ORDER BY created_at, id"
    )
    return [json.loads(row["payload"]) for row in rows]


async def test_a_supervisor_corrects_a_mistyped_outcome_and_every_reader_sees_it(
    admin: Api, db: asyncpg.Connection
) -> None:
    call = await _cleared(admin)
    before = await _report(admin)
    assert (before["justice_involved"], before["diverted_to_mh_services"]) == (1, 0)
    supervisor = await admin.with_role("supervisor")
    body = {
        "reason": "typed arrest for referred",
        "outcome": "referred",
        "diverted_to": "crisis_center",
    }
    response = await supervisor.patch(f"/v1/calls/{call['id']}/outcome", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["outcome"], answer["diverted_to"]) == ("referred", "crisis_center")
    assert answer["disposition"] == "booked"  # left out: kept
    shown = await admin.get(f"/v1/calls/{call['id']}")
    assert shown.json()["outcome"] == "referred"
    assert response.headers["etag"] == shown.headers["etag"]
    after = await _report(admin)
    assert (after["justice_involved"], after["diverted_to_mh_services"]) == (0, 1)
    assert after["outcomes"]["arrest"] == 0
    assert after["outcomes"]["referred"] == 1
    # The trail says who, why, and what each field was and became.
    [entry] = (await admin.ok("GET", "/v1/audit?action=call.correct"))["items"]
    assert entry["resource_id"] == call["id"]
    assert entry["detail"] == {
        "reason": "typed arrest for referred",
        "changed": {
            "outcome": {"from": "arrest", "to": "referred"},
            "diverted_to": {"from": None, "to": "crisis_center"},
        },
    }
    # The CAD hears the record as it now stands.
    first, again = await _cleared_events(db)
    assert first["outcome"] == "arrest"
    assert (again["outcome"], again["diverted_to"]) == ("referred", "crisis_center")
    assert again["call_id"] == call["id"]


async def test_null_makes_the_outcome_unrecorded_and_flags_are_corrected_too(
    admin: Api,
) -> None:
    call = await _cleared(admin, use_of_force=True)
    body = {"reason": "recorded on the wrong call", "outcome": None, "use_of_force": False}
    answer = await admin.ok("PATCH", f"/v1/calls/{call['id']}/outcome", body)
    assert (answer["outcome"], answer["use_of_force"]) == (None, False)
    report = await _report(admin)
    assert report["outcomes"]["unrecorded"] == 1
    assert report["use_of_force"] == 0


async def test_a_correction_that_changes_nothing_is_recorded_and_sends_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    call = await _cleared(admin)
    body = {"reason": "checked with the officer: it stands", "outcome": "arrest"}
    await admin.ok("PATCH", f"/v1/calls/{call['id']}/outcome", body)
    [entry] = (await admin.ok("GET", "/v1/audit?action=call.correct"))["items"]
    assert entry["detail"]["changed"] == {}
    assert len(await _cleared_events(db)) == 1


@pytest.mark.parametrize("role", ["dispatcher", "integration", "viewer"])
async def test_only_admins_and_supervisors_correct_the_record(admin: Api, role: str) -> None:
    call = await _cleared(admin)
    other = await admin.with_role(role)
    body = {"reason": "x", "outcome": "referred"}
    response = await other.patch(f"/v1/calls/{call['id']}/outcome", body)
    assert response.status_code == 403
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["outcome"] == "arrest"


async def test_another_agencys_call_is_not_found(admin: Api, other_admin: Api) -> None:
    call = await _cleared(admin)
    body = {"reason": "x", "outcome": "referred"}
    response = await other_admin.patch(f"/v1/calls/{call['id']}/outcome", body)
    assert response.status_code == 404
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["outcome"] == "arrest"


async def test_a_call_not_cleared_is_a_409_that_changes_nothing(admin: Api) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    body = {"reason": "x", "outcome": "referred"}
    response = await admin.patch(f"/v1/calls/{call['id']}/outcome", body)
    assert response.status_code == 409
    assert "not cleared" in response.json()["detail"]
    shown = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert (shown["status"], shown["outcome"]) == ("pending", None)


@pytest.mark.parametrize(
    "body",
    [
        {"outcome": "referred"},  # no reason
        {"reason": "   ", "outcome": "referred"},
        {"reason": "x", "outcome": "released"},  # no such outcome
        {"reason": "x", "disposition": None},
        {"reason": "x", "use_of_force": "yes"},
        {"reason": "x", "notes": "appended"},
        {"reason": "x", "status": "pending"},
    ],
    ids=[
        "no-reason",
        "blank-reason",
        "unknown-outcome",
        "null-disposition",
        "string-flag",
        "notes",
        "status",
    ],
)
async def test_a_bad_correction_is_a_422_that_changes_nothing(
    admin: Api, body: dict[str, Any]
) -> None:
    call = await _cleared(admin)
    response = await admin.patch(f"/v1/calls/{call['id']}/outcome", body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["outcome"] == "arrest"
    entries = (await admin.ok("GET", "/v1/audit?action=call.correct"))["items"]
    assert [e["outcome"] for e in entries] == ["error"]


async def test_if_match_with_a_tag_read_before_a_change_is_a_412(admin: Api) -> None:
    call = await _cleared(admin)
    path = f"/v1/calls/{call['id']}/outcome"
    read = (await admin.get(f"/v1/calls/{call['id']}")).headers["etag"]
    first = await admin.patch(
        path, {"reason": "a", "outcome": "referred"}, headers={"If-Match": read}
    )
    assert first.status_code == 200
    stale = await admin.patch(
        path, {"reason": "b", "outcome": "citation"}, headers={"If-Match": read}
    )
    assert stale.status_code == 412
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["outcome"] == "referred"


async def test_a_refused_correction_keeps_who_tried_to_change_what_and_why(
    admin: Api, other_admin: Api
) -> None:
    """A supervisor's attempt to rewrite a record, refused, was in the trail with no
    detail: the auditor could not tell what they had tried, nor why."""
    cleared = await _cleared(admin)
    path = f"/v1/calls/{cleared['id']}/outcome"
    pending = await admin.ok("POST", "/v1/calls", {"district": "D2"}, 201)
    stale = (await admin.get(f"/v1/calls/{cleared['id']}")).headers["etag"]
    await admin.ok("PATCH", path, {"reason": "first", "use_of_force": True})
    tries = [
        (admin, f"/v1/calls/{pending['id']}/outcome", {}, 409),
        (admin, path, {"If-Match": stale}, 412),
        (other_admin, path, {}, 404),
    ]
    for api, url, headers, status in tries:
        body = {"reason": f"tried {status}", "outcome": "referred", "diverted_to": None}
        answered = await api.patch(url, body, headers=headers)
        assert answered.status_code == status
        [entry] = [
            e
            for e in (await api.ok("GET", "/v1/audit?action=call.correct"))["items"]
            if e["outcome"] == "error"
        ][:1]
        assert entry["detail"] == {
            "reason": f"tried {status}",
            "requested": {"outcome": "referred", "diverted_to": None},
            # and why it was refused, as the answer said
            "error": {k: answered.json()[k] for k in ("status", "detail")}
            | {"problem": answered.json()["type"].rsplit("/", 1)[1]},
        }
    assert (await admin.ok("GET", f"/v1/calls/{cleared['id']}"))["outcome"] == "arrest"
