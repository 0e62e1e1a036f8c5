"""GET /v1/audit: every write, call read, override, denial and failed authentication."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from fastapi import FastAPI

from app.services import housekeeping
from tests.helpers import Api, add_co_responder, add_officer, grid_districts


async def _entries(api: Api, **filters: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    items: list[dict[str, Any]] = (await api.ok("GET", f"/v1/audit?{query}"))["items"]
    return items


async def _key_id(db: asyncpg.Connection, api: Api) -> str:
    prefix = api.key.split("_")[1]
    return str(await db.fetchval("SELECT id FROM api_key WHERE prefix = $1", prefix))


async def test_a_write_is_recorded_with_who_what_and_the_request_id(
    admin: Api, db: asyncpg.Connection
) -> None:
    response = await admin.client.post(
        "/v1/districts",
        json={"code": "D7", "name": "North"},
        headers={**admin.headers, "X-Request-ID": "req-d7"},
    )
    assert response.status_code == 201
    [entry] = await _entries(admin, action="district.create")
    assert entry["resource_type"] == "district"
    assert entry["resource_id"] == "D7"
    assert entry["outcome"] == "success"
    assert entry["role"] == "admin"
    assert entry["key_id"] == await _key_id(db, admin)
    assert entry["request_id"] == "req-d7"
    assert datetime.fromisoformat(entry["at"]) > datetime.now(UTC) - timedelta(minutes=1)


async def test_a_roster_change_is_recorded_with_each_field_before_and_after(admin: Api) -> None:
    # A separation and a rename must not look alike in the trail.
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1")
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await admin.ok(
        "PATCH", f"/v1/officers/{officer}", {"name": "Officer Lee", "badge_number": "B-9"}
    )
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": False, "name": "Officer Lee"})
    await admin.ok("PATCH", f"/v1/co-responders/{co}", {"specialties": ["youth", "veterans"]})
    separated, renamed = await _entries(admin, action="officer.update")
    assert renamed["resource_id"] == separated["resource_id"] == officer
    assert renamed["detail"]["changed"] == {
        "name": {"from": "Officer 1A1", "to": "Officer Lee"},
        "badge_number": {"from": "B-1A1", "to": "B-9"},
    }
    assert separated["detail"]["changed"] == {"active": {"from": True, "to": False}}
    [entry] = await _entries(admin, action="co_responder.update")
    assert entry["detail"]["changed"] == {"specialties": {"from": [], "to": ["veterans", "youth"]}}


async def test_call_details_reads_are_recorded_but_lists_are_not(admin: Api) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("GET", f"/v1/calls/{call['id']}")
    await admin.ok("GET", "/v1/calls")
    trail = await _entries(admin, resource_type="call", resource_id=call["id"])
    assert [e["action"] for e in trail] == ["call.read", "call.create"]  # newest first
    assert await _entries(admin, action="call.list") == []


async def test_a_read_of_a_malformed_call_id_is_recorded_even_with_a_nul_in_it(
    admin: Api,
) -> None:
    for sent, recorded in (("abc", "abc"), ("a%00b", "a\ufffdb")):
        assert (await admin.get(f"/v1/calls/{sent}")).status_code == 422
        [entry] = await _entries(admin, action="call.read", resource_id=recorded)
        assert entry["outcome"] == "error"


async def test_an_override_reason_and_code_are_in_the_dispatch_entry(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT1")
    officer = await add_officer(admin, district="D1", call_sign="1A11", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {
            "units": [{"responder_type": "officer", "responder_id": officer, "role": "lead"}],
            "override_reason": "MCT on another call",
        },
    )
    [entry] = await _entries(admin, action="call.dispatch")
    # No code given: a dispatch that differs from the recommendation is coded `other`.
    assert entry["detail"] == {"override_code": "other", "override_reason": "MCT on another call"}


async def test_denied_and_failed_requests_are_recorded(admin: Api, db: asyncpg.Connection) -> None:
    viewer = await admin.with_role("viewer")
    assert (await viewer.post("/v1/districts", {"code": "D1", "name": "x"})).status_code == 403
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    assert (await admin.post("/v1/districts", {"code": "D1", "name": "x"})).status_code == 409
    trail = await _entries(admin, action="district.create")
    assert [(e["outcome"], e["role"]) for e in trail] == [
        ("error", "admin"),
        ("success", "admin"),
        ("denied", "viewer"),
    ]
    assert trail[2]["key_id"] == await _key_id(db, viewer)
    assert await db.fetchval("SELECT count(*) FROM district") == 1
    # A path of kilobytes is the caller's text, not an id: the entry keeps its first 300
    # characters (security review: each denial wrote it whole).
    long = "D" * 5000
    assert (await viewer.patch(f"/v1/districts/{long}", {"name": "x"})).status_code == 403
    [denied] = await _entries(admin, action="district.update")
    assert denied["outcome"] == "denied"
    assert denied["resource_id"] == "D" * 300 + "…"


async def test_a_refused_request_at_an_id_spelt_another_way_is_found_by_the_id(
    admin: Api,
) -> None:
    """The routes take an id in braces, as a URN, in upper case or without hyphens, and act
    on the one id; the trail named it as sent, so a search of the trail by the id missed
    the refused requests at it (security review)."""
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    viewer = await admin.with_role("viewer")
    plain = call["id"]
    spellings = [f"{{{plain}}}", f"urn:uuid:{plain}", plain.upper(), plain.replace("-", "")]
    for spelt in spellings:
        response = await viewer.patch(f"/v1/calls/{spelt}", {"nature": "x"})
        assert response.status_code == 403, spelt
    trail = (await admin.ok("GET", f"/v1/audit?resource_id={plain}&action=call.update"))["items"]
    assert [(e["outcome"], e["resource_id"]) for e in trail] == [("denied", plain)] * 4
    # What is no id is still named as sent, a spelling the routes refuse too (Python's
    # UUID() would read it as the id: review).
    for odd in ("not-an-id", f"uuid:{plain.replace('-', '')}", "0-" + plain.replace("-", "")):
        assert (await viewer.patch(f"/v1/calls/{odd}", {"nature": "x"})).status_code == 403
        [entry] = await _entries(admin, action="call.update", resource_id=odd)
        assert entry["outcome"] == "denied"


async def test_failed_authentication_is_recorded_with_the_prefix_only(
    admin: Api, db: asyncpg.Connection
) -> None:
    prefix = admin.key.split("_")[1]
    guessed = f"cit_{prefix}_{'x' * 43}"
    response = await admin.client.get("/v1/calls", headers={"Authorization": f"Bearer {guessed}"})
    assert response.status_code == 401
    [entry] = await _entries(admin, action="auth.failed")
    assert entry["outcome"] == "denied"
    assert entry["detail"]["key_prefix"] == prefix
    assert entry["resource_id"] == await _key_id(db, admin)
    # The prefix alone, or the key in another case, guess at that key too: they were
    # recorded with no agency, out of its admins' sight (security review).
    for guess in (f"cit_{prefix}", admin.key.upper()):
        refused = await admin.client.get("/v1/calls", headers={"Authorization": f"Bearer {guess}"})
        assert refused.status_code == 401
    entries = await _entries(admin, action="auth.failed")
    assert [e["detail"]["key_prefix"] for e in entries] == [prefix] * 3
    # A key of no agency is kept too, where only the database owner sees it.
    await admin.client.get("/v1/calls", headers={"Authorization": "Bearer nonsense-key"})
    orphans = await db.fetch("SELECT * FROM audit_entry WHERE agency_id IS NULL")
    assert [o["action"] for o in orphans] == ["auth.failed"]
    stored = await db.fetchval("SELECT string_agg(to_jsonb(a)::text, ' ') FROM audit_entry a")
    assert "x" * 43 not in stored
    assert "nonsense-key" not in stored


async def test_filters_and_pagination(admin: Api) -> None:
    for code in ("D1", "D2", "D3"):
        await admin.ok("POST", "/v1/districts", {"code": code, "name": code}, 201)
    first = await admin.ok("GET", "/v1/audit?action=district.create&limit=2")
    assert [e["resource_id"] for e in first["items"]] == ["D3", "D2"]
    rest = await admin.ok(
        "GET", f"/v1/audit?action=district.create&limit=2&cursor={first['next_cursor']}"
    )
    assert [e["resource_id"] for e in rest["items"]] == ["D1"]
    assert rest["next_cursor"] is None
    until = datetime.now(UTC) + timedelta(minutes=1)
    window = await _entries(
        admin,
        resource_type="district",
        resource_id="D2",
        **{"from": (until - timedelta(hours=1)).isoformat().replace("+", "%2B")},
        to=until.isoformat().replace("+", "%2B"),
    )
    assert [e["action"] for e in window] == ["district.create"]
    assert (
        await _entries(admin, to=(until - timedelta(hours=1)).isoformat().replace("+", "%2B")) == []
    )


async def test_notes_never_reach_the_audit_trail(admin: Api, db: asyncpg.Connection) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "NOTE-ONE"}, 201)
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": "NOTE-TWO"})
    await admin.ok("GET", f"/v1/calls/{call['id']}")
    await admin.ok(
        "POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved", "notes": "NOTE-3"}
    )
    stored = await db.fetchval("SELECT string_agg(to_jsonb(a)::text, ' ') FROM audit_entry a")
    assert "call.clear" in stored
    assert not any(note in stored for note in ("NOTE-ONE", "NOTE-TWO", "NOTE-3"))


async def test_audit_filters_take_rfc3339_times_only(admin: Api) -> None:
    for query in ("to=0.5", "from=yesterday", "to=2026-01-01T00:00:00"):
        response = await admin.get(f"/v1/audit?{query}")
        assert response.status_code == 422, query
        assert response.headers["content-type"] == "application/problem+json"


async def test_an_audit_window_that_ends_before_it_begins_is_422(admin: Api) -> None:
    # As for shifts and the reports: an empty answer would read as "nothing happened".
    for to in ("2026-12-02T15:00:00Z", "2026-12-02T16:00:00Z"):
        response = await admin.get(f"/v1/audit?from=2026-12-02T16:00:00Z&to={to}")
        assert response.status_code == 422, to
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["query", "to"]
    await admin.ok("GET", "/v1/audit?from=2026-12-02T16:00:00Z&to=2026-12-02T16:00:01Z")


async def test_nul_in_an_audit_filter_is_422_and_the_read_is_still_recorded(admin: Api) -> None:
    # PostgreSQL text cannot hold NUL: the filter reached the query and failed as a 500,
    # and the failed read of the trail left no entry of its own.
    for name in ("resource_type", "resource_id", "action"):
        response = await admin.get("/v1/audit", params={name: "a\x00b"})
        assert response.status_code == 422, name
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["query", name]
    # This read's own entry is written as it commits, after the page is read.
    reads = await _entries(admin, action="audit.read")
    assert [e["outcome"] for e in reads] == ["error"] * 3


async def test_retention_purges_only_entries_older_than_the_setting(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    await db.execute(
        "INSERT INTO audit_entry (id, agency_id, at, action, outcome)"
        " VALUES (cit_uuid7(), $1, now() - interval '500 days', 'call.read', 'success'),"
        "        (cit_uuid7(), $1, now() - interval '300 days', 'call.read', 'success')",
        admin.agency_id,
    )
    assert await housekeeping.purge_audit(app.state.cit) == 1  # 400 days by default
    ages = await db.fetch("SELECT now() - at AS age FROM audit_entry WHERE action = 'call.read'")
    assert [r["age"].days for r in ages] == [300]
    assert await _entries(admin, action="district.create")


async def test_a_refused_request_says_why_in_its_entry(admin: Api) -> None:
    """A denied or failed request's entry said only `error` (the admin's check): the
    auditor could not tell a typo from a conflict, nor a role refused from a key revoked."""
    viewer = await admin.with_role("viewer")
    body = {"code": "D1", "name": "North", "boundary": None}
    tries = [
        (viewer, "POST", "/v1/districts", body, "district.create", 403, "forbidden"),
        (admin, "POST", "/v1/districts", {"code": "D1"}, "district.create", 422, "validation"),
        (
            admin,
            "PATCH",
            f"/v1/officers/{admin.agency_id}",
            {"name": "X"},
            "officer.update",
            404,
            "not-found",
        ),
        (
            admin,
            "DELETE",
            "/v1/api-keys/" + await _admin_key(admin),
            None,
            "api_key.revoke",
            409,
            "conflict",
        ),
    ]
    for api, method, url, json, action, status, problem in tries:
        answered = await api.client.request(method, url, json=json, headers=api.headers)
        assert answered.status_code == status, answered.text
        entry = (await _entries(admin, action=action))[0]  # the newest
        assert entry["outcome"] == ("denied" if status == 403 else "error")
        assert entry["detail"]["error"] == {
            "status": status,
            "problem": problem,
            "detail": answered.json()["detail"],
        }


async def _admin_key(api: Api) -> str:
    """The id of the agency's only admin key: revoking it is a 409."""
    [key] = [k for k in (await api.ok("GET", "/v1/api-keys"))["items"] if k["role"] == "admin"]
    return str(key["id"])
