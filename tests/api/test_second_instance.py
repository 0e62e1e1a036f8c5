"""Two instances on one database: one caches the agency context while the other adds a
district. The stale one must answer correctly, never with a 422 or a KeyError 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.api.app import create_app
from app.cache import TtlCache
from app.repositories.agencies import load_agency_context
from app.services import agency
from app.settings import Settings
from app.state import AppState
from tests.helpers import Api, add_shift, certify, grid_districts


@pytest.fixture
async def second(database_url: str, settings: Settings) -> AsyncIterator[FastAPI]:
    """Another instance on the test database, whose agency contexts never expire and which
    hears no announcements (as if it missed them): it keeps a stale context."""
    other = create_app(settings, database_url)
    async with other.router.lifespan_context(other):
        state: AppState = other.state.cit
        await state.announcements.aclose()
        state.contexts = TtlCache(3600)
        yield other


async def test_a_stale_instance_finds_a_district_added_on_another(
    admin: Api, second: FastAPI
) -> None:
    await grid_districts(admin)
    transport = httpx.ASGITransport(app=second)
    async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as client:
        b = Api(client, admin.key, admin.agency_id, second)
        await b.ok("POST", "/v1/calls", {"district": "D1"}, 201)  # B caches D1-D4
        await admin.ok(
            "POST",
            "/v1/districts",
            {"code": "D5", "name": "Annexed", "adjacent": ["D1"]},
            201,
        )
        officer = await admin.ok(
            "POST",
            "/v1/officers",
            {"state_officer_id": "POST-5A1", "badge_number": "551", "name": "Officer 5A1"},
            201,
        )
        today = datetime.now(UTC).date()
        await certify(
            admin,
            "POST-5A1",
            number="CIT-5A1",
            certified_on=today - timedelta(days=30),
            expires_on=today + timedelta(days=300),
        )
        now = datetime.now(UTC)
        await add_shift(
            admin,
            "officer",
            officer["id"],
            call_sign="5A1",
            district="D5",
            also_covers=["D1"],
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=7),
        )
        stale = second.state.cit.contexts.get(admin.agency_id)
        assert stale is not None
        assert "D5" not in stale.districts_by_code

        # A unit based in the new district serves D1: its district is named, not looked up.
        weapon = await b.ok(
            "POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201
        )
        lead = weapon["recommendation"]["units"][0]
        assert (lead["call_sign"], lead["role"], lead["district"]) == ("5A1", "lead", "D5")
        # A call in the new district is taken, found by its district, and listed.
        created = await b.ok("POST", "/v1/calls", {"district": "D5"}, 201)
        assert created["district"] == "D5"
        found = await b.ok("GET", "/v1/calls?district=D5")
        assert [c["id"] for c in found["items"]] == [created["id"]]
        listed = await b.ok("GET", "/v1/calls")
        assert {c["district"] for c in listed["items"]} == {"D1", "D5"}
        changed = await b.ok("PATCH", f"/v1/calls/{weapon['id']}", {"district": "D5"})
        assert changed["district"] == "D5"
        # An unknown district is still refused, after the reload.
        assert (await b.post("/v1/calls", {"district": "D9"})).status_code == 422


async def test_requests_that_find_the_context_expired_share_one_load(
    app: FastAPI, admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    state: AppState = app.state.cit
    loads: list[object] = []

    async def counted(conn: object, agency_id: object, **kw: Any) -> object:
        loads.append(agency_id)
        await asyncio.sleep(0.05)  # long enough for every request below to find it loading
        return await load_agency_context(conn, agency_id, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(agency, "load_agency_context", counted)
    state.contexts.discard(admin.agency_id)
    contexts = await asyncio.gather(*(agency.context(state, admin.agency_id) for _ in range(20)))
    assert loads == [admin.agency_id]
    assert all(c is contexts[0] for c in contexts)
    assert len(state.context_loads) == 0
