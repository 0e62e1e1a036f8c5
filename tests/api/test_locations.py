"""A 201 says where what it created is (Location, RFC 9110 §10.2.2): the path its GET
answers at, as the OpenAPI document declares; a replay under an Idempotency-Key says it
again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.eido.documents import document, incident_id, pidf
from tests.helpers import Api, grid_districts, new_agency, square

Create = Callable[[Api], Awaitable[httpx.Response]]


async def _district(api: Api) -> httpx.Response:
    body = {"code": "N9", "name": "North", "boundary": square(40.76, -111.95)}
    return await api.post("/v1/districts", body)


async def _officer(api: Api) -> httpx.Response:
    body = {"state_officer_id": "UT-1", "badge_number": "B-1", "name": "Officer One"}
    return await api.post("/v1/officers", body)


async def _certification(api: Api) -> httpx.Response:
    # An agency reads the certifications of the people it employs.
    officer = {"state_officer_id": "UT-2", "badge_number": "B-2", "name": "Officer Two"}
    await api.ok("POST", "/v1/officers", officer, 201)
    today = datetime.now(UTC).date()
    body = {
        "state_officer_id": "UT-2",
        "certification_number": "CIT-2",
        "program": "State CIT 40h",
        "certified_on": str(today - timedelta(days=10)),
        "expires_on": str(today + timedelta(days=300)),
        "volunteered": True,
    }
    return await api.post("/v1/certifications", body)


async def _co_responder(api: Api) -> httpx.Response:
    body = {"name": "Clinician", "kind": "mobile_crisis_team", "provider": "County MH"}
    return await api.post("/v1/co-responders", body)


def _shift_body(responder_id: str) -> dict[str, Any]:
    start = datetime.now(UTC)
    return {
        "responder_type": "co_responder",
        "responder_id": responder_id,
        "district": "D1",
        "call_sign": "MCT-1",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=8)).isoformat(),
    }


async def _shift(api: Api) -> httpx.Response:
    await grid_districts(api)
    return await api.post("/v1/shifts", _shift_body((await _co_responder(api)).json()["id"]))


async def _call(api: Api) -> httpx.Response:
    await grid_districts(api)
    return await api.post("/v1/calls", {"district": "D1", "nature": "MNTL"})


async def _subscription(api: Api) -> httpx.Response:
    body = {"url": "http://127.0.0.1:9/h", "events": ["call.created"]}
    return await api.post("/v1/webhooks", body)


async def _eido(api: Api) -> httpx.Response:
    await grid_districts(api)
    return await api.post(
        "/v1/eido", document(incident_id(), location=pidf(point=(40.785, -111.925)))
    )


CREATES: dict[str, tuple[str, Create]] = {
    "district": ("/v1/districts", _district),
    "officer": ("/v1/officers", _officer),
    "certification": ("/v1/certifications", _certification),
    "co-responder": ("/v1/co-responders", _co_responder),
    "shift": ("/v1/shifts", _shift),
    "call": ("/v1/calls", _call),
    "subscription": ("/v1/webhooks", _subscription),
    "EIDO import": ("/v1/eido", _eido),
}


@pytest.mark.parametrize("what", CREATES)
async def test_a_201_says_where_its_resource_is(admin: Api, what: str) -> None:
    created = await CREATES[what][1](admin)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith("/v1/")
    got = await admin.get(location)
    assert got.status_code == 200, got.text
    # The same resource: a district is named by its code, everything else by its id.
    name = "code" if what == "district" else "id"
    assert got.json()[name] == created.json()[name]


def test_the_openapi_document_declares_every_location_given(app: FastAPI) -> None:
    operations = app.openapi()["paths"]
    declared = {
        path
        for path, methods in operations.items()
        if "Location"
        in methods.get("post", {}).get("responses", {}).get("201", {}).get("headers", {})
    }
    assert declared == {path for path, _ in CREATES.values()}


async def test_a_201_without_a_resource_to_read_names_none(admin: Api) -> None:
    # Shifts made in bulk are many; a key is read in the list only.
    await grid_districts(admin)
    bulk = await admin.post(
        "/v1/shifts/bulk", {"shifts": [_shift_body((await _co_responder(admin)).json()["id"])]}
    )
    key = await admin.post("/v1/api-keys", {"role": "viewer", "name": "wall board"})
    for created in (bulk, key):
        assert created.status_code == 201, created.text
        assert "location" not in created.headers


@pytest.mark.parametrize(
    ("url", "create"),
    [("/v1/calls", _call), ("/v1/webhooks", _subscription)],
    ids=["call", "subscription"],
)
async def test_a_replayed_201_says_where_again(admin: Api, url: str, create: Create) -> None:
    await create(admin)  # a first one, so the replay's Location is not merely the newest
    body: dict[str, Any] = (
        {"district": "D2"}
        if url == "/v1/calls"
        else {"url": "http://127.0.0.1:9/x", "events": ["call.created"]}
    )
    key = {"Idempotency-Key": "where-again"}
    first = await admin.post(url, body, headers=key)
    again = await admin.post(url, body, headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert first.headers["location"].endswith(first.json()["id"])


async def test_the_location_is_under_the_root_path_a_proxy_serves_the_api_at(
    app: FastAPI,
) -> None:
    transport = httpx.ASGITransport(app=app, root_path="/cit")
    async with httpx.AsyncClient(transport=transport, base_url="http://cit.test") as client:
        api = await new_agency(app, client, name="Prefixed", timezone="America/Denver")
        body = {"state_officer_id": "UT-3", "badge_number": "B-3", "name": "Officer Three"}
        created = await api.post("/cit/v1/officers", body)
        assert created.status_code == 201, created.text
        assert created.headers["location"] == f"/cit/v1/officers/{created.json()['id']}"
        assert (await api.get(created.headers["location"])).status_code == 200
