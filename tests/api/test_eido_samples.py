"""The two EIDO samples shared with the standard (older drafts of the format, copied into
tests/data/ from ../shared/reference/eido/): each is read, or refused with a clear reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg

from app.eido.schema import validator
from tests.helpers import Api, grid_districts

DATA = Path(__file__).parents[1] / "data"


def _sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return loaded


async def test_the_call_transfer_sample_is_read_and_placed_by_the_district_given(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    sample = _sample("sample-call-transfer-eido.json")
    # It carries a civic address but no point and no beat: nothing in it places the call.
    unplaced = await admin.post("/v1/eido", sample)
    assert unplaced.status_code == 422
    assert "does not place the call" in unplaced.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM call") == 0

    imported = await admin.ok("POST", "/v1/eido?district=D2", sample, 201)
    assert imported["external_id"] == sample["$id"]
    assert imported["district"] == "D2"
    assert imported["applied"] is True
    # Its civic address is kept, though it placed nothing, and goes out again with the call.
    address = "42 W Cellular Street, Wilmington, DE"
    assert imported["location"] == {"lat": None, "lon": None, "address": address}
    export = await admin.ok("GET", f"/v1/calls/{imported['id']}/eido")
    assert export["$id"] == sample["$id"]
    assert [c["locationDescriptionText"] for c in export["locationComponent"]] == [address]
    assert [e.message for e in validator().iter_errors(export)] == []


async def test_the_incident_dispatch_sample_is_refused_naming_what_it_lacks(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    refused = await admin.post(
        "/v1/eido?district=D1", _sample("sample-eido-v1-incident-dispatch.json")
    )
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["detail"] == (
        "not an acceptable EIDO: 'lastUpdateTimeStamp' is a required property"
    )
    assert await db.fetchval("SELECT count(*) FROM call") == 0
