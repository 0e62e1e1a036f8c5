"""Agency isolation: row-level security in the database, and a 404 on every route."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.api.permissions import ROUTES
from app.db.engine import app_role_url, create_engine
from app.db.raw import driver
from app.db.unit_of_work import UnitOfWork
from app.settings import Settings
from tests.helpers import Api, add_co_responder, add_officer, around_now, grid_districts

# Tables whose rows belong to an agency, found from the catalogue, never from a list.
_SCOPED_TABLES = """
SELECT DISTINCT c.relname, c.relrowsecurity, c.relforcerowsecurity
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'p') AND a.attname IN ('agency_id', 'recorded_by_agency_id')
"""


_REFUSED = ("UPDATE audit_entry SET outcome = 'error'", "DELETE FROM audit_entry")


def _as_app_role(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql", username="cit_app", password=None)
    return url.render_as_string(hide_password=False)


async def test_every_agency_scoped_table_has_a_forced_policy_for_the_app_role(
    db: asyncpg.Connection,
) -> None:
    tables = await db.fetch(_SCOPED_TABLES)
    assert len(tables) >= 15
    for table in tables:
        name = table["relname"]
        assert table["relrowsecurity"], name
        assert table["relforcerowsecurity"], name
        policies = await db.fetch(
            "SELECT polname, polroles::regrole[]::text[] AS roles FROM pg_policy"
            " WHERE polrelid = $1::regclass",
            name,
        )
        assert any("cit_app" in p["roles"] for p in policies), name


async def test_the_app_role_owns_nothing_and_cannot_bypass_policies(
    db: asyncpg.Connection,
) -> None:
    role = await db.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = 'cit_app'"
    )
    assert role is not None
    assert not any(role.values())
    owned = await db.fetchval(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
        " WHERE r.rolname = 'cit_app'"
    )
    assert owned == 0


async def test_the_app_role_sees_only_the_agency_of_its_transaction(
    admin: Api, other_admin: Api, database_url: str
) -> None:
    for api in (admin, other_admin):
        await grid_districts(api)
        await api.ok("POST", "/v1/calls", {"district": "D1", "notes": "private"}, 201)
    conn = await asyncpg.connect(_as_app_role(database_url))
    try:
        # No agency set: nothing at all.
        assert await conn.fetchval("SELECT count(*) FROM call") == 0
        assert await conn.fetchval("SELECT count(*) FROM district") == 0
        async with conn.transaction():
            await conn.execute("SELECT set_config('cit.agency_id', $1, true)", str(admin.agency_id))
            agencies = await conn.fetch("SELECT DISTINCT agency_id FROM call")
            assert [r["agency_id"] for r in agencies] == [admin.agency_id]
            assert await conn.fetchval("SELECT count(*) FROM district") == 4
            # Writing a row for another agency is refused by the policy's check.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "UPDATE district SET agency_id = $1 WHERE code = 'D1'", other_admin.agency_id
                )
        # The setting ended with the transaction: a pooled connection carries nothing on.
        assert await conn.fetchval("SELECT current_setting('cit.agency_id', true)") in ("", None)
        assert await conn.fetchval("SELECT count(*) FROM call") == 0
    finally:
        await conn.close()


async def test_the_audit_trail_cannot_be_changed_by_anyone(
    admin: Api, db: asyncpg.Connection, database_url: str
) -> None:
    await grid_districts(admin)
    assert await db.fetchval("SELECT count(*) FROM audit_entry") > 0
    conn = await asyncpg.connect(_as_app_role(database_url))
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('cit.agency_id', $1, true)", str(admin.agency_id))
            for statement in (
                "UPDATE audit_entry SET outcome = 'error'",
                "DELETE FROM audit_entry",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    async with conn.transaction():
                        await conn.execute(statement)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT cit_purge_audit(interval '400 days')")
    finally:
        await conn.close()
    # Even the owner is refused by the trigger.
    for statement in _REFUSED:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db.execute(statement)
    with pytest.raises(asyncpg.RaiseError, match="at least a year"):
        await db.fetchval("SELECT cit_purge_audit(interval '30 days')")
    old = await db.fetchval("SELECT count(*) FROM audit_entry")
    assert await db.fetchval("SELECT cit_purge_audit(interval '365 days')") == 0
    assert await db.fetchval("SELECT count(*) FROM audit_entry") == old


async def test_certifications_are_the_one_cross_agency_read(
    admin: Api, other_admin: Api, database_url: str
) -> None:
    await grid_districts(admin)
    await add_officer(admin, district="D1", call_sign="1A11", cit=True, state_officer_id="P-77")
    # A third agency that never employed P-77 sees nothing; one that hires them sees it.
    assert (await other_admin.ok("GET", "/v1/certifications?state_officer_id=P-77"))["items"] == []
    await other_admin.ok(
        "POST",
        "/v1/officers",
        {"state_officer_id": "P-77", "badge_number": "9", "name": "Moved officer"},
        201,
    )
    seen = (await other_admin.ok("GET", "/v1/certifications?state_officer_id=P-77"))["items"]
    assert [c["certification_number"] for c in seen] == ["CIT-1A11"]
    # It reads the record, and the database lets only the recording agency change it (its
    # dates, program and flag; never whose it is or its number), whatever the service does.
    conn = await asyncpg.connect(_as_app_role(database_url))
    change = (
        "UPDATE certification SET expires_on = certified_on + 1 WHERE state_officer_id = 'P-77'"
    )
    try:
        for agency, changed in ((other_admin.agency_id, "UPDATE 0"), (admin.agency_id, "UPDATE 1")):
            async with conn.transaction():
                await conn.execute("SELECT set_config('cit.agency_id', $1, true)", str(agency))
                assert await conn.execute(change) == changed
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    async with conn.transaction():
                        await conn.execute("UPDATE certification SET certification_number = 'X'")
    finally:
        await conn.close()


async def test_another_agency_cannot_make_an_agencys_officer_cit(
    admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    """An agency that puts someone else's officer on its roster (a mistyped state id, or
    not) is refused a certification for them, and a correction that widens one it recorded
    before they were hired: it made them CIT on their own agency's armed calls, which could
    not undo it (the security review). Ending one early stays its own; and once the person
    left the first agency, the one that hired them records (the certification moves)."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A11", state_officer_id="P-5")
    today = datetime.now(UTC).date()
    squatter = await other_admin.ok(
        "POST", "/v1/officers", {"state_officer_id": "p-5", "badge_number": "9", "name": "y"}, 201
    )
    body = _certification("P-5", "FAKE-1")
    refused = await other_admin.post("/v1/certifications", body)
    assert refused.status_code == 409
    assert "another agency employs the officer" in refused.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM certification") == 0
    assert (await admin.ok("GET", f"/v1/officers/{officer}"))["cit"]["certified"] is False
    armed = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    assert "no_cit_available" in {w["code"] for w in armed["recommendation"]["warnings"]}
    # The agency that employs P-5 records it; the other routes by its record, as ever.
    mine = await admin.ok(
        "POST", "/v1/certifications", {**body, "certification_number": "C-5"}, 201
    )
    [unit] = (await admin.ok("GET", "/v1/units"))["items"]
    assert unit["cit_certified"] is True
    seen = (await other_admin.ok("GET", "/v1/certifications?state_officer_id=P-5"))["items"]
    assert [c["id"] for c in seen] == [mine["id"]]
    # The first agency leaves P-5: the one that hired them records their certifications now.
    await other_admin.ok("PATCH", f"/v1/officers/{squatter['id']}", {"active": False})
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": False})
    hired = {"state_officer_id": "P-5", "badge_number": "10", "name": "y"}
    await other_admin.ok("POST", "/v1/officers", hired, 201)
    theirs = await other_admin.ok(
        "POST", "/v1/certifications", {**body, "certification_number": "C-6"}, 201
    )
    # Back on the first agency's roster (hired again after the other's post began), P-5's
    # record there is the other's to widen; ending it early is still its recorder's.
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": True})
    wider = {"expires_on": str(today + timedelta(days=400))}
    refused = await admin.patch(f"/v1/certifications/{mine['id']}", wider)
    assert refused.status_code == 409
    assert "a renewal is a new certification" in refused.json()["detail"]
    await other_admin.ok("PATCH", f"/v1/certifications/{theirs['id']}", wider)
    ended = {"expires_on": str(today)}
    await admin.ok("PATCH", f"/v1/certifications/{mine['id']}", ended)


async def test_an_officer_turned_off_and_on_again_keeps_the_recording_of_their_post(
    admin: Api, other_admin: Api
) -> None:
    """A roster sync's off-and-on (a leave, a mistaken separation) dated the officer's post
    anew, and the recording of their certifications went to a second agency that also
    employs them (a reserve post, begun later): their own agency got the 409 (review)."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A11", state_officer_id="R-7")
    await other_admin.ok(
        "POST", "/v1/officers", {"state_officer_id": "R-7", "badge_number": "70", "name": "r"}, 201
    )
    for active in (False, True):
        await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": active})
    body = _certification("R-7", "C-7")
    await admin.ok("POST", "/v1/certifications", body, 201)
    refused = await other_admin.post("/v1/certifications", {**body, "certification_number": "C-8"})
    assert refused.status_code == 409


def _certification(person: str, number: str) -> dict[str, Any]:
    """A certification of the person valid from 10 days ago to 300 days ahead."""
    today = datetime.now(UTC).date()
    return {
        "state_officer_id": person,
        "certification_number": number,
        "program": "State CIT 40h",
        "certified_on": str(today - timedelta(days=10)),
        "expires_on": str(today + timedelta(days=300)),
        "volunteered": True,
    }


async def _snapshot(db: asyncpg.Connection, agency_id: Any) -> dict[str, list[str]]:
    """Every row of the agency, in every scoped table except the audit trail."""
    tables = [r["relname"] for r in await db.fetch(_SCOPED_TABLES)]
    out: dict[str, list[str]] = {}
    for table in sorted(tables):
        if table == "audit_entry":
            continue
        column = "recorded_by_agency_id" if table == "certification" else "agency_id"
        rows = await db.fetch(
            # table comes from the catalogue query above, not from input.
            f"SELECT to_jsonb(t)::text AS row FROM {table} t WHERE {column} = $1 ORDER BY 1",  # noqa: S608
            agency_id,
        )
        out[table] = [r["row"] for r in rows]
    out["agency"] = [
        await db.fetchval("SELECT to_jsonb(a)::text FROM agency a WHERE id = $1", agency_id)
    ]
    return out


def _bodies(ids: dict[str, str]) -> dict[tuple[str, str], Any]:
    """Valid bodies, so a refusal is the agency check and not validation."""
    starts, ends = around_now()
    return {
        ("PATCH", "/v1/districts/{code}"): {"name": "renamed"},
        ("PATCH", "/v1/officers/{officer_id}"): {"name": "renamed"},
        ("PATCH", "/v1/certifications/{certification_id}"): {"volunteered": False},
        ("PUT", "/v1/officers/{officer_id}/status"): {"status": "out_of_service"},
        ("PATCH", "/v1/co-responders/{co_responder_id}"): {"name": "renamed"},
        ("PUT", "/v1/co-responders/{co_responder_id}/status"): {"status": "out_of_service"},
        ("PATCH", "/v1/calls/{call_id}"): {"notes": "overwritten"},
        ("POST", "/v1/calls/{call_id}/dispatch"): {},
        ("POST", "/v1/calls/{call_id}/clear"): {"disposition": "closed"},
        ("PATCH", "/v1/calls/{call_id}/outcome"): {"reason": "B's", "outcome": "arrest"},
        ("POST", "/v1/shifts"): {
            "responder_type": "officer",
            "responder_id": ids["officer_id"],
            "call_sign": "X1",
            "district": "D9",
            "starts_at": starts,
            "ends_at": ends,
        },
        ("POST", "/v1/certifications"): {
            "state_officer_id": "P-A1",
            "certification_number": "FORGED",
            "program": "x",
            "certified_on": "2026-01-01",
            "expires_on": "2030-01-01",
            "volunteered": True,
        },
        ("POST", "/v1/api-keys"): {"role": "unit", "responder_id": ids["officer_id"]},
        ("PATCH", "/v1/webhooks/{subscription_id}"): {"active": False},
        ("POST", "/v1/webhooks/{subscription_id}/secret"): {"keep_previous_seconds": 0},
        ("POST", "/v1/webhooks/{subscription_id}/deliveries/retry"): {
            "since": "2026-01-01T00:00:00Z"
        },
        ("POST", "/v1/webhooks"): {
            "url": "http://127.0.0.1:9/hook",
            "events": ["unit.assigned"],
            "responder_id": ids["officer_id"],
        },
        ("POST", "/v1/calls"): {"district": "D1"},
        ("PUT", "/v1/policy"): None,
    }


async def test_every_route_gives_another_agency_404_no_data_and_no_change(
    admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    # Agency A: one of everything.
    await grid_districts(admin)
    # Its certification ends soon, so A's program report would name the officer.
    officer = await add_officer(
        admin,
        district="D1",
        call_sign="1A11",
        cit=True,
        state_officer_id="P-A1",
        cert_expires_in_days=30,
    )
    co = await add_co_responder(admin, district="D1", call_sign="MCT1")
    hook = await admin.ok(
        "POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["call.created"]}, 201
    )
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "A's secret"}, 201)
    # The control: A's own reports do show what B must never see.
    program = await admin.ok("GET", "/v1/program")
    assert officer in str(program)
    assert (await admin.ok("GET", "/v1/reports/outcomes"))["groups"][0]["calls"] == 1
    incident = (await admin.ok("GET", f"/v1/calls/{call['id']}/eido"))["$id"]
    delivery = await db.fetchval("SELECT id FROM webhook_delivery LIMIT 1")
    key = await db.fetchval("SELECT id FROM api_key WHERE agency_id = $1 LIMIT 1", admin.agency_id)
    shift = await db.fetchval("SELECT id FROM shift WHERE agency_id = $1 LIMIT 1", admin.agency_id)
    certification = await db.fetchval(
        "SELECT id FROM certification WHERE recorded_by_agency_id = $1 LIMIT 1", admin.agency_id
    )
    # A policy version B never had (B's first is its own).
    policy = await admin.ok("PUT", "/v1/policy", await admin.ok("GET", "/v1/policy"))
    ids = {
        "code": "D1",
        "officer_id": officer,
        "co_responder_id": co,
        "call_id": call["id"],
        "subscription_id": hook["id"],
        "delivery_id": str(delivery),
        "key_id": str(key),
        "shift_id": str(shift),
        "certification_id": str(certification),
        "incident_id": incident,
        "version": str(policy["version"]),
    }
    secrets = [*ids.values(), "A's secret", "P-A1"]
    secrets.remove("D1")
    secrets.remove(ids["version"])
    before = await _snapshot(db, admin.agency_id)
    bodies = _bodies(ids)

    for (method, template), _rule in ROUTES.items():
        if template == "/v1/units/me":
            continue  # needs a unit key; covered by the role tests
        if template == "/v1/stream":
            continue  # never ends over ASGITransport; tests/api/test_stream.py covers it
        if template == "/v1/stream/tickets":
            continue  # names nothing of A's: a ticket for B's own key (test_stream_tickets.py)
        path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
        body = bodies.get((method, template), {} if method != "GET" else None)
        if body is None and method == "PUT":
            continue  # PUT /v1/policy only ever touches the caller's own agency
        response = await other_admin.client.request(
            method, path, json=body, headers=other_admin.headers
        )
        where = f"{method} {template} -> {response.status_code} {response.text[:200]}"
        if "{" in template:
            assert response.status_code == 404, where
        else:
            assert response.status_code < 500, where
            assert response.status_code != 403, where
            assert not (200 <= response.status_code < 300 and method == "POST"), where
        # B's own trail names the ids B tried; nothing else of A's may appear anywhere.
        leaks = secrets[-2:] if template == "/v1/audit" else secrets
        assert not any(secret in response.text for secret in leaks), where
    assert await _snapshot(db, admin.agency_id) == before


async def test_agency_a_list_routes_still_show_its_own_data(admin: Api) -> None:
    """The control for the test above: the same reads do show data to its own agency."""
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "mine"}, 201)
    listed = await admin.ok("GET", "/v1/calls")
    assert [c["id"] for c in listed["items"]] == [call["id"]]
    assert json.dumps(listed).count("mine") == 0  # notes never in lists


@pytest.mark.parametrize("fails", [False, True])
async def test_a_unit_of_work_leaves_its_pooled_connection_clean(
    admin: Api, database_url: str, settings: Settings, fails: bool
) -> None:
    engine = create_engine(app_role_url(database_url, settings), pool_size=1)
    try:
        with contextlib.suppress(RuntimeError):
            autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
            async with UnitOfWork(autocommit, admin.agency_id) as work:
                session = await work.session()
                assert (await session.execute(text("SELECT count(*) FROM agency"))).scalar() == 1
                if fails:
                    raise RuntimeError("the request failed")
        async with engine.connect() as conn:
            raw = await driver(conn)
            assert not raw.is_in_transaction()
            assert await raw.fetchval("SELECT current_setting('cit.agency_id', true)") in ("", None)
            assert await raw.fetchval("SELECT count(*) FROM agency") == 0
    finally:
        await engine.dispose()


async def test_a_dispatch_naming_another_agencys_units_is_a_422_and_sends_no_one(
    admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    for api in (admin, other_admin):
        await grid_districts(api)
    theirs = {
        "officer": await add_officer(other_admin, district="D1", call_sign="1A1", cit=True),
        "co_responder": await add_co_responder(other_admin, district="D1", call_sign="MCT-1"),
    }
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    for kind, unit in theirs.items():
        body = {
            "units": [{"responder_type": kind, "responder_id": unit, "role": "lead"}],
            "override_reason": "theirs",
        }
        refused = await admin.post(f"/v1/calls/{call['id']}/dispatch", body)
        assert refused.status_code == 422, refused.text
        # The id sent comes back, as for any unknown one: nothing the other agency holds.
        assert f"no such {kind.replace('_', '-')} {unit} in this agency" in refused.text
        assert "1A1" not in refused.text
        assert "MCT-1" not in refused.text
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["status"] == "pending"
    assert await db.fetchval("SELECT count(*) FROM assignment") == 0
    units = (await other_admin.ok("GET", "/v1/units"))["items"]
    assert {(u["status"], u["active_call_id"]) for u in units} == {("available", None)}
