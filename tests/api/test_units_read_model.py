"""GET /v1/units reads shift_coverage and writes its JSON without a UnitOut per unit."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from app.records.units import UnitRecord
from app.schemas.common import Items
from app.schemas.shifts import UnitOut, units_json
from tests.helpers import Api, add_co_responder, add_officer, certify


def test_unit_record_has_the_fields_of_unit_out_in_its_order() -> None:
    assert list(UnitRecord.__annotations__) == list(UnitOut.model_fields)


def test_units_json_writes_the_bytes_fastapi_writes_for_items_of_unit_out() -> None:
    ends = datetime(2026, 11, 30, 21, 0, 0, 123456, tzinfo=UTC)
    records: list[UnitRecord] = [
        {
            "responder_type": "officer",
            "responder_id": str(uuid.uuid4()),
            "name": "Zoë “Z” \\ O'Neil",
            "call_sign": "1A1",
            "district": "D1",
            "also_covers": ["D2", "D3"],
            "shift_ends_at": ends,
            "status": "on_scene",
            "location": {"lat": 40.00001, "lon": -111.9},
            "cit_certified": True,
            "trainings": [],
            "specialties": None,
            "active_call_id": str(uuid.uuid4()),
            "external_incident": "CAD-1",
        },
        {
            "responder_type": "co_responder",
            "responder_id": str(uuid.uuid4()),
            "name": "M",
            "call_sign": "M2",
            "district": "D2",
            "also_covers": [],
            "shift_ends_at": ends.replace(microsecond=0) + timedelta(hours=1),
            "status": "available",
            "location": None,
            "cit_certified": False,
            "trainings": None,
            "specialties": ["youth", "language:es"],
            "active_call_id": None,
            "external_incident": None,
        },
    ]
    models = Items[UnitOut](items=[UnitOut.model_validate(r) for r in records])
    assert units_json(records) == models.model_dump_json().encode()


async def test_a_units_status_and_location_show_at_once(admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    officer_id = await add_officer(admin, district="D1", call_sign="1A1")
    await admin.ok(
        "PUT",
        f"/v1/officers/{officer_id}/status",
        {"status": "en_route", "location": {"lat": 40.71, "lon": -111.89}},
    )
    (unit,) = (await admin.ok("GET", "/v1/units?district=D1"))["items"]
    assert unit["status"] == "en_route"
    assert unit["location"] == {"lat": 40.71, "lon": -111.89}


async def test_a_certification_recorded_now_makes_the_unit_cit_at_once(admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    await add_officer(admin, district="D1", call_sign="1A1", state_officer_id="UT-9")
    (before,) = (await admin.ok("GET", "/v1/units"))["items"]
    assert before["cit_certified"] is False
    today = datetime.now(UTC).date()
    await certify(
        admin,
        "UT-9",
        number="C-9",
        certified_on=today - timedelta(days=1),
        expires_on=today + timedelta(days=30),
    )
    (after,) = (await admin.ok("GET", "/v1/units"))["items"]
    assert after["cit_certified"] is True


async def test_a_unit_covering_a_district_is_listed_there_once_with_its_home(
    admin: Api,
) -> None:
    for code in ("D1", "D2", "D3"):
        await admin.ok("POST", "/v1/districts", {"code": code, "name": code}, 201)
    await add_co_responder(admin, district="D1", call_sign="M1", also_covers=["D3", "D2"])
    everyone = (await admin.ok("GET", "/v1/units"))["items"]
    in_d2 = (await admin.ok("GET", "/v1/units?district=D2"))["items"]
    assert everyone == in_d2
    (unit,) = in_d2
    assert (unit["district"], unit["also_covers"]) == ("D1", ["D2", "D3"])


async def test_a_separated_officer_leaves_the_units_at_once(admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    officer_id = await add_officer(admin, district="D1", call_sign="1A1")
    await add_officer(admin, district="D1", call_sign="1A2")
    await admin.ok("PATCH", f"/v1/officers/{officer_id}", {"active": False})
    units = (await admin.ok("GET", "/v1/units"))["items"]
    assert [u["call_sign"] for u in units] == ["1A2"]


async def test_units_are_listed_by_call_sign_in_character_code_order(admin: Api) -> None:
    # Digits before capitals before small letters, accents last, whatever the server's
    # collation: the order routing breaks its ties in (docs/routing.md).
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    for call_sign in ("b1", "É4", "B2", "1A1", "a3"):
        await add_officer(admin, district="D1", call_sign=call_sign)
    await add_co_responder(admin, district="D1", call_sign="M1")
    listed = [u["call_sign"] for u in (await admin.ok("GET", "/v1/units"))["items"]]
    assert listed == ["1A1", "B2", "M1", "a3", "b1", "É4"]
    in_d1 = [u["call_sign"] for u in (await admin.ok("GET", "/v1/units?district=D1"))["items"]]
    assert in_d1 == listed


async def test_the_units_response_is_json_a_console_can_read(admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    await add_officer(admin, district="D1", call_sign="1A1")
    response = await admin.get("/v1/units")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.content)["items"][0]["call_sign"] == "1A1"


async def test_an_unknown_district_is_a_422_naming_the_query_parameter(admin: Api) -> None:
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    response = await admin.get("/v1/units?district=D9")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "district"]
