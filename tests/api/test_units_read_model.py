"""GET /v1/units reads shift_coverage and writes its JSON without a UnitOut per unit."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from app.agency_context import AgencyContext
from app.records.units import UnitRecord
from app.schemas.common import Items
from app.schemas.shifts import UnitOut, units_json
from app.services import units as unit_service
from tests.helpers import (
    Api,
    add_co_responder,
    add_officer,
    add_shift,
    add_unrostered_co_responder,
    certify,
    owner_session,
)


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


async def test_the_consoles_read_runs_in_a_read_only_transaction(
    admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /v1/units, every console's poll, cannot write: its transaction is read-only
    (BEGIN READ ONLY), whole agency and one district alike."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    await add_officer(admin, district="D1", call_sign="1A1")
    modes: list[str] = []
    read = unit_service.units_on_shift

    async def observed(conn: AsyncConnection, *args: Any, **kwargs: Any) -> list[UnitRecord]:
        modes.append((await conn.exec_driver_sql("SHOW transaction_read_only")).scalar_one())
        return await read(conn, *args, **kwargs)

    monkeypatch.setattr(unit_service, "units_on_shift", observed)
    for path in ("/v1/units", "/v1/units?district=D1"):
        assert [u["call_sign"] for u in (await admin.ok("GET", path))["items"]] == ["1A1"]
    assert modes == ["on", "on"]


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


async def test_a_unit_still_on_a_call_after_its_shift_stays_listed_until_released(
    admin: Api,
) -> None:
    # Shift change at 3 a.m.: the clinician on scene must not vanish from the consoles.
    for code in ("D1", "D2"):
        await admin.ok("POST", "/v1/districts", {"code": code, "name": code}, 201)
    co = await add_unrostered_co_responder(admin, "Clinician Late")
    now = datetime.now(UTC)
    ends = now + timedelta(seconds=2)
    await add_shift(
        admin,
        "co_responder",
        co,
        call_sign="MCT-9",
        district="D1",
        also_covers=["D2"],
        starts_at=now - timedelta(hours=8),
        ends_at=ends,
    )
    # An officer busy on a CAD's incident past the same hour.
    busy = await add_unrostered_officer(admin, "UT-1", ends, call_sign="1A1")
    await admin.ok(
        "PUT", f"/v1/officers/{busy}/status", {"status": "on_scene", "external_incident": "B-7"}
    )
    # The clinician, based in D1, is sent to a call in D2, which it covers.
    call = await admin.ok("POST", "/v1/calls", {"district": "D2"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    # And one whose shift simply ends.
    await add_unrostered_officer(admin, "UT-2", ends, call_sign="1A2")
    await asyncio.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.1)

    # Its state after the shift ended shows: the triggers no longer copy it to that shift.
    await admin.ok(
        "PUT",
        f"/v1/co-responders/{co}/status",
        {"status": "on_scene", "location": {"lat": 40.7, "lon": -111.9}},
    )
    everyone = (await admin.ok("GET", "/v1/units"))["items"]
    assert [u["call_sign"] for u in everyone] == ["1A1", "MCT-9"]
    officer, clinician = everyone
    assert (officer["status"], officer["external_incident"]) == ("on_scene", "B-7")
    assert clinician["active_call_id"] == call["id"]
    assert (clinician["status"], clinician["location"]) == (
        "on_scene",
        {"lat": 40.7, "lon": -111.9},
    )
    assert datetime.fromisoformat(clinician["shift_ends_at"]) <= datetime.now(UTC)
    # Held over, it is listed as its shift served, based in D1 and covering D2: D2's console
    # still sees who is on scene at its call.
    assert (clinician["district"], clinician["also_covers"]) == ("D1", ["D2"])
    assert (await admin.ok("GET", "/v1/units?district=D1"))["items"] == everyone
    assert (await admin.ok("GET", "/v1/units?district=D2"))["items"] == [clinician]
    await admin.ok("POST", "/v1/districts", {"code": "D3", "name": "D3"}, 201)
    assert (await admin.ok("GET", "/v1/units?district=D3"))["items"] == []
    # As its terminal sees itself.
    terminal = await admin.with_role("unit", responder_id=co)  # type: ignore[arg-type]
    mine = (await terminal.ok("GET", "/v1/units/me"))["unit"]
    assert mine == clinician
    # A certification recorded now shows, though the ended shift's row is not kept current.
    assert officer["cit_certified"] is False
    today = datetime.now(UTC).date()
    await certify(
        admin,
        "UT-1",
        number="C-1",
        certified_on=today - timedelta(days=1),
        expires_on=today + timedelta(days=9),
    )
    (certified,) = [
        u for u in (await admin.ok("GET", "/v1/units"))["items"] if u["call_sign"] == "1A1"
    ]
    assert certified["cit_certified"] is True

    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
    await admin.ok("PUT", f"/v1/officers/{busy}/status", {"status": "available"})
    assert (await admin.ok("GET", "/v1/units"))["items"] == []


async def test_a_unit_sent_before_its_first_shift_is_on_the_consoles_and_its_terminal(
    admin: Api,
) -> None:
    # 3 a.m.: the night's CIT officer is short, and the dispatcher calls in the clinician
    # whose first shift starts at seven. Sent, it must show on the consoles and on its own
    # terminal until released; before that, and after, it is on no console.
    for code in ("D1", "D2"):
        await admin.ok("POST", "/v1/districts", {"code": code, "name": code}, 201)
    co = await add_unrostered_co_responder(admin, "Clinician Early")
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=4)
    await add_shift(
        admin,
        "co_responder",
        co,
        call_sign="MCT-7",
        district="D2",
        also_covers=["D1"],
        starts_at=starts,
        ends_at=starts + timedelta(hours=8),
    )
    terminal = await admin.with_role("unit", responder_id=co)  # type: ignore[arg-type]
    assert (await admin.ok("GET", "/v1/units"))["items"] == []
    # Off duty: its terminal is told when its first shift starts, as what.
    off_duty = await terminal.get("/v1/units/me")
    assert off_duty.status_code == 404
    first = starts.isoformat().replace("+00:00", "Z")
    assert off_duty.json()["detail"].startswith(
        f"your unit is off duty: its first shift starts at {first} (call sign MCT-7, district D2)"
    )

    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    sent = {"responder_type": "co_responder", "responder_id": co, "role": "lead"}
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {"units": [sent], "override_code": "supervisor_decision"},
    )
    [unit] = (await admin.ok("GET", "/v1/units"))["items"]
    assert (unit["call_sign"], unit["active_call_id"], unit["status"]) == (
        "MCT-7",
        call["id"],
        "dispatched",
    )
    # Listed as its next shift will serve: based in D2, covering D1.
    assert (unit["district"], unit["also_covers"]) == ("D2", ["D1"])
    assert datetime.fromisoformat(unit["shift_ends_at"]) == starts + timedelta(hours=8)
    assert (await admin.ok("GET", "/v1/units?district=D2"))["items"] == [unit]
    assert (await admin.ok("GET", "/v1/units?district=D1"))["items"] == [unit]
    mine = await terminal.ok("GET", "/v1/units/me")
    assert mine["unit"] == unit
    assert (mine["call"]["id"], mine["assignment"]["role"]) == (call["id"], "lead")
    # Its only shift cannot be cancelled while it is on the call: the unit would vanish
    # from the consoles, still on scene.
    [shift] = (await admin.ok("GET", "/v1/shifts"))["items"]
    refused = await admin.delete(f"/v1/shifts/{shift['id']}")
    assert refused.status_code == 409
    assert (
        f"the unit is on call {call['id']}, and this is its only shift"
        in (refused.json()["detail"])
    )
    assert (await admin.ok("GET", "/v1/units"))["items"] == [unit]

    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
    assert (await admin.ok("GET", "/v1/units"))["items"] == []
    assert (await terminal.get("/v1/units/me")).json()["detail"] == off_duty.json()["detail"]
    # Released, it goes.
    assert (await admin.delete(f"/v1/shifts/{shift['id']}")).status_code == 204
    # With no shift on the roster at all, its terminal is told that.
    none = await terminal.get("/v1/units/me")
    assert none.status_code == 404
    assert none.json()["detail"].startswith("your unit has no shift on the roster:")


async def test_an_off_duty_terminal_is_told_its_first_shift_of_several(admin: Api) -> None:
    for code in ("D1", "D2"):
        await admin.ok("POST", "/v1/districts", {"code": code, "name": code}, 201)
    co = await add_unrostered_co_responder(admin, "Clinician Two Watches")
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=30)
    for sign, district, at in (
        ("MCT-8", "D1", starts),
        ("MCT-7", "D2", starts - timedelta(days=1)),
    ):
        await add_shift(
            admin,
            "co_responder",
            co,
            call_sign=sign,
            district=district,
            starts_at=at,
            ends_at=at + timedelta(hours=8),
        )
    terminal = await admin.with_role("unit", responder_id=co)  # type: ignore[arg-type]
    first = (starts - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    detail = (await terminal.get("/v1/units/me")).json()["detail"]
    assert f"starts at {first} (call sign MCT-7, district D2)" in detail


async def test_a_terminal_whose_unit_has_left_is_told_so_not_its_shifts(
    admin: Api, app: FastAPI
) -> None:
    """Its keys go with its separation; one checked a moment before (or held in another
    instance's cache for its seconds) reaches the lookup, which told it the departed unit's
    next shift (review r17)."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "D1"}, 201)
    co = await add_unrostered_co_responder(admin, "Clinician Gone")
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=4)
    await add_shift(
        admin,
        "co_responder",
        co,
        call_sign="MCT-G",
        district="D1",
        starts_at=starts,
        ends_at=starts + timedelta(hours=8),
    )
    await admin.ok("PATCH", f"/v1/co-responders/{co}", {"active": False})
    context = cast(AgencyContext, SimpleNamespace(agency_id=admin.agency_id))
    async with owner_session(app.state.cit) as session:
        said = await unit_service.without_a_record(
            session, context, responder_id=uuid.UUID(co), now=datetime.now(UTC)
        )
    assert said == "your unit is not active: it has left the agency's roster"


@pytest.mark.parametrize("kind", ["officer", "co_responder"])
async def test_a_unit_the_cad_sends_without_naming_its_incident_stays_in_sight(
    admin: Api, kind: str
) -> None:
    """A CAD reporting a unit en route to an incident of its own without naming it is as
    busy as one that names it: the unit stays on the consoles and its terminal past its
    shift (here, before its first one), and neither deactivating it nor cancelling the shift
    that names it is taken until it is free. A unit was busy only with a call or a named
    incident: this one vanished from the consoles, and could be deactivated still busy."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "D1"}, 201)
    if kind == "officer":
        body = {"state_officer_id": "NN-1", "badge_number": "NN-1", "name": "Officer Unnamed"}
        unit_id = str((await admin.ok("POST", "/v1/officers", body, 201))["id"])
    else:
        unit_id = await add_unrostered_co_responder(admin, "Clinician Unnamed")
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=4)
    await add_shift(
        admin,
        kind,
        unit_id,
        call_sign="1N1",
        district="D1",
        starts_at=starts,
        ends_at=starts + timedelta(hours=8),
    )
    [shift] = (await admin.ok("GET", "/v1/shifts"))["items"]
    terminal = await admin.with_role("unit", responder_id=unit_id)  # type: ignore[arg-type]
    path = f"/v1/{kind.replace('_', '-')}s/{unit_id}"
    await admin.ok("PUT", f"{path}/status", {"status": "en_route"})

    [unit] = (await admin.ok("GET", "/v1/units"))["items"]
    assert (unit["call_sign"], unit["status"], unit["external_incident"]) == (
        "1N1",
        "en_route",
        None,
    )
    assert (await admin.ok("GET", "/v1/units?district=D1"))["items"] == [unit]
    assert (await terminal.ok("GET", "/v1/units/me"))["unit"] == unit
    for refused, said in (
        (
            await admin.delete(f"/v1/shifts/{shift['id']}"),
            "the unit is on an incident of the CAD's (en route), and this is its only shift",
        ),
        (
            await admin.patch(path, {"active": False}),
            "the unit is busy on an incident of the CAD's (en route): have it report",
        ),
    ):
        assert refused.status_code == 409, refused.text
        assert said in refused.json()["detail"]
    assert (await admin.ok("GET", path))["active"] is True
    assert (await admin.ok("GET", "/v1/units"))["items"] == [unit]

    await admin.ok("PUT", f"{path}/status", {"status": "available"})
    assert (await admin.ok("GET", "/v1/units"))["items"] == []
    assert (await terminal.get("/v1/units/me")).status_code == 404
    assert (await admin.delete(f"/v1/shifts/{shift['id']}")).status_code == 204
    assert (await admin.ok("PATCH", path, {"active": False}))["active"] is False


async def test_a_unit_sent_between_its_shifts_shows_the_one_it_worked_last(admin: Api) -> None:
    # Called back between two watches: the record is the watch it worked, as for a unit
    # whose call outlasts its shift, not the one ahead.
    for code in ("D1", "D2"):
        await admin.ok("POST", "/v1/districts", {"code": code, "name": code}, 201)
    body = {"state_officer_id": "BW-1", "badge_number": "BW-1", "name": "Officer Between"}
    officer = str((await admin.ok("POST", "/v1/officers", body, 201))["id"])
    now = datetime.now(UTC).replace(microsecond=0)
    for sign, district, starts in (
        ("1P1", "D1", now - timedelta(hours=10)),
        ("2F1", "D2", now + timedelta(hours=4)),
    ):
        await add_shift(
            admin,
            "officer",
            officer,
            call_sign=sign,
            district=district,
            starts_at=starts,
            ends_at=starts + timedelta(hours=8),
        )
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    sent = {"responder_type": "officer", "responder_id": officer, "role": "lead"}
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {"units": [sent], "override_code": "supervisor_decision"},
    )
    [unit] = (await admin.ok("GET", "/v1/units"))["items"]
    assert (unit["call_sign"], unit["district"]) == ("1P1", "D1")
    assert datetime.fromisoformat(unit["shift_ends_at"]) == now - timedelta(hours=2)
    terminal = await admin.with_role("unit", responder_id=officer)  # type: ignore[arg-type]
    assert (await terminal.ok("GET", "/v1/units/me"))["unit"] == unit


async def add_unrostered_officer(api: Api, state_id: str, ends: datetime, *, call_sign: str) -> str:
    """An officer with one shift, in D1, ending at ends."""
    body = {"state_officer_id": state_id, "badge_number": state_id, "name": f"Officer {state_id}"}
    officer = str((await api.ok("POST", "/v1/officers", body, 201))["id"])
    await add_shift(
        api,
        "officer",
        officer,
        call_sign=call_sign,
        district="D1",
        starts_at=ends - timedelta(hours=8),
        ends_at=ends,
    )
    return officer


async def test_without_a_key_a_units_read_is_a_401_before_its_query_is_checked(
    admin: Api,
) -> None:
    for path in ("/v1/units?district=-bad", "/v1/units?foo=1", "/v1/units/me?foo=1"):
        response = await admin.client.get(path)
        assert response.status_code == 401, (path, response.text)
