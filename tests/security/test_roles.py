"""Every route x every role is allowed or a 403, exactly as the route table says
(docs/api.md, "Roles")."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.api.permissions import ROUTES, markdown_table, permits
from app.vocabulary import ROLES
from tests.helpers import Api, add_co_responder, add_officer, grid_districts

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_v1_route_has_exactly_one_rule(app: FastAPI) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }
    assert documented == set(ROUTES)


def test_readme_permission_table_is_generated_from_the_route_table() -> None:
    text = README.read_text()
    assert markdown_table() in text, "run `python -m app.api.permissions` and paste it"


def _spec_roles(method: str, path: str) -> set[str]:
    """The roles of docs/api.md, restated independently of app/api/permissions.py."""
    readers = {"admin", "supervisor", "dispatcher", "integration", "viewer"}
    handlers = {"admin", "supervisor", "dispatcher", "integration"}
    if path.startswith("/v1/api-keys"):
        return {"admin"}
    if path == "/v1/audit":
        return {"admin", "supervisor"}
    if path.startswith("/v1/webhooks"):
        return {"admin", "supervisor", "integration"}
    if path == "/v1/units/me":
        return {"unit"}
    if path.startswith("/v1/stream"):  # who may read calls; a unit hears what its terminal would
        return readers | {"unit"}
    if path.endswith("/status"):
        return handlers | {"unit"}
    if method == "GET":
        return readers
    if path.endswith("/outcome"):  # correcting the program's record: not in SPEC 3.6
        return {"admin", "supervisor"}
    if path.startswith("/v1/calls") or path == "/v1/eido":  # SPEC 6.4: EIDO import as calls
        return handlers
    if path == "/v1/policy" or path.startswith("/v1/certifications"):
        return {"admin"}
    return {"admin", "supervisor"}  # districts, officers, co-responders, shifts


def test_the_route_table_is_the_spec_table() -> None:
    for (method, path), rule in ROUTES.items():
        assert set(rule.roles) == _spec_roles(method, path), f"{method} {path}"


def _concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)


async def test_every_route_allows_or_forbids_every_role_as_the_table_says(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A11")
    co = await add_co_responder(admin, district="D1", call_sign="MCT1")
    keys: dict[str, Api] = {role: await admin.with_role(role) for role in ROLES if role != "unit"}
    keys["unit"] = await admin.with_role("unit", uuid.UUID(officer))
    # Ids the unit key owns, so its "own" routes are exercised as allowed.
    ids = {"code": "D1", "officer_id": officer, "co_responder_id": co}
    before = await db.fetchval("SELECT count(*) FROM audit_entry WHERE outcome = 'denied'")
    denials = 0
    for (method, template), rule in ROUTES.items():
        path = _concrete(template, ids)
        for role, api in keys.items():
            if role == "unit" and "co_responder_id" in template:
                continue  # the unit key is an officer's; its co-responder case is below
            if template == "/v1/stream":
                # A stream never ends, and ASGITransport waits for the end: an unknown
                # type is refused after the role check (tests/api/test_stream.py streams).
                path += "?types=none"
            response = await api.client.request(method, path, json={}, headers=api.headers)
            allowed = permits(rule, role)
            where = f"{role} {method} {template} -> {response.status_code}"
            if allowed:
                # Allowed means served: refused as bad input at worst, never a 5xx.
                assert response.status_code not in (401, 403), where
                assert response.status_code < 500, where
            else:
                assert response.status_code == 403, where
                assert response.headers["content-type"] == "application/problem+json"
                denials += 1
    after = await db.fetchval("SELECT count(*) FROM audit_entry WHERE outcome = 'denied'")
    assert after - before == denials  # every denial left an entry
    # Every audited route left entries for the allowed attempts too, whatever their outcome.
    recorded = {r["action"] for r in await db.fetch("SELECT DISTINCT action FROM audit_entry")}
    for (_method, template), rule in ROUTES.items():
        if rule.audited and template != "/v1/units/me":
            assert rule.action in recorded, rule.action


@pytest.mark.parametrize(
    "path",
    [
        "/v1/officers/{other}/status",
        "/v1/co-responders/{co}/status",
        # Its own id on the other kind's path is no unit of its own either (it was a 404).
        "/v1/co-responders/{mine}/status",
    ],
)
async def test_unit_key_sets_only_its_own_status(admin: Api, path: str) -> None:
    await grid_districts(admin)
    mine = await add_officer(admin, district="D1", call_sign="1A11")
    other = await add_officer(admin, district="D1", call_sign="1A12")
    co = await add_co_responder(admin, district="D1", call_sign="MCT1")
    unit = await admin.with_role("unit", uuid.UUID(mine))
    # Its own id however spelt (a terminal's upper case was a 403, audited as a denial).
    for spelt in (mine, mine.upper(), mine.replace("-", "")):
        own = await unit.client.put(
            f"/v1/officers/{spelt}/status", json={"status": "out_of_service"}, headers=unit.headers
        )
        assert own.status_code == 200, own.text
    theirs = await unit.client.put(
        path.format(other=other, co=co, mine=mine),
        json={"status": "out_of_service"},
        headers=unit.headers,
    )
    assert theirs.status_code == 403, theirs.text
    units = {u["responder_id"]: u["status"] for u in (await admin.ok("GET", "/v1/units"))["items"]}
    assert units[other] == "available"
    assert units[co] == "available"


async def test_a_unit_key_on_the_other_kinds_status_path_is_told_its_own(admin: Api) -> None:
    # A terminal wired to the co-responders' path with its officer's own id was told only
    # that the id was not its own, which it is: the 403 says where its status is set, as
    # the 404 tells another key (tests/api/test_unit_of_the_other_kind.py).
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A11")
    co = await add_co_responder(admin, district="D1", call_sign="MCT1")
    for kind, mine, wrong in (
        ("officer", officer, "co-responders"),
        ("co_responder", co, "officers"),
    ):
        unit = await admin.with_role("unit", uuid.UUID(mine))
        for spelt in (mine, mine.upper()):
            response = await unit.client.put(
                f"/v1/{wrong}/{spelt}/status", json={"status": "on_scene"}, headers=unit.headers
            )
            assert response.status_code == 403, response.text
            right = f"/v1/{kind.replace('_', '-')}s/{mine}/status"
            assert response.json()["detail"] == (
                "A unit key may act only for its own responder, which is "
                f"{'an' if kind == 'officer' else 'a'} {kind.replace('_', '-')}: use {right}"
            )
    # Another responder's id is told no more than before.
    unit = await admin.with_role("unit", uuid.UUID(officer))
    theirs = await unit.client.put(
        f"/v1/co-responders/{co}/status", json={"status": "on_scene"}, headers=unit.headers
    )
    assert theirs.json()["detail"] == "A unit key may act only for its own responder"
    units = {u["responder_id"]: u["status"] for u in (await admin.ok("GET", "/v1/units"))["items"]}
    assert units[officer] == units[co] == "available"


async def test_unit_key_reads_only_its_own_unit(admin: Api, client: httpx.AsyncClient) -> None:
    await grid_districts(admin)
    mine = await add_officer(admin, district="D1", call_sign="1A11")
    unit = await admin.with_role("unit", uuid.UUID(mine))
    me = await unit.ok("GET", "/v1/units/me")
    assert me["unit"]["responder_id"] == mine
    for path in ("/v1/units", "/v1/calls", f"/v1/officers/{mine}", "/v1/districts"):
        assert (await unit.get(path)).status_code == 403, path
