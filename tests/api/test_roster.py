from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from app.repositories import districts as district_repo
from app.repositories import shifts as shift_repo
from tests.helpers import (
    Api,
    add_co_responder,
    add_officer,
    add_shift,
    around_now,
    grid_districts,
    iso,
)


def _cert(
    sid: str, number: str, *, days_left: int = 300, started_days_ago: int = 30
) -> dict[str, object]:
    today = datetime.now(UTC).date()
    return {
        "state_officer_id": sid,
        "certification_number": number,
        "program": "State CIT 40h",
        "certified_on": str(today - timedelta(days=started_days_ago)),
        "expires_on": str(today + timedelta(days=days_left)),
        "volunteered": True,
    }


async def test_officer_shows_cit_certification_valid_today(admin: Api) -> None:
    officer = await admin.ok(
        "POST",
        "/v1/officers",
        {
            "state_officer_id": "UT-1",
            "badge_number": "11",
            "name": "Ana",
            "trainings": ["de_escalation"],
        },
        201,
    )
    assert officer["cit"] == {"certified": False, "certification_number": None, "expires_on": None}
    await admin.ok("POST", "/v1/certifications", _cert("UT-1", "C-1"), 201)
    fetched = await admin.ok("GET", f"/v1/officers/{officer['id']}")
    assert fetched["cit"]["certified"] is True
    assert fetched["cit"]["certification_number"] == "C-1"


async def test_expired_certification_does_not_count(admin: Api) -> None:
    officer = await admin.ok(
        "POST",
        "/v1/officers",
        {"state_officer_id": "UT-2", "badge_number": "12", "name": "Ben"},
        201,
    )
    await admin.ok(
        "POST", "/v1/certifications", _cert("UT-2", "OLD", days_left=-1, started_days_ago=800), 201
    )
    fetched = await admin.ok("GET", f"/v1/officers/{officer['id']}")
    assert fetched["cit"]["certified"] is False


async def test_certification_moves_with_the_officer_to_a_new_agency(
    admin: Api, other_admin: Api
) -> None:
    await admin.ok(
        "POST", "/v1/officers", {"state_officer_id": "UT-9", "badge_number": "1", "name": "Cy"}, 201
    )
    await admin.ok("POST", "/v1/certifications", _cert("UT-9", "C-9"), 201)
    await admin.ok(
        "PATCH",
        f"/v1/officers/{(await admin.ok('GET', '/v1/officers'))['items'][0]['id']}",
        {"active": False},
    )
    hired = await other_admin.ok(
        "POST",
        "/v1/officers",
        {"state_officer_id": "UT-9", "badge_number": "77", "name": "Cy"},
        201,
    )
    assert hired["cit"]["certified"] is True
    listed = await other_admin.ok("GET", "/v1/certifications?state_officer_id=UT-9")
    assert [c["certification_number"] for c in listed["items"]] == ["C-9"]


async def test_an_officer_leaving_mid_shift_may_take_a_badge_another_active_officer_holds(
    admin: Api,
) -> None:
    """One badge per active officer: a separation that renames the badge to one an active
    officer holds is taken, as the officer is no longer active (the review: ending the
    shift under way flushed the new badge while the officer was still active, a 500)."""
    await grid_districts(admin)
    await add_officer(admin, district="D1", call_sign="1A1")
    leaving = await add_officer(admin, district="D1", call_sign="1A2")
    body = {"badge_number": "B-1A1", "active": False}
    left = await admin.ok("PATCH", f"/v1/officers/{leaving}", body)
    assert (left["badge_number"], left["active"]) == ("B-1A1", False)
    [shift] = [s for s in (await admin.ok("GET", "/v1/shifts"))["items"] if s["call_sign"] == "1A2"]
    assert datetime.fromisoformat(shift["ends_at"]) <= datetime.now(UTC)
    # The shift ends at the moment of the separation, to the microsecond (it ended a few
    # ms before separated_at, and a reconciliation of the two did not meet).
    assert shift["ends_at"] == left["separated_at"]
    # Back while the other holds it: the clash the unique index keeps out, a 409.
    back = await admin.patch(f"/v1/officers/{leaving}", {"active": True})
    assert back.status_code == 409, back.text


async def test_a_certification_is_read_by_its_id_where_the_list_would_show_it(
    admin: Api, other_admin: Api
) -> None:
    """GET /v1/certifications/{id}: the agency's own record, another agency's record of
    someone it has hired (the one cross-agency read), and a 404 for anyone else's."""
    await admin.ok(
        "POST", "/v1/officers", {"state_officer_id": "UT-9", "badge_number": "1", "name": "Cy"}, 201
    )
    recorded = await admin.ok("POST", "/v1/certifications", _cert("UT-9", "C-9"), 201)
    path = f"/v1/certifications/{recorded['id']}"
    assert await admin.ok("GET", path) == recorded
    stranger = await other_admin.get(path)
    assert stranger.status_code == 404
    assert stranger.headers["content-type"] == "application/problem+json"
    assert "C-9" not in stranger.text
    await other_admin.ok(
        "POST", "/v1/officers", {"state_officer_id": "UT-9", "badge_number": "7", "name": "Cy"}, 201
    )
    assert await other_admin.ok("GET", path) == recorded
    assert (await admin.get(f"/v1/certifications/{uuid.uuid4()}")).status_code == 404
    assert (await admin.get("/v1/certifications/not-an-id")).status_code == 422


async def test_a_persons_id_names_them_whatever_the_case_of_its_letters(
    admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    """One agency writes the POST number "ut-case-1", another "UT-Case-1": the same person,
    whose certification follows them and makes them CIT, on the consoles and in the read
    model routing ranks from."""
    hired = await admin.ok(
        "POST",
        "/v1/officers",
        {"state_officer_id": "ut-case-1", "badge_number": "1", "name": "Di"},
        201,
    )
    assert hired["state_officer_id"] == "UT-CASE-1"
    recorded = await admin.ok("POST", "/v1/certifications", _cert("Ut-Case-1", "C-1"), 201)
    assert recorded["state_officer_id"] == "UT-CASE-1"
    # Still one person on the agency's active roster.
    twice = await admin.post(
        "/v1/officers", {"state_officer_id": "UT-CASE-1", "badge_number": "2", "name": "Di"}
    )
    assert twice.status_code == 409
    await admin.ok("PATCH", f"/v1/officers/{hired['id']}", {"active": False})

    await grid_districts(other_admin)
    moved = await add_officer(
        other_admin, district="D1", call_sign="1A31", state_officer_id="uT-cAsE-1"
    )
    assert (await other_admin.ok("GET", f"/v1/officers/{moved}"))["cit"]["certified"] is True
    units = (await other_admin.ok("GET", "/v1/units"))["items"]
    assert [u["cit_certified"] for u in units if u["responder_id"] == moved] == [True]
    for query in ("ut-CASE-1", "%20ut-case-1+"):
        listed = await other_admin.ok("GET", f"/v1/certifications?state_officer_id={query}")
        assert [c["certification_number"] for c in listed["items"]] == ["C-1"]
    stored = "SELECT array_agg(DISTINCT state_officer_id) FROM {} WHERE state_officer_id ILIKE $1"
    for table in ("officer", "certification"):
        assert await db.fetchval(stored.format(table), "ut-case-1") == ["UT-CASE-1"]


async def test_certification_for_a_person_never_employed_is_refused(
    admin: Api, db: asyncpg.Connection
) -> None:
    response = await admin.post("/v1/certifications", _cert("STRANGER", "C-1"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "state_officer_id"]
    assert await db.fetchval("SELECT count(*) FROM certification") == 0


async def test_a_certifications_dates_are_dates_not_times(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Whose 2 December would a time with a zone be? The agency's day is the date."""
    await admin.ok(
        "POST", "/v1/officers", {"state_officer_id": "UT-6", "badge_number": "6", "name": "Ed"}, 201
    )
    for field, value in (
        ("expires_on", "2030-12-02T00:00:00Z"),
        ("certified_on", "2026-01-01T12:00:00"),
        ("expires_on", "2030-12-02\n"),
        ("expires_on", "2030-12-2"),
    ):
        response = await admin.post("/v1/certifications", {**_cert("UT-6", "C-6"), field: value})
        assert response.status_code == 422, (field, value)
        assert response.json()["errors"][0]["loc"] == ["body", field]
    assert await db.fetchval("SELECT count(*) FROM certification") == 0


async def test_other_agencies_cannot_read_certifications_of_people_they_never_employed(
    admin: Api, other_admin: Api
) -> None:
    await admin.ok(
        "POST", "/v1/officers", {"state_officer_id": "UT-5", "badge_number": "5", "name": "Di"}, 201
    )
    await admin.ok("POST", "/v1/certifications", _cert("UT-5", "C-5"), 201)
    assert (await other_admin.ok("GET", "/v1/certifications"))["items"] == []
    assert (await other_admin.ok("GET", "/v1/certifications?state_officer_id=UT-5"))["items"] == []


async def test_only_an_admin_may_record_a_certification(admin: Api) -> None:
    await admin.ok(
        "POST", "/v1/officers", {"state_officer_id": "UT-6", "badge_number": "6", "name": "Ed"}, 201
    )
    supervisor = await admin.with_role("supervisor")
    response = await supervisor.post("/v1/certifications", _cert("UT-6", "C-6"))
    assert response.status_code == 403


async def test_a_certification_number_recorded_twice_is_a_409_naming_the_record(
    admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    await admin.ok(
        "POST",
        "/v1/officers",
        {"state_officer_id": "UT-40", "badge_number": "40", "name": "E"},
        201,
    )
    first = await admin.ok("POST", "/v1/certifications", _cert("UT-40", "C-40"), 201)
    # An agency that never employed the person learns nothing of the record: a 422.
    stranger = await other_admin.post("/v1/certifications", _cert("ut-40", "C-40"))
    assert stranger.status_code == 422, stranger.text
    assert "certification_id" not in stranger.json()
    # The person's next agency records it again, their id in another case.
    await grid_districts(other_admin)
    await add_officer(other_admin, district="D1", call_sign="1A40", state_officer_id="ut-40")
    for api in (admin, other_admin):
        twice = await api.post("/v1/certifications", _cert("ut-40", "C-40"))
        assert twice.status_code == 409, twice.text
        assert twice.json()["certification_id"] == first["id"]
        assert twice.json()["detail"] == (
            f"certification {first['id']} already records that number for this person"
        )
    assert await db.fetchval("SELECT count(*) FROM certification") == 1
    # Another number for the same person is another certificate (recorded by the agency
    # that employed them first: the other one's post began later, docs/routing.md).
    await admin.ok("POST", "/v1/certifications", _cert("UT-40", "C-41"), 201)


async def test_state_officer_id_is_unique_among_active_officers_only(admin: Api) -> None:
    body = {"state_officer_id": "UT-3", "badge_number": "13", "name": "Cal"}
    first = await admin.ok("POST", "/v1/officers", body, 201)
    again = await admin.post("/v1/officers", {**body, "badge_number": "14"})
    assert again.status_code == 409
    separated = await admin.ok("PATCH", f"/v1/officers/{first['id']}", {"active": False})
    assert separated["active"] is False
    assert separated["separated_at"] is not None
    await admin.ok("POST", "/v1/officers", {**body, "badge_number": "14"}, 201)


async def test_a_clash_with_an_active_officer_names_the_field_and_the_officer(
    admin: Api,
) -> None:
    holder = await admin.ok(
        "POST", "/v1/officers", {"state_officer_id": "UT-7", "badge_number": "17", "name": "A"}, 201
    )
    other = await admin.ok(
        "POST", "/v1/officers", {"state_officer_id": "UT-8", "badge_number": "18", "name": "B"}, 201
    )
    clashes = [
        ("POST", "/v1/officers", {"state_officer_id": "UT-9", "badge_number": "17", "name": "C"}),
        ("PATCH", f"/v1/officers/{other['id']}", {"badge_number": "17"}),
    ]
    for method, path, body in clashes:
        response = await admin.client.request(method, path, json=body, headers=admin.headers)
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["detail"] == f"officer {holder['id']} is active with this badge_number"
        assert problem["officer_id"] == holder["id"]
    same_person = {"state_officer_id": "ut-7", "badge_number": "27", "name": "A"}
    response = await admin.post("/v1/officers", same_person)
    assert response.status_code == 409, response.text
    assert response.json()["detail"] == (
        f"officer {holder['id']} is active with this state_officer_id"
    )
    assert response.json()["officer_id"] == holder["id"]
    assert (await admin.ok("GET", f"/v1/officers/{other['id']}"))["badge_number"] == "18"
    listed = await admin.ok("GET", "/v1/officers")
    assert sorted(o["name"] for o in listed["items"]) == ["A", "B"]


async def test_reactivating_an_officer_whose_id_is_taken_again_is_409(admin: Api) -> None:
    body = {"state_officer_id": "UT-4", "badge_number": "15", "name": "Dee"}
    first = await admin.ok("POST", "/v1/officers", body, 201)
    await admin.ok("PATCH", f"/v1/officers/{first['id']}", {"active": False})
    again = await admin.ok("POST", "/v1/officers", {**body, "badge_number": "16"}, 201)
    response = await admin.patch(f"/v1/officers/{first['id']}", {"active": True, "name": "D"})
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["officer_id"] == again["id"]
    unchanged = await admin.ok("GET", f"/v1/officers/{first['id']}")
    assert (unchanged["active"], unchanged["name"]) == (False, "Dee")


async def test_a_unit_on_a_call_cannot_be_deactivated_until_released(admin: Api) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    for path in (f"/v1/officers/{officer}", f"/v1/co-responders/{co}"):
        refused = await admin.patch(path, {"active": False})
        assert refused.status_code == 409
        assert call["id"] in refused.json()["detail"]
        assert (await admin.ok("GET", path))["active"] is True
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    assert (await admin.ok("PATCH", f"/v1/co-responders/{co}", {"active": False}))[
        "active"
    ] is False
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
    assert (await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": False}))[
        "active"
    ] is False


async def test_a_unit_busy_on_a_cad_incident_cannot_be_deactivated_until_free(admin: Api) -> None:
    """Deactivated while the CAD had it on scene of its own incident, the unit left the units
    board still busy (the review), where cancelling its only shift is refused for that."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1")
    path = f"/v1/officers/{officer}"
    busy = {"status": "on_scene", "external_incident": "B-42"}
    await admin.ok("PUT", f"{path}/status", busy)
    refused = await admin.patch(path, {"active": False})
    assert refused.status_code == 409, refused.text
    assert "B-42" in refused.json()["detail"]
    assert (await admin.ok("GET", path))["active"] is True
    await admin.ok("PUT", f"{path}/status", {"status": "available"})
    assert (await admin.ok("PATCH", path, {"active": False}))["active"] is False
    # Nor does a report make the separated unit busy, to show so once reactivated.
    again = await admin.put(f"{path}/status", {"status": "en_route", "external_incident": "B-43"})
    assert again.status_code == 409, again.text
    assert "not active" in again.json()["detail"]
    await admin.ok("PUT", f"{path}/status", {"status": "out_of_service"})
    back = await admin.ok("PATCH", path, {"active": True})
    assert back["status"] == "out_of_service"


async def test_status_update_records_location(admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    officer_id = await add_officer(admin, district="D1", call_sign="1A1")
    out = await admin.ok(
        "PUT",
        f"/v1/officers/{officer_id}/status",
        {"status": "available", "location": {"lat": 40.7, "lon": -111.9}},
    )
    assert out["status"] == "available"
    assert out["location"] == {"lat": 40.7, "lon": -111.9}


async def test_unit_key_may_set_only_its_own_status(admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    mine = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    other = await add_co_responder(admin, district="D1", call_sign="MCT-2")
    unit = await admin.with_role("unit", responder_id=mine)  # type: ignore[arg-type]
    ok = await unit.put(f"/v1/co-responders/{mine}/status", {"status": "out_of_service"})
    assert ok.status_code == 200
    denied = await unit.put(f"/v1/co-responders/{other}/status", {"status": "out_of_service"})
    assert denied.status_code == 403
    me = await unit.ok("GET", "/v1/units/me")
    assert me["unit"]["call_sign"] == "MCT-1"
    assert me["unit"]["status"] == "out_of_service"


async def test_a_separation_revokes_the_units_keys_for_good(admin: Api) -> None:
    """A terminal key must not outlive the post: CJIS wants access ended with employment."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    officer = await add_officer(admin, district="D1", call_sign="1A1")
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    stays = await add_co_responder(admin, district="D1", call_sign="MCT-2")
    terminals = {
        unit: await admin.with_role("unit", responder_id=unit)  # type: ignore[arg-type]
        for unit in (officer, co, stays)
    }
    for unit, terminal in terminals.items():
        assert (await terminal.get("/v1/units/me")).status_code == 200, unit
        hook = {"url": "https://127.0.0.1/mdt-hook", "events": ["unit.assigned"]}
        await admin.ok("POST", "/v1/webhooks", {**hook, "responder_id": unit}, 201)
    supervisor = await admin.with_role("supervisor")
    await supervisor.ok("PATCH", f"/v1/officers/{officer}", {"active": False})
    await admin.ok("PATCH", f"/v1/co-responders/{co}", {"active": False})
    # Each key revoked and each terminal subscription disabled is in the trail as such,
    # naming why, and the terminal's webhooks stop with its keys.
    for action in ("api_key.revoke", "webhook.disable"):
        trail = (await admin.ok("GET", f"/v1/audit?action={action}"))["items"]
        assert sorted(e["detail"]["responder_id"] for e in trail) == sorted([officer, co])
        assert {e["detail"]["reason"] for e in trail} == {"responder deactivated"}
        assert {e["role"] for e in trail} == {"supervisor", "admin"}
    hooks = {h["responder_id"]: h for h in (await admin.ok("GET", "/v1/webhooks"))["items"]}
    assert [hooks[u]["active"] for u in (officer, co, stays)] == [False, False, True]
    assert hooks[officer]["disabled_reason"] == "responder deactivated"
    for unit, path in ((officer, "officers"), (co, "co-responders")):
        terminal = terminals[unit]
        # Refused at once, as a revoked key is: status reports, stream tickets, reads.
        status = await terminal.put(f"/v1/{path}/{unit}/status", {"status": "on_scene"})
        assert status.status_code == 401
        assert (await terminal.post("/v1/stream/tickets", {})).status_code == 401
        # A new one is refused too, and coming back does not revive the old one.
        refused = await admin.post("/v1/api-keys", {"role": "unit", "responder_id": unit})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["loc"] == ["body", "responder_id"]
        await admin.ok("PATCH", f"/v1/{path}/{unit}", {"active": True})
        assert (await terminal.get("/v1/units/me")).status_code == 401
        await admin.ok("POST", "/v1/api-keys", {"role": "unit", "responder_id": unit}, 201)
    # Another unit's terminal keeps working.
    assert (await terminals[stays].get("/v1/units/me")).status_code == 200
    revoked = [k for k in (await admin.ok("GET", "/v1/api-keys"))["items"] if k["revoked_at"]]
    assert sorted(k["responder_id"] for k in revoked) == sorted([officer, co])


async def test_a_separation_that_keeps_finding_a_new_shift_gives_up_and_changes_nothing(
    admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A separation looks for the shift under way again once it holds the unit's row; while
    each look finds another (shifts created as it looked), it gives up after three with a
    503 the console may retry, and nothing of it is kept: the officer active, on its
    shift, its terminal's key working."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    officer = await add_officer(admin, district="D1", call_sign="1A1")
    terminal = await admin.with_role("unit", responder_id=officer)  # type: ignore[arg-type]
    looks = []

    async def another_each_time(*args: Any, **kwargs: Any) -> uuid.UUID:
        looks.append(kwargs["responder_id"])
        return uuid.uuid4()

    monkeypatch.setattr(shift_repo, "current_shift_id", another_each_time)
    refused = await admin.patch(f"/v1/officers/{officer}", {"active": False})
    assert refused.status_code == 503
    assert refused.json()["type"].endswith("/rolled-back")
    assert looks == [uuid.UUID(officer)] * 3
    monkeypatch.undo()
    assert (await admin.ok("GET", f"/v1/officers/{officer}"))["active"] is True
    [unit] = (await admin.ok("GET", "/v1/units"))["items"]
    assert (unit["responder_id"], unit["call_sign"]) == (officer, "1A1")
    assert (await terminal.get("/v1/units/me")).status_code == 200
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": False})
    assert (await admin.ok("GET", "/v1/units"))["items"] == []


async def test_keys_made_while_the_unit_is_deactivated_never_outlive_it(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Key creation read `active` unlocked: keys made at the moment of a deactivation
    committed valid after it had revoked the others (outside-in check: 8 runs of 8)."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    for round_ in range(8):
        body = {"state_officer_id": f"RACE-{round_}", "badge_number": f"R{round_}", "name": "R"}
        officer = (await admin.ok("POST", "/v1/officers", body, 201))["id"]
        key = {"role": "unit", "responder_id": officer}
        answers = await asyncio.gather(
            *(admin.post("/v1/api-keys", key) for _ in range(6)),
            admin.patch(f"/v1/officers/{officer}", {"active": False}),
        )
        assert {a.status_code for a in answers[:6]} <= {201, 422}
        assert answers[6].status_code == 200
        valid = await db.fetchval(
            "SELECT count(*) FROM api_key WHERE responder_id = $1 AND revoked_at IS NULL",
            uuid.UUID(officer),
        )
        assert valid == 0, round_


async def test_terminal_webhooks_for_a_deactivated_unit_are_refused_even_at_that_moment(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A subscription made for a separated officer was accepted, and one made at the moment
    of a deactivation could outlive it (outside-in check: 4 of 8 stayed active)."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    hook = {"url": "https://127.0.0.1/mdt-hook", "events": ["unit.assigned"]}
    for round_ in range(8):
        body = {"state_officer_id": f"HOOK-{round_}", "badge_number": f"H{round_}", "name": "H"}
        officer = (await admin.ok("POST", "/v1/officers", body, 201))["id"]
        answers = await asyncio.gather(
            *(admin.post("/v1/webhooks", {**hook, "responder_id": officer}) for _ in range(6)),
            admin.patch(f"/v1/officers/{officer}", {"active": False}),
        )
        assert {a.status_code for a in answers[:6]} <= {201, 422}
        assert answers[6].status_code == 200
        active = await db.fetchval(
            "SELECT count(*) FROM webhook_subscription WHERE responder_id = $1 AND active",
            uuid.UUID(officer),
        )
        assert active == 0, round_
        refused = await admin.post("/v1/webhooks", {**hook, "responder_id": officer})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["loc"] == ["body", "responder_id"]


async def _clinician_in_two_days(api: Api) -> dict[str, str]:
    """A new clinician's 8-hour shift in D1 two days from now, as a shift's body."""
    co = await api.ok(
        "POST", "/v1/co-responders", {"name": "C", "kind": "clinician", "provider": "P"}, 201
    )
    later = datetime.now(UTC) + timedelta(days=2)
    return {
        "responder_type": "co_responder",
        "responder_id": co["id"],
        "call_sign": "M1",
        "district": "D1",
        "starts_at": later.isoformat(),
        "ends_at": (later + timedelta(hours=8)).isoformat(),
    }


async def test_overlapping_shift_is_409_and_bulk_is_all_or_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    officer_id = await add_officer(admin, district="D1", call_sign="1A1")
    starts, ends = around_now(1, 1)
    overlap = await admin.post(
        "/v1/shifts",
        {
            "responder_type": "officer",
            "responder_id": officer_id,
            "call_sign": "1A1",
            "district": "D1",
            "starts_at": starts,
            "ends_at": ends,
        },
    )
    assert overlap.status_code == 409
    # It names the shift it overlaps, so a coordinator can find it.
    [on_shift] = (await admin.ok("GET", "/v1/shifts"))["items"]
    assert overlap.json()["shift_id"] == on_shift["id"]
    assert overlap.json()["detail"] == (
        f"the shift overlaps shift {on_shift['id']} of the same responder,"
        f" {on_shift['starts_at']} to {on_shift['ends_at']}"
    )
    good = await _clinician_in_two_days(admin)
    clash = {
        **good,
        "responder_type": "officer",
        "responder_id": officer_id,
        "starts_at": starts,
        "ends_at": ends,
    }
    before = await db.fetchval("SELECT count(*) FROM shift")
    bulk = await admin.post("/v1/shifts/bulk", {"shifts": [good, clash]})
    assert bulk.status_code == 409
    assert bulk.json()["detail"].startswith(f"shift 1 overlaps shift {on_shift['id']} ")
    assert bulk.json()["shift_id"] == on_shift["id"]
    # Two shifts of one request that overlap each other: the second names the first.
    twice = await admin.post("/v1/shifts/bulk", {"shifts": [good, good]})
    assert twice.status_code == 409
    assert twice.json()["detail"] == "shift 1 overlaps shift 0 of this request"
    assert "shift_id" not in twice.json()
    assert await db.fetchval("SELECT count(*) FROM shift") == before
    created = await admin.ok("POST", "/v1/shifts/bulk", {"shifts": [good]}, 201)
    assert created["items"][0]["call_sign"] == "M1"


async def test_an_unknown_district_of_a_shift_is_a_422_naming_where_it_is(
    admin: Api, db: asyncpg.Connection
) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    co = await admin.ok(
        "POST", "/v1/co-responders", {"name": "C", "kind": "clinician", "provider": "P"}, 201
    )
    starts, ends = around_now(1, 1)
    shift = {
        "responder_type": "co_responder",
        "responder_id": co["id"],
        "call_sign": "M1",
        "district": "D1",
        "starts_at": starts,
        "ends_at": ends,
    }
    cases = [
        ("/v1/shifts", {**shift, "district": "D9"}, ["body", "district"]),
        ("/v1/shifts", {**shift, "also_covers": ["D9"]}, ["body", "also_covers"]),
        (
            "/v1/shifts/bulk",
            {"shifts": [{**shift, "also_covers": ["D8"]}]},
            ["body", "shifts", 0, "also_covers"],
        ),
    ]
    for path, body, loc in cases:
        refused = await admin.post(path, body)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["loc"] == loc
    assert await db.fetchval("SELECT count(*) FROM shift") == 0


async def test_a_bulk_shift_whose_district_is_deleted_meanwhile_is_a_409_and_writes_nothing(
    admin: Api, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    for code in ("D1", "D2"):
        await admin.ok("POST", "/v1/districts", {"code": code, "name": code}, 201)
    first = await _clinician_in_two_days(admin)
    later = datetime.fromisoformat(first["starts_at"]) + timedelta(days=1)
    second = {
        **first,
        "district": "D2",
        "starts_at": later.isoformat(),
        "ends_at": (later + timedelta(hours=8)).isoformat(),
    }
    read = district_repo.by_codes

    async def deleted_after_reading(*args: Any, **kwargs: Any) -> Any:
        # Another coordinator deletes D2 (no shift yet) once this request has found it.
        found = await read(*args, **kwargs)
        await db.execute("DELETE FROM district WHERE code = 'D2'")
        return found

    monkeypatch.setattr(district_repo, "by_codes", deleted_after_reading)
    refused = await admin.post("/v1/shifts/bulk", {"shifts": [first, second]})
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "the shift's districts changed meanwhile: read them again, and retry"
    )
    assert "shift_id" not in refused.json()
    # Neither shift is kept, not even the one in D1 written before.
    assert await db.fetchval("SELECT count(*) FROM shift") == 0
    monkeypatch.undo()
    [d1] = (await admin.ok("POST", "/v1/shifts/bulk", {"shifts": [first]}, 201))["items"]
    assert d1["district"] == "D1"


async def test_shift_longer_than_24h_or_backwards_is_422(admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    co = await admin.ok(
        "POST", "/v1/co-responders", {"name": "C", "kind": "clinician", "provider": "P"}, 201
    )
    now = datetime.now(UTC)
    base = {
        "responder_type": "co_responder",
        "responder_id": co["id"],
        "call_sign": "M",
        "district": "D1",
    }
    too_long = {
        **base,
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=25)).isoformat(),
    }
    backwards = {
        **base,
        "starts_at": now.isoformat(),
        "ends_at": (now - timedelta(hours=1)).isoformat(),
    }
    assert (await admin.post("/v1/shifts", too_long)).status_code == 422
    assert (await admin.post("/v1/shifts", backwards)).status_code == 422


async def test_a_shift_too_long_is_told_its_length_as_on_the_day_the_clocks_go_back(
    admin: Api,
) -> None:
    """Midnight to midnight in Denver on 7 November 2027, when the clocks go back, is 25
    hours: the 422 says so. It said only "a shift lasts at most 24 hours" to a coordinator
    who had written a day (the coordinator's check)."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    co = await admin.ok(
        "POST", "/v1/co-responders", {"name": "C", "kind": "clinician", "provider": "P"}, 201
    )
    day = {
        "responder_type": "co_responder",
        "responder_id": co["id"],
        "call_sign": "M",
        "district": "D1",
        "starts_at": "2027-11-07T00:00:00-06:00",
        "ends_at": "2027-11-08T00:00:00-07:00",
    }
    answer = await admin.post("/v1/shifts", day)
    assert answer.status_code == 422, answer.text
    told = "a shift lasts at most 24 hours; this one lasts 25 hours"
    assert answer.json()["errors"][0]["msg"] == told
    made = await admin.ok(
        "POST", "/v1/shifts", {**day, "ends_at": "2027-11-07T23:00:00-07:00"}, 201
    )
    longer = {"ends_at": "2027-11-08T00:30:00-07:00"}
    answer = await admin.patch(f"/v1/shifts/{made['id']}", longer)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["msg"] == told.replace("25 hours", "25.5 hours")
    barely = {"ends_at": "2027-11-08T00:00:01-06:00"}
    answer = await admin.patch(f"/v1/shifts/{made['id']}", barely)
    assert answer.json()["errors"][0]["msg"] == told.replace("25", "more than 24")


async def test_a_roster_patch_naming_a_field_set_elsewhere_says_how_it_changes(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A coordinator hands a departed officer's shift to another (`responder_id`), or fixes
    a person's id or a certification's number, by PATCH: each was told "Extra inputs are not
    permitted", as a misspelt field is (the coordinator's check). A field of the resource
    that its PATCH does not take says how it changes; one it does not have lists those the
    PATCH takes. Nothing changes."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    other = await add_officer(admin, district="D2", call_sign="2A1")
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    starts = datetime.now(UTC) + timedelta(days=3)
    shift = await admin.ok(
        "POST",
        "/v1/shifts",
        {
            "responder_type": "officer",
            "responder_id": officer,
            "call_sign": "1A1",
            "district": "D1",
            "starts_at": iso(starts),
            "ends_at": iso(starts + timedelta(hours=8)),
        },
        201,
    )
    shown = await admin.ok("GET", f"/v1/officers/{officer}")
    [cert] = (
        await admin.ok("GET", f"/v1/certifications?state_officer_id={shown['state_officer_id']}")
    )["items"]

    async def refused(url: str, body: dict[str, Any]) -> dict[str, str]:
        response = await admin.patch(url, body)
        assert response.status_code == 422, response.text
        return {".".join(map(str, e["loc"])): e["msg"] for e in response.json()["errors"]}

    handed = await refused(f"/v1/shifts/{shift['id']}", {"responder_id": other})
    assert "DELETE /v1/shifts/{id}" in handed["body.responder_id"]
    assert "POST /v1/shifts" in handed["body.responder_id"]
    misspelt = await refused(f"/v1/shifts/{shift['id']}", {"call_sing": "1A9"})
    assert misspelt["body.call_sing"] == (
        "Unknown field: a shift's PATCH takes call_sign, district, also_covers, starts_at, ends_at;"
        " did you mean call_sign?"
    )
    person = await refused(f"/v1/officers/{officer}", {"state_officer_id": "S-9"})
    assert "POST /v1/officers" in person["body.state_officer_id"]
    separated = await refused(f"/v1/officers/{officer}", {"separated_at": iso(starts)})
    assert '{"active": false}' in separated["body.separated_at"]
    status = await refused(f"/v1/co-responders/{co}", {"status": "available"})
    assert "PUT /v1/co-responders/{id}/status" in status["body.status"]
    number = await refused(f"/v1/certifications/{cert['id']}", {"certification_number": "X"})
    assert "POST /v1/certifications" in number["body.certification_number"]
    # Every field of each representation that its PATCH does not take says so.
    shift_takes = {"call_sign", "district", "also_covers", "starts_at", "ends_at"}
    for url, whole, takes in (
        (f"/v1/shifts/{shift['id']}", shift, shift_takes),
        (f"/v1/officers/{officer}", shown, {"badge_number", "name", "trainings", "active"}),
        (
            f"/v1/co-responders/{co}",
            await admin.ok("GET", f"/v1/co-responders/{co}"),
            {"name", "kind", "provider", "specialties", "active"},
        ),
        (
            f"/v1/certifications/{cert['id']}",
            cert,
            {"certified_on", "expires_on", "program", "volunteered"},
        ),
    ):
        messages = await refused(url, {k: v for k, v in whole.items() if k not in takes})
        assert set(messages) == {f"body.{k}" for k in whole if k not in takes}, url
        assert not any("Extra inputs" in m or m.startswith("Unknown") for m in messages.values())
    listed = (await admin.ok("GET", "/v1/shifts?district=D1&limit=500"))["items"]
    assert shift in listed
    assert await admin.ok("GET", f"/v1/officers/{officer}") == shown


async def test_shift_filters_by_district_and_instant(admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    await admin.ok("POST", "/v1/districts", {"code": "D2", "name": "y"}, 201)
    await add_co_responder(admin, district="D1", call_sign="M1", also_covers=["D2"])
    await add_officer(admin, district="D2", call_sign="2A1")
    in_d2 = await admin.ok("GET", "/v1/shifts?district=D2")
    assert sorted(s["call_sign"] for s in in_d2["items"]) == ["2A1", "M1"]
    in_d1 = await admin.ok("GET", "/v1/shifts?district=D1")
    assert [s["call_sign"] for s in in_d1["items"]] == ["M1"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert (await admin.ok("GET", f"/v1/shifts?at={tomorrow}"))["items"] == []


async def test_units_read_model_lists_everyone_on_shift_now(admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    await admin.ok("POST", "/v1/districts", {"code": "D2", "name": "y"}, 201)
    await add_officer(
        admin,
        district="D1",
        call_sign="1A1",
        cit=True,
        trainings=["mh_awareness"],
        location=(40.7, -111.9),
    )
    await add_co_responder(admin, district="D2", call_sign="M2", specialties=["youth"])
    units = (await admin.ok("GET", "/v1/units"))["items"]
    by_sign = {u["call_sign"]: u for u in units}
    assert by_sign["1A1"]["cit_certified"] is True
    assert by_sign["1A1"]["trainings"] == ["mh_awareness"]
    assert by_sign["1A1"]["location"] == {"lat": 40.7, "lon": -111.9}
    assert by_sign["M2"]["specialties"] == ["youth"]
    assert by_sign["M2"]["active_call_id"] is None
    only_d2 = (await admin.ok("GET", "/v1/units?district=D2"))["items"]
    assert [u["call_sign"] for u in only_d2] == ["M2"]


async def test_policy_put_makes_a_new_version_and_validates(admin: Api) -> None:
    first = await admin.ok("GET", "/v1/policy")
    assert first["version"] == 1
    assert first["speed_kmh"] == 40
    body = {
        **{k: first[k] for k in ("safety_flags", "nature_flags", "le_backup_for_mh_lead")},
        "adjacency_depth": 2,
        "speed_kmh": 55,
        "version": 99,
    }
    second = await admin.ok("PUT", "/v1/policy", body)
    assert second["version"] == 2
    assert second["adjacency_depth"] == 2
    for speed in (0, 1e-300, 4.9):  # below walking pace, ETAs would be meaningless
        assert (await admin.put("/v1/policy", {**body, "speed_kmh": speed})).status_code == 422
    assert (await admin.put("/v1/policy", {**body, "adjacency_depth": 4})).status_code == 422
    assert (await admin.put("/v1/policy", {**body, "adjacency_depth": "2"})).status_code == 422
    assert (await admin.put("/v1/policy", {**body, "adjacency_depth": True})).status_code == 422
    assert (await admin.put("/v1/policy", {**body, "adjacency_depth": 2.5})).status_code == 422
    # JSON Schema's type: integer includes 2.0.
    third = await admin.ok("PUT", "/v1/policy", {**body, "adjacency_depth": 2.0})
    assert third["adjacency_depth"] == 2
    assert (
        await admin.put("/v1/policy", {**body, "safety_flags": ["sharp_stick"]})
    ).status_code == 422
    # No policy may stop a weapon or violence from making a safety concern.
    for flags in ([], ["weapon"], ["violence", "threat_to_others"]):
        refused = await admin.put("/v1/policy", {**body, "safety_flags": flags})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["loc"] == ["body", "safety_flags"]
    fewest = await admin.ok("PUT", "/v1/policy", {**body, "safety_flags": ["violence", "weapon"]})
    assert fewest["safety_flags"] == ["violence", "weapon"]
    dispatcher = await admin.with_role("dispatcher")
    assert (await dispatcher.put("/v1/policy", body)).status_code == 403
    assert (await admin.ok("GET", "/v1/policy"))["version"] == 4


async def test_the_program_fields_of_the_policy_are_validated_versioned_and_kept(
    admin: Api,
) -> None:
    first = await admin.ok("GET", "/v1/policy")
    assert {
        k: first[k]
        for k in (
            "coverage_target_cit",
            "coverage_target_co_responders",
            "cit_share_target_pct",
            "coverage_alert_days",
        )
    } == {
        "coverage_target_cit": 1,
        "coverage_target_co_responders": 1,
        "cit_share_target_pct": 20,
        "coverage_alert_days": 7,
    }
    assert first["eido_incident_types"] == ["EDP", "MNTL", "MTLV", "SUICIDE", "SUICTHRT", "WELFARE"]
    routing = ("safety_flags", "nature_flags", "le_backup_for_mh_lead", "adjacency_depth")
    old_client = {**{k: first[k] for k in routing}, "speed_kmh": 40}
    changed = await admin.ok(
        "PUT",
        "/v1/policy",
        {
            **old_client,
            "coverage_target_cit": 2,
            "coverage_target_co_responders": 0,
            "cit_share_target_pct": 25,
            "coverage_alert_days": 14,
            "eido_incident_types": ["mntl", "EDP", "MNTL"],
        },
    )
    assert changed["version"] == 2
    assert changed["coverage_target_cit"] == 2
    assert changed["coverage_target_co_responders"] == 0
    assert changed["cit_share_target_pct"] == 25
    assert changed["coverage_alert_days"] == 14
    assert changed["eido_incident_types"] == ["EDP", "MNTL"]
    for bad in (
        {"coverage_target_cit": 0},
        {"coverage_target_co_responders": -1},
        {"cit_share_target_pct": 101},
        {"coverage_alert_days": 61},
        {"coverage_alert_days": "7"},
        {"eido_incident_types": ["MNTL; DROP"]},
        # Null is no value, as for the routing fields; it was taken for "left out".
        {"coverage_target_cit": None},
        {"eido_incident_types": None},
    ):
        response = await admin.put("/v1/policy", {**old_client, **bad})
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["loc"][:2] == ["body", next(iter(bad))]
    # A client that does not know the program fields keeps them as they are.
    kept = await admin.ok("PUT", "/v1/policy", old_client)
    assert kept["version"] == 3
    assert kept["coverage_target_cit"] == 2
    assert kept["eido_incident_types"] == ["EDP", "MNTL"]
    # What GET returns, PUT accepts (created_at aside).
    current = await admin.ok("GET", "/v1/policy")
    del current["created_at"]
    assert (await admin.ok("PUT", "/v1/policy", current))["version"] == 4


async def test_shifts_in_a_window_are_those_overlapping_it(admin: Api) -> None:
    # One that began a day before the window and runs into it is in it; one that ended
    # before it, or begins at its end, is not.
    await grid_districts(admin)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
    spans = {
        "runs-in": (start - timedelta(hours=23), start + timedelta(hours=1)),
        # The longest a shift may be, into the window by a second.
        "a-day-long": (start - timedelta(hours=24, seconds=-1), start + timedelta(seconds=1)),
        "before": (start - timedelta(hours=30), start - timedelta(hours=6)),
        "ends-at-start": (start - timedelta(hours=8), start),
        "inside": (start + timedelta(hours=2), start + timedelta(hours=10)),
        "at-the-end": (start + timedelta(hours=12), start + timedelta(hours=20)),
    }
    for n, (call_sign, (starts_at, ends_at)) in enumerate(spans.items()):
        officer = await admin.ok(
            "POST",
            "/v1/officers",
            {"state_officer_id": f"W-{n}", "badge_number": f"W{n}", "name": call_sign},
            201,
        )
        await add_shift(
            admin,
            "officer",
            officer["id"],
            call_sign=call_sign,
            district="D1",
            starts_at=starts_at,
            ends_at=ends_at,
        )
    window = {"from": iso(start), "to": iso(start + timedelta(hours=12))}
    for query in (window, {**window, "district": "D1"}):
        response = await admin.get("/v1/shifts", params=query)
        assert response.status_code == 200, response.text
        listed = response.json()["items"]
        assert sorted(s["call_sign"] for s in listed) == ["a-day-long", "inside", "runs-in"]


async def test_a_language_is_one_specialty_whatever_the_case_it_is_written_in(
    admin: Api,
) -> None:
    """A BCP 47 tag's case carries no meaning: kept in its canonical case, so the program
    report counts Spanish once however each co-responder's record wrote it."""

    async def co_responder(name: str, specialties: list[str]) -> Any:
        body = {"name": name, "kind": "clinician", "provider": "P", "specialties": specialties}
        return await admin.ok("POST", "/v1/co-responders", body, 201)

    one = await co_responder("A", ["youth", "language:ES-mx", "language:es-MX", "language:ES"])
    assert one["specialties"] == ["language:es", "language:es-MX", "youth"]
    two = await co_responder("B", ["language:es"])
    changed = await admin.ok(
        "PATCH",
        f"/v1/co-responders/{two['id']}",
        {"specialties": ["language:ES", "language:X-Tlh"]},
    )
    assert changed["specialties"] == ["language:es", "language:x-tlh"]
    report = await admin.ok("GET", "/v1/program")
    assert report["co_responders"]["by_specialty"] == {
        "language:es": 2,
        "language:es-MX": 1,
        "language:x-tlh": 1,
        "youth": 1,
    }
    for wrong in ("language:e", "language:x", "Language:es", "language:es_MX"):
        refused = await admin.post(
            "/v1/co-responders",
            {"name": "C", "kind": "clinician", "provider": "P", "specialties": [wrong]},
        )
        assert refused.status_code == 422, wrong
        assert refused.json()["errors"][0]["loc"] == ["body", "specialties", 0]
