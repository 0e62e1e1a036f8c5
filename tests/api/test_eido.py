"""EIDO (NENA-STA-021) end to end: POST /v1/eido, GET /v1/calls/{id}/eido and
GET /v1/eido/incidents/{id} on real PostgreSQL (docs/api.md, "EIDO")."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import quote
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from fastapi import FastAPI

from app.eido.schema import validator
from app.services import eido as eido_service
from app.services import eido_export
from app.services.auth import authenticate
from app.services.eido import import_eido
from app.state import AppState
from tests.eido.documents import (
    APARTMENT,
    APARTMENT_ADDRESS,
    T0,
    document,
    incident_id,
    later,
    person,
    pidf,
    stamp,
)
from tests.helpers import (
    Api,
    add_co_responder,
    add_officer,
    add_shift,
    add_unrostered_co_responder,
    certify,
    grid_districts,
)

# Points inside the grid's districts (tests/helpers.py, grid_districts), and one outside.
IN_D1 = (40.785, -111.925)
IN_D4 = (40.735, -111.875)
NOWHERE = (10.0, 10.0)
NOTE = "Caller says brother hears voices; keys under the mat (NOTE-7f3a)"


async def _import(api: Api, eido: dict[str, Any], status: int, query: str = "") -> Any:
    return await api.ok("POST", f"/v1/eido{query}", eido, status)


async def _count(db: asyncpg.Connection, table: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 (test's own names)


async def _recommendations(api: Api, call_id: str) -> list[Any]:
    return list((await api.ok("GET", f"/v1/calls/{call_id}/recommendations"))["items"])


async def _crew_in_d1(admin: Api) -> None:
    """The grid, with a co-responder (MCT-1) and a CIT officer (1A1) on shift in D1: a
    mental-health lead unless safety says otherwise."""
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)


def _assert_valid_eido(eido: dict[str, Any]) -> None:
    errors = [e.message for e in validator().iter_errors(eido)]
    assert errors == []


# Import: create, update, ignore


async def test_import_creates_a_call_named_by_the_incident_id(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    incident = incident_id()
    civic = {"HNO": "123", "RD": "Main", "STS": "St", "A3": "Salt Lake City", "A1": "UT"}
    eido = document(
        incident,
        nature="MNTL",
        location=pidf(point=IN_D1, civic=civic),
        call_started=T0 - timedelta(minutes=2),
    )
    call = await _import(admin, eido, 201)
    assert call["external_id"] == incident
    assert call["applied"] is True
    assert call["status"] == "pending"
    assert call["district"] == "D1"
    assert call["nature"] == "MNTL"
    assert call["location"] == {
        "lat": IN_D1[0],
        "lon": IN_D1[1],
        "address": "123 Main St, Salt Lake City, UT",
    }
    assert call["received_at"].startswith("2026-11-30T08:58:00")
    assert call["recommendation"]["units"][0]["call_sign"] == "MCT-1"
    found = await admin.ok("GET", f"/v1/calls?external_id={quote(incident)}")
    assert [c["id"] for c in found["items"]] == [call["id"]]


async def test_incident_ids_longer_than_64_characters_are_external_ids(admin: Api) -> None:
    await grid_districts(admin)
    incident = f"urn:emergency:uid:incidentid:{'7' * 150}:psap.example.org"
    call = await _import(admin, document(incident, beat="D2"), 201)
    assert call["external_id"] == incident
    # POST /v1/calls takes them too, up to 255 characters, and no more.
    long_id = "CAD-" + "9" * 251
    await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": long_id}, 201)
    too_long = await admin.post("/v1/calls", {"district": "D1", "external_id": long_id + "0"})
    assert too_long.status_code == 422


async def test_newer_document_with_new_facts_updates_and_retriages(admin: Api) -> None:
    await grid_districts(admin)
    incident = incident_id()
    first = await _import(admin, document(incident, nature="MNTL", beat="D1"), 201)
    newer = document(incident, at=later(5), nature="MTLV", beat="D1", location=pidf(point=IN_D4))
    updated = await _import(admin, newer, 200)
    assert updated["id"] == first["id"]
    assert updated["applied"] is True
    assert updated["nature"] == "MTLV"
    assert updated["district"] == "D4"
    assert updated["location"]["lat"] == IN_D4[0]
    assert updated["recommendation"]["id"] != first["recommendation"]["id"]
    assert len(await _recommendations(admin, first["id"])) == 2


async def test_newer_document_with_the_same_facts_applies_without_retriage(admin: Api) -> None:
    await grid_districts(admin)
    incident = incident_id()
    first = await _import(admin, document(incident, beat="D1", notes=[NOTE]), 201)
    same = await _import(admin, document(incident, at=later(5), beat="D1", notes=[NOTE]), 200)
    assert same["applied"] is True
    assert same["recommendation"]["id"] == first["recommendation"]["id"]
    assert len(await _recommendations(admin, first["id"])) == 1
    # Its timestamp was recorded: a document between the two is now stale.
    between = document(incident, at=later(3), nature="SUICTHRT", beat="D1")
    assert (await _import(admin, between, 200))["applied"] is False


async def test_each_of_nature_place_person_and_notes_retriages(admin: Api) -> None:
    await grid_districts(admin)
    incident = incident_id()
    base: dict[str, Any] = {"nature": "MNTL", "beat": "D1"}
    call = await _import(admin, document(incident, **base), 201)
    changes: list[dict[str, Any]] = [
        {"nature": "SUICTHRT"},
        {"beat": "D2"},
        {"location": pidf(point=IN_D4)},
        {"persons": [person("Patient", ageMeasure={"doubleValue": 15})]},
        {"notes": [NOTE]},
    ]
    for step, change in enumerate(changes, start=1):
        base = {**base, **change}
        out = await _import(admin, document(incident, at=later(step), **base), 200)
        assert out["applied"] is True
        assert len(await _recommendations(admin, call["id"])) == step + 1, change


async def test_stale_or_equal_document_changes_nothing(admin: Api, db: asyncpg.Connection) -> None:
    await grid_districts(admin)
    incident = incident_id()
    eido = document(incident, at=later(10), nature="MNTL", beat="D1", notes=[NOTE])
    call = await _import(admin, eido, 201)
    events = await _count(db, "event")
    replayed = await _import(admin, eido, 200)
    older = document(incident, at=later(1), nature="WEAPON", beat="D2", notes=["other"])
    stale = await _import(admin, older, 200)
    for out in (replayed, stale):
        assert out["applied"] is False
        assert out["id"] == call["id"]
        assert out["nature"] == "MNTL"
        assert out["district"] == "D1"
    assert len(await _recommendations(admin, call["id"])) == 1
    assert await _count(db, "call") == 1
    assert await _count(db, "event") == events
    detail = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert detail["notes"] == NOTE


async def test_concurrent_imports_of_one_incident_make_one_call(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    eido = document(incident_id(), beat="D1")
    answers = await asyncio.gather(*(admin.post("/v1/eido", eido) for _ in range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 200, 201], [a.text for a in answers]
    assert {a.json()["id"] for a in answers} == {answers[0].json()["id"]}
    assert [a.json()["applied"] for a in answers if a.status_code == 200] == [False] * 3
    assert await _count(db, "call") == 1


async def test_newer_document_for_a_cleared_call_is_a_conflict_unless_it_is_no_news(
    admin: Api,
) -> None:
    await grid_districts(admin)
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1"), 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done"})
    newer = await admin.post("/v1/eido", document(incident, at=later(5), nature="MTLV", beat="D1"))
    assert newer.status_code == 409
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["nature"] == "MNTL"
    # A newer one that says nothing new (its own export, echoed back) applies nothing.
    same = await admin.ok("POST", "/v1/eido", document(incident, at=later(6), beat="D1"))
    assert (same["id"], same["applied"], same["status"]) == (call["id"], False, "cleared")


async def test_a_cleared_call_whose_notes_cannot_be_read_still_refuses_with_409(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1", notes=[NOTE]), 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done"})
    await db.execute("UPDATE call SET notes = 'enc:v1:damaged' WHERE id = $1::uuid", call["id"])
    newer = await admin.post("/v1/eido", document(incident, at=later(5), nature="MTLV", beat="D1"))
    assert newer.status_code == 409


# Placing the call


async def test_a_gml_point_places_the_call_by_the_boundaries(admin: Api) -> None:
    await grid_districts(admin)
    eido = document(incident_id(), beat="D2", location=pidf(point=IN_D4))
    assert (await _import(admin, eido, 201, "?district=D3"))["district"] == "D4"


async def test_a_circle_centre_places_the_call(admin: Api) -> None:
    await grid_districts(admin)
    call = await _import(admin, document(incident_id(), location=pidf(circle=IN_D4)), 201)
    assert call["district"] == "D4"
    assert call["location"]["lon"] == IN_D4[1]


@pytest.mark.parametrize(
    ("placing", "outranking", "placing_nothing"),
    [
        # The registry's values in another case.
        (" currentIncident", "CURRENTINCIDENT", "unitlocation"),
        # STA-021's location table (section 2.18) writes "Initial" and "Tower Location"
        # where its registry (section 3.8) writes InitialIncident and TowerLocation: a cell
        # tower's place, which never places a call.
        ("Initial", " initial ", "Tower Location"),
    ],
)
async def test_a_location_type_spelled_otherwise_places_the_call_as_its_registry_value(
    admin: Api, placing: str, outranking: str, placing_nothing: str
) -> None:
    """A CAD's 'currentIncident' or 'Initial' location was ignored: the call was placed by
    its beat, with no point, or by a caller's location the registry's CurrentIncident or
    InitialIncident outranks."""
    await grid_districts(admin)
    eido = document(incident_id(), beat="D1", location=pidf(point=IN_D4), location_type=placing)
    call = await _import(admin, eido, 201)
    assert call["district"] == "D4"
    assert (call["location"]["lat"], call["location"]["lon"]) == IN_D4
    eido = document(incident_id(), location=pidf(point=IN_D1), location_type="Caller")
    eido["locationComponent"].append(
        {
            **eido["locationComponent"][0],
            "$id": f"{eido['$id']}:location:1",
            "locationTypeDescriptionRegistryText": outranking,
            "locationByValue": pidf(point=IN_D4),
        }
    )
    call = await _import(admin, eido, 201)
    assert call["district"] == "D4"
    assert (call["location"]["lat"], call["location"]["lon"]) == IN_D4
    # A type that places no call places nothing, whatever its case.
    eido = document(
        incident_id(), beat="D1", location=pidf(point=IN_D4), location_type=placing_nothing
    )
    call = await _import(admin, eido, 201)
    assert (call["district"], call["location"]) == ("D1", None)


async def test_the_beat_places_a_call_whose_point_no_district_holds(admin: Api) -> None:
    await grid_districts(admin)
    eido = document(incident_id(), beat="D3", location=pidf(point=NOWHERE))
    call = await _import(admin, eido, 201, "?district=D2")
    assert call["district"] == "D3"
    assert call["location"]["lat"] == NOWHERE[0]


async def test_district_query_places_a_call_the_document_does_not(admin: Api) -> None:
    await grid_districts(admin)
    eido = document(incident_id(), beat="Beat 12", location=pidf(point=NOWHERE))
    assert (await _import(admin, eido, 201, "?district=D2"))["district"] == "D2"


async def test_nothing_to_place_the_call_is_a_422_that_says_so(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    civic_only = pidf(civic={"RD": "Main", "A3": "Salt Lake City"})
    for eido in (
        document(incident_id()),
        document(incident_id(), beat="Beat 12", location=pidf(point=NOWHERE)),
        document(incident_id(), location=civic_only),
    ):
        response = await admin.post("/v1/eido", eido)
        assert response.status_code == 422, response.text
        assert "does not place the call" in response.json()["detail"]
    unknown = await admin.post("/v1/eido?district=D9", document(incident_id(), beat="D1"))
    assert unknown.status_code == 422
    assert "D9" in unknown.json()["detail"]
    assert await _count(db, "call") == 0


# A point a CAD sent longitude first (CRS84's order, not EPSG 4326's): no latitude is -111.
SWAPPED = (IN_D4[1], IN_D4[0])
MAIN_ST = {"HNO": "12", "RD": "Main", "STS": "St", "A3": "Salt Lake City"}
MAIN_ST_ADDRESS = "12 Main St, Salt Lake City"
POINT_NOT_READ = "Location from the CAD, not read (locationComponent 0, CurrentIncident): "
SWAPPED_NOT_READ = (
    f"{POINT_NOT_READ}gml:pos is outside WGS 84 latitude and longitude"
    f" (gml:pos sent: {SWAPPED[0]} {SWAPPED[1]})"
)


async def test_a_point_that_cannot_be_read_is_told_in_the_notes_and_the_beat_places_the_call(
    admin: Api,
) -> None:
    """A gml:pos longitude first or that is no pair of numbers, or XML that is not
    well-formed, made the whole document a 422 where the beat or ?district= placed the
    call: the dispatcher lost the incident, its weapon caution and the CAD's notes with it,
    for one coordinate. The call is taken without a point, its civic address kept, and the
    notes say which location was not read, and why."""
    await grid_districts(admin)
    underscored = pidf(point=IN_D4, civic=MAIN_ST).replace(
        f"{IN_D4[0]} {IN_D4[1]}", "40_735 -111.875"
    )
    cases = [
        (pidf(point=SWAPPED, civic=MAIN_ST), MAIN_ST_ADDRESS, SWAPPED_NOT_READ),
        (
            underscored,
            MAIN_ST_ADDRESS,
            f"{POINT_NOT_READ}gml:pos is not 'latitude longitude' (gml:pos sent: 40_735 -111.875)",
        ),
        ("<presence><unclosed></presence>", None, f"{POINT_NOT_READ}not well-formed XML: "),
    ]
    for xml, address, line in cases:
        eido = document(
            incident_id(), beat="D1", location=xml, notes=[NOTE], cautions=[("Weapon", "high")]
        )
        call = await _import(admin, eido, 201)
        assert call["district"] == "D1"
        place = None if address is None else {"lat": None, "lon": None, "address": address}
        assert call["location"] == place
        assert call["safety"]["weapon"] is True
        notes = (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"]
        assert notes.startswith(f"{NOTE}\n\n{line}"), notes
        assert notes.count(POINT_NOT_READ) == 1
    # ?district= places it as well.
    eido = document(incident_id(), location=pidf(point=SWAPPED))
    call = await _import(admin, eido, 201, "?district=D2")
    assert (call["district"], call["location"]) == ("D2", None)
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"] == SWAPPED_NOT_READ


async def test_a_point_not_read_beside_a_better_typed_point_read_changes_nothing(
    admin: Api,
) -> None:
    # The caller's point, which the incident's outranks, was a 422 too.
    await grid_districts(admin)
    eido = document(incident_id(), location=pidf(point=IN_D1))
    eido["locationComponent"].append(
        {
            **eido["locationComponent"][0],
            "$id": f"{eido['$id']}:location:1",
            "locationTypeDescriptionRegistryText": "Caller",
            "locationByValue": pidf(point=SWAPPED),
        }
    )
    call = await _import(admin, eido, 201)
    assert (call["district"], call["location"]["lat"]) == ("D1", IN_D1[0])
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"] is None


def _with_caller(eido: dict[str, Any], location: str) -> dict[str, Any]:
    """The document with a Caller location component after its incident's."""
    eido["locationComponent"].append(
        {
            **eido["locationComponent"][0],
            "$id": f"{eido['$id']}:location:1",
            "locationTypeDescriptionRegistryText": "Caller",
            "locationByValue": location,
        }
    )
    return eido


async def test_the_incidents_point_not_read_beside_the_callers_gives_no_point_of_the_caller(
    admin: Api,
) -> None:
    """The caller's point, read, stood as the incident's beside its address: the call moved
    to the caller's district and the incident's street was dropped for the caller's (the
    review). The incident keeps its own address and no point; the caller's point places
    only a call that neither its point nor the beat places; a call holding a point keeps
    it and its district."""
    await grid_districts(admin)
    elm = pidf(point=IN_D1, civic={"HNO": "99", "RD": "Elm", "STS": "Ave"})
    incident = incident_id()
    taken = _with_caller(document(incident, location=pidf(point=SWAPPED, civic=MAIN_ST)), elm)
    call = await _import(admin, taken, 201)
    assert (call["district"], call["location"]) == (
        "D1",  # the caller's point places it: nothing else does
        {"lat": None, "lon": None, "address": MAIN_ST_ADDRESS},
    )
    assert (await _notes(admin, call["id"])) == SWAPPED_NOT_READ
    beat = _with_caller(
        document(incident_id(), location=pidf(point=SWAPPED, civic=MAIN_ST), beat="D4"), elm
    )
    placed = await _import(admin, beat, 201)
    assert (placed["district"], placed["location"]["lat"]) == ("D4", None)
    # ?district= outranks the caller's phone, which may be far from the person in crisis.
    asked = _with_caller(document(incident_id(), location=pidf(point=SWAPPED)), elm)
    placed = await _import(admin, asked, 201, "?district=D4")
    # Nor is the caller's address the incident's: the incident gave none.
    assert (placed["district"], placed["location"]) == ("D4", None)
    # A call the caller's point placed stays where it is when the caller moves.
    moved = _with_caller(
        document(incident, at=later(1), location=pidf(point=SWAPPED, civic=MAIN_ST)),
        pidf(point=IN_D4),
    )
    assert (await _import(admin, moved, 200))["district"] == "D1"
    # Held: the incident's point read first, then the same incident garbled, with and
    # without its address (the caller's is no news about the incident's).
    incident = incident_id()
    first = _with_caller(document(incident, location=pidf(point=IN_D4, civic=MAIN_ST)), elm)
    held = await _import(admin, first, 201)
    assert (held["district"], held["location"]["lat"]) == ("D4", IN_D4[0])
    for step, garbled in enumerate((pidf(point=SWAPPED, civic=MAIN_ST), pidf(point=SWAPPED))):
        update = _with_caller(document(incident, at=later(step + 1), location=garbled), elm)
        kept = await _import(admin, update, 200)
        assert (kept["district"], kept["location"]) == (
            "D4",
            {"lat": IN_D4[0], "lon": IN_D4[1], "address": MAIN_ST_ADDRESS},
        )


async def test_a_point_read_beside_the_current_one_not_read_places_the_call_as_its_type_does(
    admin: Api,
) -> None:
    """A second current location read beside one not read is the incident's point: the call
    was taken without a point or an address, placed by ?district= (review r4). An initial
    location read is older than the current one not read: it places only a new call
    nothing else places, its address kept when the current one gives none, and a call
    holding a point keeps it (review r5)."""
    await grid_districts(admin)

    def beside(eido: dict[str, Any], kind: str, xml: str) -> dict[str, Any]:
        eido["locationComponent"].append(
            {
                **eido["locationComponent"][0],
                "$id": f"{eido['$id']}:location:1",
                "locationTypeDescriptionRegistryText": kind,
                "locationByValue": xml,
            }
        )
        return eido

    main_in_d4 = pidf(point=IN_D4, civic=MAIN_ST)
    current = beside(
        document(incident_id(), location=pidf(point=SWAPPED)), "CurrentIncident", main_in_d4
    )
    call = await _import(admin, current, 201, "?district=D1")
    assert (call["district"], call["location"]) == (
        "D4",
        {"lat": IN_D4[0], "lon": IN_D4[1], "address": MAIN_ST_ADDRESS},
    )
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"] is None
    garbled_main = pidf(point=SWAPPED, civic=MAIN_ST)
    elm_in_d4 = pidf(point=IN_D4, civic={"HNO": "99", "RD": "Elm", "STS": "Ave"})
    initial = beside(document(incident_id(), location=garbled_main), "InitialIncident", elm_in_d4)
    call = await _import(admin, initial, 201, "?district=D1")
    assert (call["district"], call["location"]) == (
        "D1",
        {"lat": None, "lon": None, "address": MAIN_ST_ADDRESS},
    )
    assert await _notes(admin, call["id"]) == SWAPPED_NOT_READ
    # Held at its current point: an initial location read does not move it back, nor does
    # its address stand as a new one when the current location gives none (review r6).
    incident = incident_id()
    first = beside(
        document(incident, location=pidf(point=IN_D1, civic=MAIN_ST)), "InitialIncident", elm_in_d4
    )
    held = await _import(admin, first, 201)
    for step, xml in enumerate((garbled_main, pidf(point=SWAPPED)), start=1):
        garbled = beside(
            document(incident, at=later(step), location=xml, beat="D4"),
            "InitialIncident",
            elm_in_d4,
        )
        kept = await _import(admin, garbled, 200)
        assert (kept["district"], kept["location"]) == (held["district"], held["location"])


async def test_an_update_racing_an_import_keeps_the_calls_district_not_the_callers(
    admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import that found no call, then lost the race to create it (CallExists), updates
    the call made meanwhile: it did so in the district the caller's point gave the new
    call it meant to make, not the call's own (review r4)."""
    await grid_districts(admin)
    incident = incident_id()
    await _import(admin, document(incident, location=pidf(point=IN_D4, civic=MAIN_ST)), 201)
    found = eido_export.incident_call  # app/services/eido.py's, by name
    missed: list[bool] = []

    async def missing_once(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("for_update") and not missed:
            missed.append(True)
            return None  # as if the call were being imported concurrently
        return await found(*args, **kwargs)

    monkeypatch.setattr(eido_service, "incident_call", missing_once)
    oak = pidf(point=SWAPPED, civic={"HNO": "5", "RD": "Oak", "STS": "St"})
    update = _with_caller(document(incident, at=later(1), location=oak), pidf(point=IN_D1))
    kept = await _import(admin, update, 200)
    assert missed == [True]
    assert (kept["district"], kept["location"]) == (
        "D4",
        {"lat": None, "lon": None, "address": "5 Oak St"},
    )


async def test_a_point_that_cannot_be_read_and_nothing_else_to_place_the_call_is_a_422_saying_why(
    admin: Api, db: asyncpg.Connection
) -> None:
    # It said why the point was not read; "does not place the call" alone would not.
    await grid_districts(admin)
    response = await admin.post("/v1/eido", document(incident_id(), location=pidf(point=SWAPPED)))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["detail"].startswith("the EIDO does not place the call: give a geodetic point")
    assert problem["detail"].endswith(
        "(locationComponent 0's point cannot be read: gml:pos is outside WGS 84 latitude and"
        " longitude)"
    )
    assert problem["errors"][0]["loc"] == ["body", "locationComponent", 0, "locationByValue"]
    assert str(SWAPPED[0]) not in response.text  # the value sent is never echoed
    assert await _count(db, "call") == 0


async def test_a_later_point_that_cannot_be_read_keeps_the_calls_point_and_district_told_once(
    admin: Api,
) -> None:
    """An unreadable point is no news that the caller has none: the call keeps the point
    it holds and its district (not the beat's, which the point outranked), and the notes
    tell it once, not on every repeat; a point read again takes the line away."""
    await _crew_in_d1(admin)
    incident = incident_id()
    read = pidf(point=IN_D4, civic=MAIN_ST)
    first = await _import(admin, document(incident, beat="D1", location=read, notes=[NOTE]), 201)
    assert first["district"] == "D4"
    unread = pidf(point=SWAPPED, civic=MAIN_ST)
    told = await _import(
        admin, document(incident, at=later(1), beat="D1", location=unread, notes=[NOTE]), 200
    )
    assert told["applied"] is True
    assert (told["district"], told["location"]) == ("D4", first["location"])
    notes = f"{NOTE}\n\n{SWAPPED_NOT_READ}"
    assert (await admin.ok("GET", f"/v1/calls/{first['id']}"))["notes"] == notes
    # The CAD's next document, the same point not read: no news, nothing re-triaged.
    again = await _import(
        admin, document(incident, at=later(2), beat="D1", location=unread, notes=[NOTE]), 200
    )
    assert again["applied"] is True
    assert again["recommendation"]["id"] == told["recommendation"]["id"]
    assert (again["district"], again["location"]) == ("D4", first["location"])
    assert (await admin.ok("GET", f"/v1/calls/{first['id']}"))["notes"] == notes
    assert len(await _recommendations(admin, first["id"])) == 2
    # Read again: the point is no news, and the line goes.
    fixed = await _import(
        admin, document(incident, at=later(3), beat="D1", location=read, notes=[NOTE]), 200
    )
    assert (fixed["district"], fixed["location"]) == ("D4", first["location"])
    assert (await admin.ok("GET", f"/v1/calls/{first['id']}"))["notes"] == NOTE


async def test_a_point_that_cannot_be_read_is_no_news_to_a_cleared_call(admin: Api) -> None:
    await grid_districts(admin)
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1", location=pidf(point=IN_D4)), 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done"})
    eido = document(incident, at=later(5), beat="D1", location=pidf(point=SWAPPED))
    same = await _import(admin, eido, 200)
    assert (same["applied"], same["status"]) == (False, "cleared")
    assert (same["district"], same["location"]) == ("D4", call["location"])
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"] is None


async def test_a_value_of_the_wrong_shape_in_an_eido_is_told_the_shape_in_words(
    admin: Api, db: asyncpg.Connection
) -> None:
    # Valid to the EIDO schema, refused by the call's own rules: in words, not a regex.
    await grid_districts(admin)
    nature = document(incident_id(), beat="D1", nature="\u0001")
    response = await admin.post("/v1/eido", nature)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].endswith(
        "not an acceptable EIDO: Should be text with at least one visible character, and no"
        " NUL characters"
    )
    assert await _count(db, "call") == 0
    # A NUL in the only address given (a CAD's stray byte): shown as U+FFFD, as in notes;
    # refused, the whole document was lost, its weapon caution with it.
    described = document(incident_id(), beat="D1", cautions=[("Weapon", "highest")])
    described["locationComponent"] = [
        {
            "$id": "l",
            "lastUpdateTimeStamp": "2026-11-30T09:00:00Z",
            "updatedByAgencyReference": {"$ref": described["agencyComponent"][0]["$id"]},
            "locationTypeDescriptionRegistryText": "CurrentIncident",
            "locationDescriptionText": "12 Main\u0000St",
        }
    ]
    taken = await _import(admin, described, 201)
    assert taken["location"]["address"] == "12 Main\ufffdSt"
    assert taken["safety"]["weapon"] is True


async def test_an_update_that_does_not_place_the_call_keeps_its_district(admin: Api) -> None:
    # Only a new call must be placed. A later document with no location, or a new address a
    # CAD has yet to geocode, and no beat, still tells the call its news (a violent nature
    # here); it was refused whole with "does not place the call".
    await _crew_in_d1(admin)
    incident = incident_id()
    first = await _import(admin, document(incident, location=pidf(point=IN_D4)), 201)
    assert first["district"] == "D4"
    violent = await _import(admin, document(incident, at=later(1), nature="MTLV"), 200)
    assert violent["applied"] is True
    assert (violent["nature"], violent["district"]) == ("MTLV", "D4")
    assert violent["location"] == first["location"]
    assert violent["recommendation"]["lead"] == "law_enforcement"
    elsewhere = pidf(civic={"HNO": "40", "RD": "State", "STS": "St", "A3": "Salt Lake City"})
    moved = await _import(admin, document(incident, at=later(2), location=elsewhere), 200)
    assert moved["district"] == "D4"
    assert moved["location"] == {"lat": None, "lon": None, "address": "40 State St, Salt Lake City"}
    # A new incident still has to be placed.
    refused = await admin.post("/v1/eido", document(incident_id(), location=elsewhere))
    assert refused.status_code == 422, refused.text


async def test_a_civic_address_without_a_point_is_kept_and_a_later_point_joins_it(
    admin: Api,
) -> None:
    await grid_districts(admin)
    incident = incident_id()
    main_st = pidf(civic={"HNO": "12", "RD": "Main", "STS": "St", "A3": "Salt Lake City"})
    call = await _import(admin, document(incident, beat="D1", location=main_st), 201)
    address = "12 Main St, Salt Lake City"
    assert call["location"] == {"lat": None, "lon": None, "address": address}
    assert call["district"] == "D1"
    exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    [place] = exported["locationComponent"]
    assert place["locationDescriptionText"] == address
    assert "locationByValue" not in place
    assert [e.message for e in validator().iter_errors(exported)] == []

    located = pidf(
        point=IN_D1, civic={"HNO": "12", "RD": "Main", "STS": "St", "A3": "Salt Lake City"}
    )
    fixed = await _import(admin, document(incident, at=later(1), beat="D1", location=located), 200)
    assert fixed["location"] == {"lat": IN_D1[0], "lon": IN_D1[1], "address": address}
    # The same address again without the point: the document leaves the point out, so the
    # call keeps it.
    again = await _import(admin, document(incident, at=later(2), beat="D1", location=main_st), 200)
    assert again["location"] == fixed["location"]
    # A new address without a point: the old point placed the old address, so it goes.
    elsewhere = pidf(civic={"HNO": "40", "RD": "State", "STS": "St", "A3": "Salt Lake City"})
    moved = await _import(
        admin, document(incident, at=later(3), beat="D1", location=elsewhere), 200
    )
    assert moved["location"] == {"lat": None, "lon": None, "address": "40 State St, Salt Lake City"}


async def test_the_same_point_without_its_address_keeps_the_address_and_a_new_one_drops_it(
    admin: Api,
) -> None:
    """A newer document with the same point and no address wiped the call's street address,
    sent on with call.updated to the units (an outside-in check); the mirror of the rule
    above, which kept a point beside the same address."""
    await grid_districts(admin)
    incident = incident_id()
    both = pidf(point=IN_D1, civic={"HNO": "12", "RD": "Elm", "STS": "St", "A3": "Salt Lake City"})
    call = await _import(admin, document(incident, location=both), 201)
    address = "12 Elm St, Salt Lake City"
    assert call["location"] == {"lat": IN_D1[0], "lon": IN_D1[1], "address": address}
    point_alone = await _import(
        admin, document(incident, at=later(1), location=pidf(point=IN_D1)), 200
    )
    assert point_alone["location"] == call["location"]
    assert len(await _recommendations(admin, call["id"])) == 1
    moved_to = (IN_D1[0] + 0.001, IN_D1[1])
    moved = await _import(
        admin, document(incident, at=later(2), location=pidf(point=moved_to)), 200
    )
    assert moved["location"] == {"lat": moved_to[0], "lon": moved_to[1], "address": None}


async def test_a_calls_own_export_imports_again_with_its_point_and_address(admin: Api) -> None:
    await grid_districts(admin)
    where = {"lat": IN_D1[0], "lon": IN_D1[1], "address": "12 Main St"}
    located = await admin.ok("POST", "/v1/calls", {"location": where}, 201)
    only_address = await admin.ok(
        "POST", "/v1/calls", {"district": "D2", "location": {"address": "40 State St"}}, 201
    )
    received = "2026-11-30T09:15:00Z"
    earlier = await admin.ok("POST", "/v1/calls", {"district": "D3", "received_at": received}, 201)
    for call in (located, only_address, earlier):
        exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
        # The same document as another incident (a neighbouring PSAP's copy, say).
        text = json.dumps(exported).replace(exported["$id"], incident_id())
        again = await _import(admin, json.loads(text), 201)
        assert again["id"] != call["id"]
        assert (again["location"], again["district"]) == (call["location"], call["district"])
        # When it was received travels too (to the millisecond, as EIDO stamps go): the
        # copy took its time of import.
        sent, taken = (datetime.fromisoformat(c["received_at"]) for c in (call, again))
        assert timedelta(0) <= sent - taken < timedelta(milliseconds=1)
    assert earlier["received_at"] == received


async def test_a_civic_address_keeps_its_street_and_apartment_and_comes_back_unchanged(
    admin: Api,
) -> None:
    """An apartment block's address lost its street name (A6) and its building, floor and
    apartment: a unit was sent to '123 St, Salt Lake City, UT' (an outside-in check)."""
    await grid_districts(admin)
    long_civic = {**APARTMENT, "LOC": "ring twice " * 60}
    for where in (APARTMENT, long_civic):
        incident = incident_id()
        eido = document(incident, location=pidf(point=IN_D1, civic=where))
        call = await _import(admin, eido, 201)
        if where is APARTMENT:
            assert call["location"]["address"] == APARTMENT_ADDRESS
        assert len(call["location"]["address"]) <= 500
        exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
        _assert_valid_eido(exported)
        assert (
            exported["locationComponent"][0]["locationDescriptionText"]
            == (call["location"]["address"])
        )
        # Its own export, echoed, changes nothing; nor does the CAD's document sent again.
        echoed = await _import(admin, exported, 200)
        assert echoed["applied"] is False
        again = await _import(admin, {**eido, "lastUpdateTimeStamp": stamp(later(1))}, 200)
        assert again["applied"] is True
        assert again["location"] == call["location"]
        # Another agency's copy of the export (another incident) takes the same address.
        text = json.dumps(exported).replace(exported["$id"], incident_id())
        copied = await _import(admin, json.loads(text), 201)
        assert copied["location"] == call["location"]
        assert len(await _recommendations(admin, call["id"])) == 1


# The person and the notes


async def test_the_subjects_age_comes_from_age_or_birth_date(admin: Api) -> None:
    await grid_districts(admin)
    by_age = [person("Caller", ageMeasure=52), person("Patient", ageMeasure={"doubleValue": 15})]
    call = await _import(admin, document(incident_id(), beat="D1", persons=by_age), 201)
    assert call["subject"] == {"age": 15}
    born = date(T0.year - 17, T0.month, T0.day) + timedelta(days=1)  # 17 tomorrow: still 16
    by_birth = [person("InvolvedPerson", birthDate={"date": born.isoformat()})]
    call = await _import(admin, document(incident_id(), beat="D1", persons=by_birth), 201)
    assert call["subject"] == {"age": 16}
    call = await _import(admin, document(incident_id(), beat="D1", persons=by_age[:1]), 201)
    assert call["subject"] == {}  # a caller's age is not the subject's


async def test_a_persons_role_in_another_case_still_gives_the_subjects_age(admin: Api) -> None:
    """A CAD's 'patient' was no Patient: the 15-year-old's age was dropped, and with it the
    youth specialist."""
    await grid_districts(admin)
    for role in ("patient", " INVOLVEDPERSON "):
        persons = [person(role, ageMeasure=15)]
        call = await _import(admin, document(incident_id(), beat="D1", persons=persons), 201)
        assert call["subject"] == {"age": 15}, role
    persons = [person("caller", ageMeasure=52)]
    call = await _import(admin, document(incident_id(), beat="D1", persons=persons), 201)
    assert call["subject"] == {}  # a caller's age is not the subject's, in any case


async def test_an_age_from_a_birth_date_is_the_age_on_the_agencys_date(admin: Api) -> None:
    """At 18:48 in Denver on 4 December, written in UTC (01:48 on the 5th), a person born on
    5 December 2008 was taken as 18 that evening, not 17, by the document's own offset: the
    youth specialist was not sent (an outside-in check). Written either way, 17."""
    await grid_districts(admin)
    by_birth = [person("InvolvedPerson", birthDate={"date": "2008-12-05"})]
    evening = datetime(2026, 12, 5, 1, 48, 32, tzinfo=UTC)
    for at in (evening, evening.astimezone(timezone(timedelta(hours=-7)))):
        eido = document(incident_id(), at=at, beat="D1", persons=by_birth)
        assert eido["lastUpdateTimeStamp"].endswith(("Z", "-07:00", "+00:00"))
        call = await _import(admin, eido, 201)
        assert call["subject"] == {"age": 17}, eido["lastUpdateTimeStamp"]


async def _refused_age(admin: Api, subject: dict[str, Any]) -> str:
    """The detail of the 422 refusing a document for its subject's age, at the person."""
    eido = document(incident_id(), beat="D1", persons=[subject])
    response = await admin.post("/v1/eido", eido)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["loc"] == ["body", "personComponent", 0, "ncPersonComponent"]
    return str(problem["detail"])


async def test_a_birth_date_after_the_document_or_a_negative_age_is_a_422_that_says_so(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Each was "Input should be greater than or equal to 0": the negative age it made (an
    outside-in check)."""
    await grid_districts(admin)
    born = (T0.date() + timedelta(days=40)).isoformat()
    for niem, said in (
        ({"birthDate": {"date": born}}, "is after the document's date"),
        ({"ageMeasure": -3}, "0 or more, not -3"),
    ):
        assert said in await _refused_age(admin, person("InvolvedPerson", **niem))
    assert await _count(db, "call") == 0


async def test_an_age_given_in_months_weeks_days_or_hours_is_the_subjects_age_in_years(
    admin: Api,
) -> None:
    """A 6-month-old was read as 6 years old: every ageMeasure was taken as years, whatever
    its unitText."""
    await grid_districts(admin)
    for measure, years in (
        ({"doubleValue": 6, "unitText": "months"}, 0),
        ({"doubleValue": 30, "unitText": " Month "}, 2),
        ({"doubleValue": 60, "unitText": "WEEKS"}, 1),
        ({"doubleValue": 400, "unitText": "day"}, 1),
        ({"doubleValue": 36, "unitText": "hours"}, 0),
        ({"doubleValue": 18, "unitCode": "MON"}, 1),
        ({"doubleValue": 16.9, "unitText": "yrs", "unitCode": "ANN"}, 16),
        ({"doubleValue": 16, "unitText": ""}, 16),
        ({"doubleValue": 16}, 16),
        # NIEM's time codes (UN/CEFACT Recommendation 20) have minutes and seconds too: a
        # newborn's age, given so, was a 422 ("not a unit").
        ({"doubleValue": 45, "unitCode": "MIN"}, 0),
        ({"doubleValue": 90, "unitText": "Minutes"}, 0),
        ({"doubleValue": 3600, "unitCode": "sec"}, 0),
    ):
        persons = [person("Patient", ageMeasure=measure)]
        call = await _import(admin, document(incident_id(), beat="D1", persons=persons), 201)
        assert call["subject"] == {"age": years}, measure
        shown = await admin.ok("GET", f"/v1/calls/{call['id']}")
        assert shown["subject"] == {"age": years}, measure


async def test_an_age_in_a_unit_the_service_does_not_read_is_told_not_taken_as_years(
    admin: Api, db: asyncpg.Connection
) -> None:
    """'6 fortnights' was taken as 6 years old; then it was a 422 that lost the whole
    document, its weapon caution with it (and, through the STA-024 subscriber, for good: a
    refused document is not sent again). The document is taken, the age left unread (the
    next person's is not taken in its place), and the notes tell the dispatcher what the
    CAD sent, as they tell a caution not read."""
    await grid_districts(admin)
    for measure, said in (
        ({"doubleValue": 6, "unitText": "fortnights"}, "6 fortnights"),
        ({"doubleValue": 6, "unitCode": "DEC"}, "6 DEC"),
        ({"doubleValue": 6, "unitText": "days", "unitCode": "ANN"}, "6 days / ANN"),
    ):
        persons = [person("Patient", ageMeasure=measure), person("Victim", ageMeasure=40)]
        incident = incident_id()
        cautions = [("Weapon", "high")]
        call = await _import(
            admin, document(incident, beat="D1", persons=persons, cautions=cautions), 201
        )
        assert call["safety"]["weapon"] is True, measure
        assert "age" not in (call["subject"] or {}), call["subject"]
        line = f"Age from the CAD, not read (a unit the service does not read): {said}"
        shown = await admin.ok("GET", f"/v1/calls/{call['id']}")
        assert shown["notes"] == line, shown["notes"]
        # The CAD's next document, unchanged: no news, the line told once.
        eido = document(incident, at=later(1), beat="D1", persons=persons, cautions=cautions)
        again = await _import(admin, eido, 200)
        assert again["recommendation"]["id"] == call["recommendation"]["id"]
        assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"] == line
    assert await _count(db, "call") == 3


async def test_notes_are_kept_encrypted_and_never_exported(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    eido = document(incident_id(), beat="D1", notes=[NOTE, "Second note"])
    call = await _import(admin, eido, 201)
    assert "NOTE-7f3a" not in json.dumps(call)
    stored = await db.fetchval("SELECT notes FROM call WHERE id = $1", UUID(call["id"]))
    assert "NOTE-7f3a" not in stored
    detail = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert detail["notes"] == f"{NOTE}\n\nSecond note"
    exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    assert "NOTE-7f3a" not in json.dumps(exported)
    assert "notesComponent" not in exported
    by_id = await admin.ok("GET", f"/v1/eido/incidents/{quote(exported['$id'], safe='')}")
    assert "NOTE-7f3a" not in json.dumps(by_id)


# Documents refused


async def test_documents_that_are_not_eidos_are_422s_that_write_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    good = document(incident_id(), beat="D1")
    missing = {k: v for k, v in good.items() if k != "issuingElementIdentification"}
    no_id = {k: v for k, v in good.items() if k != "$id"}
    by_reference = {
        "$id": "l",
        "lastUpdateTimeStamp": good["lastUpdateTimeStamp"],
        "updatedByAgencyReference": {"$ref": "a"},
        "locationTypeDescriptionRegistryText": "CurrentIncident",
    }
    cases: list[tuple[dict[str, Any], str, list[Any]]] = [
        (missing, "issuingElementIdentification", ["body"]),
        (no_id, "$id", ["body"]),
        ({**good, "eidoVersion": 1.0}, "should be of type string", ["body", "eidoVersion"]),
        (
            {**good, "lastUpdateTimeStamp": "yesterday"},
            "should be a valid date-time",
            ["body", "lastUpdateTimeStamp"],
        ),
        (
            {
                **good,
                "incidentComponent": {**good["incidentComponent"], "beatOrDispatchGroupText": 3},
            },
            "string",
            ["body", "incidentComponent", "beatOrDispatchGroupText"],
        ),
        (
            {
                **good,
                "locationComponent": [{**by_reference, "locationByReferenceUrl": "yesterday"}],
            },
            "should be a valid uri",
            ["body", "locationComponent", 0, "locationByReferenceUrl"],
        ),
        ({**good, "$id": "CAD-12"}, "Incident Tracking Identifier", ["body", "$id"]),
        # The prefix alone, or no agency part (NENA-STA-010): every CAD sending such an id
        # would land on one call.
        ({**good, "$id": "urn:emergency:uid:incidentid:"}, "<unique id>", ["body", "$id"]),
        ({**good, "$id": "urn:emergency:uid:incidentid:7c0f"}, "<agency id>", ["body", "$id"]),
        ({**good, "$id": "urn:emergency:uid:incidentid::psap.org"}, "STA-010", ["body", "$id"]),
    ]
    for eido, named, loc in cases:
        response = await admin.post("/v1/eido", eido)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert named in problem["detail"], problem
        assert problem["errors"][0]["loc"] == loc, problem
        assert "yesterday" not in response.text  # the value sent is never echoed
    assert await _count(db, "call") == 0
    assert await _count(db, "event") == 0


async def test_a_calls_id_of_the_prefix_alone_is_not_its_incident_id(admin: Api) -> None:
    # A CAD number that starts like an incident id but lacks STA-010's agency part: the
    # export assigns the call its own id, one that import takes back, not one it refuses.
    await grid_districts(admin)
    cad = "urn:emergency:uid:incidentid:7c0f"
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": cad}, 201)
    eido = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    assert eido["$id"] != cad
    assert eido["$id"].endswith(":" + UUID(call["id"]).hex + ":" + admin.agency_id.hex)
    echoed = await _import(admin, eido, 200)
    assert (echoed["id"], echoed["applied"]) == (call["id"], False)


async def test_hostile_xml_in_a_location_is_a_422_that_writes_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>'
        "<presence>&lol2;</presence>"
    )
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<presence>&xxe;</presence>"
    )
    # Refused, not read: XML that is not well-formed is a point not read (above).
    for xml in (laughs, xxe):
        eido = document(incident_id(), beat="D1", location=xml)
        response = await admin.post("/v1/eido", eido)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == [
            "body",
            "locationComponent",
            0,
            "locationByValue",
        ]
        assert "root:" not in response.text
    assert await _count(db, "call") == 0


# Export and retrieval


async def test_pending_call_exports_a_valid_eido_found_by_its_assigned_id(admin: Api) -> None:
    await grid_districts(admin)
    call = await admin.ok(
        "POST",
        "/v1/calls",
        {
            "district": "D1",
            "location": {"lat": IN_D1[0], "lon": IN_D1[1], "address": "123 Main St"},
            "nature": "suicthrt",
            "subject": {"age": 15},
            "notes": NOTE,
            "external_id": "CAD-2026-1",
        },
        201,
    )
    eido = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    _assert_valid_eido(eido)
    assert eido["$id"] == (
        f"urn:emergency:uid:incidentid:{UUID(call['id']).hex}:{admin.agency_id.hex}"
    )
    incident = eido["incidentComponent"]
    assert incident["incidentTypeCommonRegistryText"] == "SUICTHRT"
    assert incident["incidentStatusCommonRegistryText"] == ["Active"]
    assert incident["beatOrDispatchGroupText"] == "D1"
    # The CAD's number the call was taken under: a system holding the export finds the CAD's
    # incident by it (our id is in $id).
    assert incident["internalIncidentId"] == "CAD-2026-1"
    assert "dispositionComponent" not in incident
    assert len(eido["dispatchComponent"]) == 1
    assert "emergencyResourceComponent" not in eido
    assert eido["personComponent"][0]["ncPersonComponent"]["ageMeasure"]["doubleValue"] == 15
    assert f"{IN_D1[0]} {IN_D1[1]}" in eido["locationComponent"][0]["locationByValue"]
    assert "NOTE-7f3a" not in json.dumps(eido)
    # The agency component says who sends it: a jCard (RFC 7095) with the agency's name.
    [agency] = eido["agencyComponent"]
    card = json.loads(agency["agencyJcard"])
    assert card[0] == "vcard"
    assert ["fn", {}, "text", "Salt Lake Crisis"] in card[1]
    by_id = await admin.ok("GET", f"/v1/eido/incidents/{quote(eido['$id'], safe='')}")
    assert by_id == eido
    # Its external_id is no incident id: it finds nothing by that.
    assert (await admin.get("/v1/eido/incidents/CAD-2026-1")).status_code == 404


async def test_free_text_nature_exports_as_a_crisis_type_with_its_own_text(admin: Api) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "man on bridge"}, 201)
    incident = (await admin.ok("GET", f"/v1/calls/{call['id']}/eido"))["incidentComponent"]
    assert incident["incidentTypeCommonRegistryText"] == "EDP"
    assert incident["incidentTypeInternalText"] == "man on bridge"


async def test_a_units_progress_dates_the_export_and_its_echo_is_still_no_news(
    admin: Api,
) -> None:
    # STA-021: lastUpdateTimeStamp is when the data last changed. A unit reporting en route
    # changed the document (ResourcesEnroute, the unit's EnRoute) but not its date, so a
    # receiver keeping only newer documents dropped the unit's progress.
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {})
    dispatched = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    await asyncio.sleep(0.01)
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "en_route"})
    en_route = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    assert "ResourcesEnroute" in en_route["incidentComponent"]["incidentStatusCommonRegistryText"]
    before = datetime.fromisoformat(dispatched["lastUpdateTimeStamp"])
    assert datetime.fromisoformat(en_route["lastUpdateTimeStamp"]) > before
    # The call's own export, echoed back by a CAD, is still its own: no news.
    echoed = await _import(admin, en_route, 200)
    assert echoed["applied"] is False
    assert len(await _recommendations(admin, call["id"])) == 1


async def test_a_released_unit_is_shown_as_the_incident_left_it_whatever_it_reports_since(
    admin: Api,
) -> None:
    """A unit released out of service, then back in service: the export changed from
    NotAvailable to Available under the same lastUpdateTimeStamp, so a receiver keeping only
    newer documents kept the first (an outside-in check). Dating the document by the
    released unit's reports instead made a CAD's real update, dated before the unit's next
    report on another call, look like the call's own export echoed (the review). Released,
    a unit is shown cleared from the incident in the status it left in (out of service:
    not Available, which a receiving CAD takes as free to dispatch; a later check), and
    what it does since is not its news."""
    await grid_districts(admin)
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {})
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    away = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    await asyncio.sleep(0.01)
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    back = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")

    def shown(eido: dict[str, Any]) -> tuple[str, list[str]]:
        [unit] = [
            r
            for r in eido["emergencyResourceComponent"]
            if r["emergencyResourceTypeInternalText"] == "co_responder"
        ]
        return unit["primaryUnitStatusRegistryText"], unit["secondaryUnitStatusRegistryText"]

    assert shown(away) == shown(back) == ("NotAvailable", ["Cleared", "OutofService"])
    assert back == away
    # A CAD's edit of that export, dated after it and before the unit's next report, is news.
    await asyncio.sleep(0.01)
    edited = {**back, "lastUpdateTimeStamp": stamp(datetime.now(UTC))}
    edited["incidentComponent"] = {
        **back["incidentComponent"],
        "incidentTypeCommonRegistryText": "WEAPON",
    }
    await asyncio.sleep(0.01)
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
    taken = await _import(admin, edited, 200)
    assert taken["applied"] is True
    assert taken["nature"] == "WEAPON"


async def test_a_released_unit_is_exported_in_the_status_it_was_released_into(
    admin: Api,
) -> None:
    """Every released unit was exported Available (and Cleared), one that left out of
    service included: a receiving CAD marked it free to dispatch (an outside-in check). Its
    status now is no answer either: it may be on another call since."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {})
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "out_of_service"})

    def shown(eido: dict[str, Any]) -> dict[str, tuple[str, list[str], list[str]]]:
        return {
            r["emergencyResourceName"]: (
                r["primaryUnitStatusRegistryText"],
                r["secondaryUnitStatusRegistryText"],
                r["unitStatusInternal"],
            )
            for r in eido["emergencyResourceComponent"]
        }

    out = ("NotAvailable", ["Cleared", "OutofService"], ["released", "out_of_service"])
    left = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    _assert_valid_eido(left)
    assert shown(left)["1A1"] == out
    on_call = {r["emergencyResourceName"]: r for r in left["emergencyResourceComponent"]}
    assert "activeOnIncidentId" not in on_call["1A1"]
    # Back in service and sent to another call: still out of service as this one left it.
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "available"})
    other = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    assert [u["call_sign"] for u in other["recommendation"]["units"]] == ["1A1"]
    await admin.ok("POST", f"/v1/calls/{other['id']}/dispatch", {})
    # The clear makes the co-responder available again; the call's own export, echoed, is
    # still no news.
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "settled"})
    cleared = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    _assert_valid_eido(cleared)
    assert shown(cleared) == {
        "1A1": out,
        "MCT-1": ("Available", ["Cleared"], ["released", "available"]),
    }
    assert (await _import(admin, cleared, 200))["applied"] is False
    # A unit reporting back in service is released available.
    third = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    assert [u["call_sign"] for u in third["recommendation"]["units"]] == ["MCT-1"]
    await admin.ok("POST", f"/v1/calls/{third['id']}/dispatch", {})
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    back = await admin.ok("GET", f"/v1/calls/{third['id']}/eido")
    assert shown(back) == {"MCT-1": ("Available", ["Cleared"], ["released", "available"])}


async def test_dispatched_call_exports_its_units_with_type_attribute_and_status(
    admin: Api,
) -> None:
    await grid_districts(admin)
    cit = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    await add_officer(admin, district="D1", call_sign="1A2")
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    assert {u["call_sign"] for u in call["recommendation"]["units"]} == {"1A1", "MCT-1"}
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {})
    await admin.ok("PUT", f"/v1/officers/{cit}/status", {"status": "en_route"})
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "on_scene"})
    eido = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    _assert_valid_eido(eido)
    resources = {r["emergencyResourceName"]: r for r in eido["emergencyResourceComponent"]}
    assert set(resources) == {"1A1", "MCT-1"}
    officer, clinician = resources["1A1"], resources["MCT-1"]
    assert officer["emergencyResourceTypeCommonRegistryText"] == "PatrolUnit"
    assert officer["resourceAttributeRegistryText"] == ["CrisisInterventionSpecialist"]
    assert officer["secondaryUnitStatusRegistryText"] == ["EnRoute"]
    assert officer["primaryUnitStatusRegistryText"] == "NotAvailable"
    assert clinician["emergencyResourceTypeCommonRegistryText"] == "CrisisInterventionUnit"
    assert clinician["secondaryUnitStatusRegistryText"] == ["OnScene"]
    agents = {a["$id"] for a in eido["agentComponent"]}
    assert {r["agentReference"][0]["$ref"] for r in resources.values()} == agents
    dispatched = {r["$ref"] for r in eido["dispatchComponent"][0]["emergencyResourceReference"]}
    assert dispatched == {r["$id"] for r in resources.values()}
    status = eido["incidentComponent"]["incidentStatusCommonRegistryText"]
    assert set(status) == {"Active", "ResourcesAssigned", "ResourcesEnroute", "ResourcesOnscene"}


async def test_each_unit_is_exported_under_the_call_sign_of_the_shift_that_names_it(
    admin: Api,
) -> None:
    """The shift that started last by now names a unit (the one on now, else the one it
    worked last); a unit with none yet, its next one. As dispatch names it."""
    await grid_districts(admin)
    now = datetime.now(UTC)
    officer = await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    worked = await add_unrostered_co_responder(admin, "Worked")
    starting = await add_unrostered_co_responder(admin, "Starting")
    past, later, soon = now - timedelta(days=3), now + timedelta(days=2), now + timedelta(hours=1)
    for unit, kind, sign, start in (
        (officer, "officer", "OLD-1", past),
        (officer, "officer", "NEXT-1", later),
        (worked, "co_responder", "MCT-OLD", past),
        (worked, "co_responder", "MCT-SOON", soon),
        (starting, "co_responder", "MCT-NEXT", later),
    ):
        await add_shift(
            admin,
            kind,
            unit,
            call_sign=sign,
            district="D1",
            starts_at=start,
            ends_at=start + timedelta(hours=8),
        )
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    units = [
        {"responder_type": "officer", "responder_id": officer, "role": "lead"},
        {"responder_type": "co_responder", "responder_id": worked, "role": "support"},
        {"responder_type": "co_responder", "responder_id": starting, "role": "support"},
    ]
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {"units": units, "override_code": "supervisor_decision"},
    )
    eido = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    names = {r["emergencyResourceName"] for r in eido["emergencyResourceComponent"]}
    assert names == {"1A1", "MCT-OLD", "MCT-NEXT"}


async def test_a_cleared_calls_units_are_exported_under_the_call_signs_they_had_on_it(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A call's export named each unit by the call sign of its shift today: a call cleared
    last week, exported again, named its units by call signs they never had on it, and the
    same export changed from one day to the next. Each is named as the call's assignments
    name it, by the call sign it was dispatched under."""
    await grid_districts(admin)
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {})
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
    url = f"/v1/calls/{call['id']}/eido"

    def names(eido: dict[str, Any]) -> set[str]:
        return {r["emergencyResourceName"] for r in eido["emergencyResourceComponent"]}

    before = await admin.ok("GET", url)
    assert names(before) == {"1A1", "MCT-1"}
    # The units work under other call signs now (their shifts of another day).
    await db.execute("UPDATE shift SET call_sign = call_sign || '-NEXT'")
    after = await admin.ok("GET", url)
    assert names(after) == {"1A1", "MCT-1"}
    assert after["emergencyResourceComponent"] == before["emergencyResourceComponent"]


async def _officer_sent_alone(admin: Api, officer: str) -> str:
    """The id of a new call in D1 the officer was sent to alone, as its lead."""
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    units = [{"responder_type": "officer", "responder_id": officer, "role": "lead"}]
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/dispatch",
        {"units": units, "override_reason": "only unit free"},
    )
    return str(call["id"])


async def test_non_cit_officer_has_no_crisis_intervention_attribute(admin: Api) -> None:
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A2")
    call_id = await _officer_sent_alone(admin, officer)
    eido = await admin.ok("GET", f"/v1/calls/{call_id}/eido")
    _assert_valid_eido(eido)
    (resource,) = eido["emergencyResourceComponent"]
    assert resource["resourceAttributeRegistryText"] == []
    assert resource["secondaryUnitStatusRegistryText"] == ["Dispatched"]


# The agency's (the admin fixture's) zone, in which a certification's days are counted.
DENVER = ZoneInfo("America/Denver")


async def _cleared_call_assigned_late_on(
    admin: Api, db: asyncpg.Connection, officer: str, day: date
) -> str:
    """A call the officer was sent to alone and that was cleared, as if they were assigned
    at 23:30 in Denver on day (already 06:30 UTC on the next day)."""
    call_id = await _officer_sent_alone(admin, officer)
    await admin.ok("POST", f"/v1/calls/{call_id}/clear", {"disposition": "resolved"})
    assigned_at = datetime.combine(day, time(23, 30), DENVER)
    await db.execute(
        "UPDATE assignment SET assigned_at = $1 WHERE call_id = $2", assigned_at, UUID(call_id)
    )
    return call_id


async def _attributes(admin: Api, call_id: str) -> list[str]:
    eido = await admin.ok("GET", f"/v1/calls/{call_id}/eido")
    _assert_valid_eido(eido)
    (resource,) = eido["emergencyResourceComponent"]
    return list(resource["resourceAttributeRegistryText"])


async def test_an_officer_certified_when_assigned_stays_cit_in_the_export_after_decertification(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The export marked an officer CIT by their certification on the day of the export: a
    call cleared last week, exported after the officer's certification ended, said the CIT
    officer who handled it was not CIT. It says what held on the agency's date they were
    assigned (the outcome report's with_cit_officer)."""
    await grid_districts(admin)
    officer = await add_officer(
        admin, district="D1", call_sign="1A1", cit=True, state_officer_id="CIT-ENDED"
    )
    day = datetime.now(DENVER).date() - timedelta(days=10)
    call = await _cleared_call_assigned_late_on(admin, db, officer, day)
    assert await _attributes(admin, call) == ["CrisisInterventionSpecialist"]
    certifications = await admin.ok("GET", "/v1/certifications?state_officer_id=CIT-ENDED")
    (certification,) = certifications["items"]
    # Decertified from the day after the call (the UTC date of the assignment, which is not
    # the agency's): still CIT on it.
    url = f"/v1/certifications/{certification['id']}"
    await admin.ok("PATCH", url, {"expires_on": str(day + timedelta(days=1))})
    assert await _attributes(admin, call) == ["CrisisInterventionSpecialist"]
    # Voided (recorded in error): valid on no day, the call's neither.
    await admin.ok("PATCH", url, {"expires_on": certification["certified_on"]})
    assert await _attributes(admin, call) == []


async def test_an_officer_certified_only_after_the_call_is_not_cit_in_its_export(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A2", state_officer_id="CIT-LATER")
    day = datetime.now(DENVER).date() - timedelta(days=10)
    call = await _cleared_call_assigned_late_on(admin, db, officer, day)
    assert await _attributes(admin, call) == []
    await certify(
        admin,
        "CIT-LATER",
        number="CIT-LATER-1",
        certified_on=day + timedelta(days=1),
        expires_on=day + timedelta(days=400),
    )
    assert await _attributes(admin, call) == []
    assert (await admin.ok("GET", f"/v1/officers/{officer}"))["cit"]["certified"] is True


async def test_cleared_call_exports_the_apco_disposition_of_its_outcome(admin: Api) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {})
    await admin.ok(
        "POST",
        f"/v1/calls/{call['id']}/clear",
        {"disposition": "linked to clinic", "outcome": "referred"},
    )
    eido = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    _assert_valid_eido(eido)
    incident = eido["incidentComponent"]
    assert incident["incidentStatusCommonRegistryText"] == ["Closed"]
    (disposition,) = incident["dispositionComponent"]
    assert disposition["dispositionCommonRegistryCode"] == "15"
    (resource,) = eido["emergencyResourceComponent"]
    assert resource["secondaryUnitStatusRegistryText"] == ["Cleared"]
    assert resource["primaryUnitStatusRegistryText"] == "Available"


async def test_the_call_component_is_a_call_identifier_whose_call_ends_when_cleared(
    admin: Api, other_admin: Api
) -> None:
    """A cleared call was exported as callAnswered, a caller still on the line days after,
    under a $id of the incident's with ':call', no STA-010 Call Identifier."""
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    call_identifier = f"urn:emergency:uid:callid:{UUID(call['id']).hex}:{admin.agency_id.hex}"
    states = []
    for step in ("dispatch", "clear"):
        eido = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
        _assert_valid_eido(eido)
        (component,) = eido["callComponent"]
        assert component["$id"] == call_identifier
        states.append(component["callStateRegistryText"])
        body = {"disposition": "linked to clinic"} if step == "clear" else {}
        await admin.ok("POST", f"/v1/calls/{call['id']}/{step}", body)
    eido = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    _assert_valid_eido(eido)
    (component,) = eido["callComponent"]
    assert component["$id"] == call_identifier
    assert [*states, component["callStateRegistryText"]] == [
        "callAnswered",
        "callAnswered",
        "callEnd",
    ]
    # An imported incident's call is named by the incident, alike by every agency that
    # holds it (a component's $id is the same in every EIDO for the incident).
    await grid_districts(other_admin)
    shared = incident_id()
    named = []
    for agency in (admin, other_admin):
        imported = await _import(agency, document(shared, beat="D1"), 201)
        eido = await agency.ok("GET", f"/v1/calls/{imported['id']}/eido")
        _assert_valid_eido(eido)
        (component,) = eido["callComponent"]
        named.append(component["$id"])
    expected = shared.replace("urn:emergency:uid:incidentid:", "urn:emergency:uid:callid:")
    assert named == [expected, expected]


async def test_safety_flags_travel_as_cautions_and_route_the_receiving_agency(
    admin: Api, other_admin: Api
) -> None:
    """A weapon flagged by one agency must reach the next one's routing: a call transferred
    without it would get a mental-health lead."""
    await grid_districts(admin)
    flags = {"weapon": True, "crime_in_progress": True}
    call = await admin.ok(
        "POST", "/v1/calls", {"district": "D1", "nature": "MNTL", "safety": flags}, 201
    )
    exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    _assert_valid_eido(exported)
    assert sorted(
        (c["cautionTypeCommonRegistryText"], c["cautionSeverity"])
        for c in exported["cautionComponent"]
    ) == [("CrimeInProgress", "high"), ("Weapon", "highest")]
    # The other agency has a co-responder on duty: without the caution it would lead.
    await grid_districts(other_admin)
    await add_co_responder(other_admin, district="D2", call_sign="MCT-9")
    await add_officer(other_admin, district="D2", call_sign="2B1", cit=True)
    taken = await _import(other_admin, exported, 201, "?district=D2")
    assert taken["safety"] == {
        "weapon": True,
        "violence": False,
        "threat_to_others": False,
        "crime_in_progress": True,
        "medical_emergency": False,
    }
    assert taken["recommendation"]["lead"] == "law_enforcement"
    # A call with no flag set sends no caution.
    calm = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    assert "cautionComponent" not in await admin.ok("GET", f"/v1/calls/{calm['id']}/eido")


async def test_a_caution_raises_a_flag_and_retriages_and_no_document_lowers_one(
    admin: Api,
) -> None:
    await _crew_in_d1(admin)
    incident = incident_id()
    first = await _import(admin, document(incident, beat="D1"), 201)
    assert first["recommendation"]["lead"] == "mental_health"
    # Any case, any severity; a caution the service has no flag for raises none.
    cautions = [("THREAT_TO_OTHERS", "low"), ("Dog", "high"), ("Firearm", "normal")]
    raised = await _import(
        admin, document(incident, at=later(1), beat="D1", cautions=cautions), 200
    )
    assert [k for k, v in raised["safety"].items() if v] == ["weapon", "threat_to_others"]
    assert raised["recommendation"]["lead"] == "law_enforcement"
    assert len(await _recommendations(admin, first["id"])) == 2
    # A later document without the caution leaves the flag as it is, and re-triages nothing.
    quiet = await _import(admin, document(incident, at=later(2), beat="D1"), 200)
    assert quiet["applied"] is True
    assert quiet["safety"]["threat_to_others"] is True
    assert len(await _recommendations(admin, first["id"])) == 2


def _caution(eido: dict[str, Any], registry_text: str, words: str, severity: str) -> None:
    """Add a caution in the CAD's own words (the test documents' cautions repeat the type)."""
    eido.setdefault("cautionComponent", []).append(
        {
            "$id": f"{eido['$id']}:caution:{len(eido.get('cautionComponent', []))}",
            "lastUpdateTimeStamp": eido["lastUpdateTimeStamp"],
            "updatedByAgencyReference": eido["updatedByAgencyReference"],
            "cautionTypeCommonRegistryText": registry_text,
            "cautionTypeInternalText": words,
            "cautionSeverity": severity,
        }
    )


async def test_a_caution_in_the_cads_words_raises_its_flag_or_is_told_to_the_dispatcher(
    admin: Api, db: asyncpg.Connection
) -> None:
    """ "Armed and dangerous" under a type the service does not know sent a mental-health
    lead with nothing shown; words it cannot read must reach a dispatcher."""
    await _crew_in_d1(admin)
    armed = document(incident_id(), beat="D1")
    _caution(armed, "Other", "armed and dangerous", "highest")
    call = await _import(admin, armed, 201)
    assert [k for k, v in call["safety"].items() if v] == ["weapon"]
    assert call["recommendation"]["lead"] == "law_enforcement"
    assert call["recommendation"]["warnings"] == []

    incident = incident_id()
    calm = document(incident, beat="D1", notes=["caller is the subject's sister"])
    _caution(calm, "Other", "no weapons seen", "high")
    _caution(calm, "Animal", "dog on premises", "normal")
    taken = await _import(admin, calm, 201)
    assert not any(taken["safety"].values())
    assert taken["recommendation"]["lead"] == "mental_health"
    (warning,) = taken["recommendation"]["warnings"]
    assert warning["code"] == "caution_not_read"
    assert "2 cautions" in warning["message"]
    notes = (await admin.ok("GET", f"/v1/calls/{taken['id']}"))["notes"]
    assert notes.splitlines()[0] == "caller is the subject's sister"
    assert "severity high: Other: no weapons seen" in notes
    assert "severity normal: Animal: dog on premises" in notes
    # The warning stays with the call: a re-triage for other news still gives it.
    patched = await admin.ok("PATCH", f"/v1/calls/{taken['id']}", {"subject": {"age": 30}})
    assert [w["code"] for w in patched["recommendation"]["warnings"]] == ["caution_not_read"]
    # The same cautions again are no news; a document without them but with its notes
    # says the CAD took them back, and the warning goes with them.
    again = document(incident, at=later(1), beat="D1", notes=["caller is the subject's sister"])
    _caution(again, "Other", "no weapons seen", "high")
    _caution(again, "Animal", "dog on premises", "normal")
    assert (await _import(admin, again, 200))["applied"] is True
    assert len(await _recommendations(admin, taken["id"])) == 2
    # One with no notes and no caution leaves both as they are (it says nothing of them).
    await _import(admin, document(incident, at=later(2), beat="D1"), 200)
    kept = await admin.ok("PATCH", f"/v1/calls/{taken['id']}", {"subject": {"age": 31}})
    assert [w["code"] for w in kept["recommendation"]["warnings"]] == ["caution_not_read"]
    assert (await admin.ok("GET", f"/v1/calls/{taken['id']}"))["notes"] == notes
    gone = document(incident, at=later(3), beat="D1", notes=["caller is the subject's sister"])
    cleared = await _import(admin, gone, 200)
    assert cleared["recommendation"]["warnings"] == []
    assert len(await _recommendations(admin, taken["id"])) == 4
    assert (
        await db.fetchval("SELECT unread_cautions FROM call WHERE id = $1", UUID(taken["id"])) == 0
    )


async def test_words_beside_a_caution_type_that_set_a_flag_reach_the_dispatcher(
    admin: Api,
) -> None:
    """A caution typed MedicalEmergency in the words "armed male, carries a machete" set
    the medical flag alone, and a dispatcher was told nothing of the machete."""
    await _crew_in_d1(admin)
    eido = document(incident_id(), beat="D1")
    _caution(eido, "MedicalEmergency", "armed male, carries a machete", "high")
    call = await _import(admin, eido, 201)
    assert [k for k, v in call["safety"].items() if v] == ["medical_emergency"]
    (warning,) = call["recommendation"]["warnings"]
    assert warning["code"] == "caution_not_read"
    assert warning["message"].startswith("The CAD sent a caution with words this service")
    notes = (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"]
    assert notes.endswith(
        "severity high: MedicalEmergency: armed male, carries a machete"
        " (read in part: it set medical_emergency)"
    )


async def test_words_beside_violence_are_warned_of_where_the_policy_does_not_count_it(
    app: FastAPI, admin: Api, db: asyncpg.Connection
) -> None:
    """A caution that set violence is told, not warned of, as law enforcement leads it;
    but a policy stored before safety_flags had to hold weapon and violence routes by its
    own flags (docs/routing.md): under one without violence, "Violence" with "carries a
    machete" had mental health lead with no warning, and the machete, a weapon the policy
    does count, sat in the notes unasked for."""
    await _crew_in_d1(admin)
    await db.execute(
        "UPDATE routing_policy SET safety_flags = '{weapon,threat_to_others}' WHERE agency_id = $1",
        admin.agency_id,
    )
    state: AppState = app.state.cit
    state.contexts.discard(admin.agency_id)
    eido = document(incident_id(), beat="D1")
    _caution(eido, "Violence", "carries a machete", "highest")
    call = await _import(admin, eido, 201)
    assert call["recommendation"]["lead"] == "mental_health"
    (warning,) = call["recommendation"]["warnings"]
    assert warning["code"] == "caution_not_read"
    # A policy that counts violence has law enforcement lead: the words are for them.
    await db.execute(
        "UPDATE routing_policy SET safety_flags = '{weapon,violence}' WHERE agency_id = $1",
        admin.agency_id,
    )
    state.contexts.discard(admin.agency_id)
    led = await _import(admin, {**eido, "$id": incident_id()}, 201)
    assert led["recommendation"]["lead"] == "law_enforcement"
    assert led["recommendation"]["warnings"] == []


async def test_a_document_without_notes_erases_none_for_the_cautions_it_cannot_read(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A document that leaves the notes out keeps them: its cautions not read are added to
    them, not put in their place (the CAD's notes were lost to a dog's line)."""
    await _crew_in_d1(admin)
    incident = incident_id()
    first = document(incident, beat="D1", notes=[NOTE])
    _caution(first, "Animal", "dog on premises", "normal")
    call = await _import(admin, first, 201)
    held = (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"]
    # The same caution, no notes: nothing new, the notes as they were.
    status_only = document(incident, at=later(1), beat="D1")
    _caution(status_only, "Animal", "dog on premises", "normal")
    await _import(admin, status_only, 200)
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"] == held
    assert len(await _recommendations(admin, call["id"])) == 1
    # A new caution, no notes: told after the notes held.
    hazard = document(incident, at=later(2), beat="D1")
    _caution(hazard, "Animal", "dog on premises", "normal")
    _caution(hazard, "Hazard", "hoarding conditions", "low")
    updated = await _import(admin, hazard, 200)
    notes = (await admin.ok("GET", f"/v1/calls/{call['id']}"))["notes"]
    assert notes.startswith(held)
    assert notes.endswith("severity low: Hazard: hoarding conditions")
    assert "2 cautions" in updated["recommendation"]["warnings"][0]["message"]


async def test_a_document_without_notes_puts_its_cautions_in_place_of_the_lines_held(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A document without notes of its own gives the cautions as the CAD holds them now:
    its lines take the place of those that close the notes. Added after them, a caution
    whose severity changed was told twice (the old severity still shown), a note ending with
    a line break hid the line and it was told again (and the call re-triaged), and cautions
    changed over many documents grew past 5,000 characters until no note of the CAD's was
    left."""
    await _crew_in_d1(admin)
    incident = incident_id()
    first = document(incident, beat="D1", notes=["Caller says brother hears voices\n"])
    _caution(first, "Animal", "dog on premises", "normal")
    call = await _import(admin, first, 201)
    held = await _notes(admin, call["id"])
    # The same caution: nothing new, the notes as they were, no new recommendation.
    same = document(incident, at=later(1), beat="D1")
    _caution(same, "Animal", "dog on premises", "normal")
    await _import(admin, same, 200)
    assert await _notes(admin, call["id"]) == held
    assert len(await _recommendations(admin, call["id"])) == 1
    # Its severity changed: told once, as it is now.
    higher = document(incident, at=later(2), beat="D1")
    _caution(higher, "Animal", "dog on premises", "high")
    await _import(admin, higher, 200)
    notes = await _notes(admin, call["id"])
    assert notes == held.replace("severity normal", "severity high")
    # Cautions changed again and again: the CAD's note stays.
    for k in range(3, 9):
        changed = document(incident, at=later(k), beat="D1")
        for i in range(25):
            _caution(changed, "Other", f"hazard {k}.{i}: " + "x" * 180, "low")
        await _import(admin, changed, 200)
    notes = await _notes(admin, call["id"])
    assert notes.startswith("Caller says brother hears voices\n")
    assert "hazard 3.0" not in notes
    assert "dog on premises" not in notes
    count = await db.fetchval("SELECT unread_cautions FROM call WHERE id = $1", UUID(call["id"]))
    assert count == 25
    # A dispatcher's note after the lines: the lines it follows are not told again.
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": notes + "\n\nMother on scene"})
    changed["lastUpdateTimeStamp"] = stamp(later(9))
    await _import(admin, changed, 200)
    assert await _notes(admin, call["id"]) == notes + "\n\nMother on scene"
    # The same cautions in another order: no news, no new recommendation.
    two = document(incident, at=later(10), beat="D1")
    _caution(two, "Animal", "dog on premises", "high")
    _caution(two, "Hazard", "hoarding conditions", "low")
    await _import(admin, two, 200)
    notes = await _notes(admin, call["id"])
    recommendations = len(await _recommendations(admin, call["id"]))
    two["cautionComponent"].reverse()
    two["lastUpdateTimeStamp"] = stamp(later(11))
    await _import(admin, two, 200)
    assert await _notes(admin, call["id"]) == notes
    assert len(await _recommendations(admin, call["id"])) == recommendations


async def _notes(api: Api, call_id: str) -> str:
    return str((await api.ok("GET", f"/v1/calls/{call_id}"))["notes"])


async def test_cautions_now_read_end_the_warning_with_or_without_notes(
    admin: Api, db: asyncpg.Connection
) -> None:
    """docs/api.md: the warning stays until a document with notes or cautions no longer
    holds a caution not read: one whose cautions the CAD now types as a flag ends it."""
    await _crew_in_d1(admin)
    incident = incident_id()
    first = document(incident, beat="D1")
    _caution(first, "Other", "carries a machete", "high")
    call = await _import(admin, first, 201)
    assert [w["code"] for w in call["recommendation"]["warnings"]] == ["caution_not_read"]
    typed = document(incident, at=later(1), beat="D1")
    _caution(typed, "Weapon", "machete", "high")
    updated = await _import(admin, typed, 200)
    assert updated["safety"]["weapon"] is True
    assert updated["recommendation"]["warnings"] == []
    # And so when the flag it raises is held already: the recommendation is renewed.
    incident = incident_id()
    flagged = document(incident, beat="D1")
    _caution(flagged, "Weapon", "weapon", "high")
    _caution(flagged, "Other", "carries a machete", "high")
    call = await _import(admin, flagged, 201)
    assert [w["code"] for w in call["recommendation"]["warnings"]] == ["caution_not_read"]
    retyped = document(incident, at=later(1), beat="D1")
    _caution(retyped, "Weapon", "machete", "high")
    renewed = await _import(admin, retyped, 200)
    assert renewed["recommendation"]["warnings"] == []
    assert len(await _recommendations(admin, call["id"])) == 2
    count = await db.fetchval("SELECT unread_cautions FROM call WHERE id = $1", UUID(call["id"]))
    assert count == 0


async def test_cautions_not_read_are_no_news_to_a_cleared_call(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A call imported before migration 0033 holds its document's notes without the lines
    (made so here by a PATCH), and no digest of them (migration 0036): the CAD's closing
    document, the same notes and the same dog, was no news (200, applied: false) and became
    a 409; so did a new caution not read."""
    await _crew_in_d1(admin)
    incident = incident_id()
    first = document(incident, beat="D1", notes=[NOTE])
    _caution(first, "Animal", "dog on premises", "normal")
    call = await _import(admin, first, 201)
    await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": NOTE})
    await db.execute("UPDATE call SET eido_notes_digest = NULL WHERE id = $1", UUID(call["id"]))
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done"})
    again = document(incident, at=later(30), beat="D1", notes=[NOTE])
    _caution(again, "Animal", "dog on premises", "normal")
    assert (await _import(admin, again, 200))["applied"] is False
    _caution(again, "Hazard", "hoarding conditions", "low")
    again["lastUpdateTimeStamp"] = stamp(later(31))
    assert (await _import(admin, again, 200))["applied"] is False
    # Notes of its own that the call does not hold are news still.
    other = document(incident, at=later(32), beat="D1", notes=["another note"])
    assert (await admin.post("/v1/eido", other)).status_code == 409


async def test_cautions_not_read_are_no_news_to_a_cleared_call_whatever_its_notes_end_with(
    admin: Api,
) -> None:
    """The lines telling cautions are found where the import put them: after a CAD note that
    ends with a line break ("...voices\n", split on blank lines it hid the first line), and
    after notes past 20,000 characters (the document's own notes cut alone differ from the
    call's, cut with the lines). Both made a new caution not read a 409 for a cleared call,
    and the STA-024 subscriber audited the CAD's closing document as refused."""
    await _crew_in_d1(admin)
    for notes in (["Caller says brother hears voices\n"], ["long note " * 2_100]):
        incident = incident_id()
        first = document(incident, beat="D1", notes=notes)
        _caution(first, "Animal", "dog on premises", "normal")
        call = await _import(admin, first, 201)
        await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done"})
        again = document(incident, at=later(30), beat="D1", notes=notes)
        _caution(again, "Animal", "dog on premises", "high")
        _caution(again, "Hazard", "hoarding conditions", "low")
        assert (await _import(admin, again, 200))["applied"] is False
        # Notes of its own that the call does not hold are news still.
        other = document(incident, at=later(31), beat="D1", notes=[*notes, "another note"])
        _caution(other, "Animal", "dog on premises", "normal")
        assert (await admin.post("/v1/eido", other)).status_code == 409


async def test_cautions_not_read_are_no_news_to_a_cleared_call_whose_cut_notes_lines_shrank(
    admin: Api,
) -> None:
    """Notes past 20,000 characters keep the last of the CAD's notes after a '…'. A later
    document without notes puts its fewer lines in place of the first's: the notes, now
    shorter, still begin with the cut the first made. The CAD's closing document, its own
    notes unchanged, was a 409 for the cleared call (its notes and lines, joined and cut
    again, never matched), and the STA-024 subscriber audited it as refused."""
    await _crew_in_d1(admin)
    incident = incident_id()
    own = ["long note " * 1_900]
    first = document(incident, beat="D1", notes=own)
    for i in range(15):
        _caution(first, "Other", f"hazard {i}: " + "x" * 180, "low")
    call = await _import(admin, first, 201)
    fewer = document(incident, at=later(1), beat="D1")
    _caution(fewer, "Animal", "dog on premises", "normal")
    await _import(admin, fewer, 200)
    assert (await _notes(admin, call["id"])).startswith("…")
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done"})
    closing = document(incident, at=later(2), beat="D1", notes=own)
    _caution(closing, "Animal", "dog on premises", "high")
    assert (await _import(admin, closing, 200))["applied"] is False
    # Notes of its own that the call does not hold are news still.
    other = document(incident, at=later(3), beat="D1", notes=[*own, "another note"])
    assert (await admin.post("/v1/eido", other)).status_code == 409


async def test_a_suicide_threat_or_an_armed_forces_veteran_is_told_not_sent_the_police(
    admin: Api,
) -> None:
    """A threat to the subject's own life is the call a co-responder leads: read as a
    threat to others it sent law enforcement to lead; so did a veteran of the armed forces
    (a weapon), a subject who "isn't armed" and an eviction "in progress" (a crime)."""
    await _crew_in_d1(admin)
    for words in (
        "Subject threatening suicide",
        "armed forces veteran, PTSD",
        "subject isn't armed",
        "eviction in progress",
    ):
        eido = document(incident_id(), beat="D1", nature="SUICTHRT")
        _caution(eido, "Other", words, "high")
        call = await _import(admin, eido, 201)
        assert not any(call["safety"].values()), words
        assert call["recommendation"]["lead"] == "mental_health", words
        codes = [w["code"] for w in call["recommendation"]["warnings"]]
        assert codes == ["caution_not_read"], words


async def test_an_incident_that_has_ended_is_no_new_call_but_still_updates_its_own(
    admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    """A closed or cancelled incident imported as a pending call would land in the
    dispatch queue, with a recommendation and call.created, for something already over."""
    await grid_districts(admin)
    for statuses, beat in ((["Closed"], "D1"), (["Active", "cancelled"], "D1"), (["CLOSED"], None)):
        over = document(incident_id(), beat=beat)  # placed or not, the status is the news
        over["incidentComponent"]["incidentStatusCommonRegistryText"] = statuses
        refused = await admin.post("/v1/eido", over)
        assert refused.status_code == 422, statuses
        assert refused.json()["errors"][0]["loc"] == [
            "body",
            "incidentComponent",
            "incidentStatusCommonRegistryText",
        ]
    reopened = document(incident_id(), beat="D1")
    reopened["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed", "ReOpened"]
    await _import(admin, reopened, 201)
    assert await _count(db, "call") == 1
    # Another agency's cleared call is over too.
    await grid_districts(other_admin)
    theirs = await other_admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await other_admin.ok(
        "POST",
        f"/v1/calls/{theirs['id']}/clear",
        {"disposition": "gone", "outcome": "gone_on_arrival"},
    )
    exported = await other_admin.ok("GET", f"/v1/calls/{theirs['id']}/eido")
    assert (await admin.post("/v1/eido", exported)).status_code == 422
    # A call the agency has takes news from a document that says its incident ended, and
    # ends with it.
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1"), 201)
    closing = document(incident, at=later(1), nature="SUICTHRT", beat="D1")
    closing["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
    updated = await _import(admin, closing, 200)
    assert (updated["id"], updated["nature"], updated["status"]) == (
        call["id"],
        "SUICTHRT",
        "cleared",
    )
    assert await _count(db, "call") == 3


async def test_the_cad_closing_an_incident_clears_its_call_and_frees_its_units(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The CAD is the system of record: an incident it closed must not keep cit-dispatch's
    call open, its units booked on it and never recommended again."""
    await _crew_in_d1(admin)
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1"), 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {})
    closing = document(incident, at=later(1), beat="D1")
    closing["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
    closing["incidentComponent"]["dispositionComponent"] = [
        {**_disposition(incident, "18"), "dispositionPrimaryIndicator": False},
        {
            **_disposition(incident, "15"),
            "dispositionPrimaryIndicator": True,
            "dispositionDescriptionText": "linked to the county clinic",
        },
    ]
    closed = await _import(admin, closing, 200)
    assert (closed["applied"], closed["status"]) == (True, "cleared")
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert (read["disposition"], read["outcome"]) == ("linked to the county clinic", "referred")
    assert read["cleared_at"] is not None
    assert all(a["released_at"] is not None for a in read["assignments"])
    assert len(read["assignments"]) == 2
    units = (await admin.ok("GET", "/v1/units"))["items"]
    assert {u["status"] for u in units} == {"available"}
    cleared = await db.fetch("SELECT payload::text AS p FROM event WHERE type = 'call.cleared'")
    assert [json.loads(r["p"])["outcome"] for r in cleared] == ["referred"]
    # The next call gets the same crew.
    fresh = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert len(fresh["recommendation"]["units"]) == 2
    # The CAD sending the closed incident again changes nothing.
    again = await _import(admin, {**closing, "lastUpdateTimeStamp": stamp(later(2))}, 200)
    assert (again["applied"], again["status"]) == (False, "cleared")
    # Ended with another outcome than the call's, it is refused, not dropped without a word.
    other = {**closing, "lastUpdateTimeStamp": stamp(later(3))}
    other["incidentComponent"] = {
        **closing["incidentComponent"],
        "dispositionComponent": [
            {**_disposition(incident, "14"), "dispositionPrimaryIndicator": True}
        ],
    }
    refused = await admin.post("/v1/eido", other)
    assert refused.status_code == 409
    assert "outcome referred" in refused.json()["detail"]
    # It says how the outcome may change: a supervisor's correction, not a document.
    assert f"PATCH /v1/calls/{call['id']}/outcome" in refused.json()["detail"]
    # And in the call's trail: the outcome the CAD gave is kept there.
    trail = await admin.ok("GET", f"/v1/audit?action=call.import&resource_id={call['id']}")
    [entry] = [e for e in trail["items"] if e["outcome"] == "error"]
    assert entry["detail"] == {
        "incident_id": incident,
        "outcome": "referred",
        "refused_outcome": "gone_on_arrival",
        "error": {"status": 409, "problem": "conflict", "detail": refused.json()["detail"]},
    }
    # News for the cleared call (the incident open again, another nature) is refused, and
    # audited under the call too, naming the incident.
    reopened = document(incident, at=later(4), nature="SUICTHRT", beat="D1")
    reopened["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Active"]
    refused = await admin.post("/v1/eido", reopened)
    assert refused.status_code == 409
    assert (
        refused.json()["detail"] == f"call {call['id']} is cleared; an EIDO can no longer change it"
    )
    trail = await admin.ok("GET", f"/v1/audit?action=call.import&resource_id={call['id']}")
    newest = trail["items"][0]
    why = {"status": 409, "problem": "conflict", "detail": refused.json()["detail"]}
    assert (newest["outcome"], newest["detail"]) == (
        "error",
        {"incident_id": incident, "error": why},
    )
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert (read["disposition"], read["outcome"]) == ("linked to the county clinic", "referred")


async def test_the_cad_reopening_the_incident_of_a_cleared_call_is_refused_not_dropped(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A CAD that takes up an incident it closed again (ReOpened, the rest as it was) was
    answered 200, applied false, as if the document told the call nothing: the CAD held
    the incident open, cit-dispatch's call stayed cleared, and nobody was told."""
    await grid_districts(admin)
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1"), 201)
    closing = document(incident, at=later(1), beat="D1")
    closing["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
    assert (await _import(admin, closing, 200))["status"] == "cleared"
    for at, statuses in ((2, ["ReOpened"]), (3, ["Closed", "reopened"])):
        reopened = document(incident, at=later(at), beat="D1")
        reopened["incidentComponent"]["incidentStatusCommonRegistryText"] = statuses
        refused = await admin.post("/v1/eido", reopened)
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == (
            f"call {call['id']} is cleared; an EIDO can no longer change it, nor reopen it"
            " (the incident's status says ReOpened)"
        )
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert read["status"] == "cleared"
    trail = await admin.ok("GET", f"/v1/audit?action=call.import&resource_id={call['id']}")
    assert trail["items"][0]["outcome"] == "error"
    # The closed incident sent again is still no news.
    again = await _import(admin, {**closing, "lastUpdateTimeStamp": stamp(later(4))}, 200)
    assert (again["applied"], again["status"]) == (False, "cleared")
    assert await _count(db, "call") == 1


def _with_status(eido: dict[str, Any], *statuses: str) -> dict[str, Any]:
    eido["incidentComponent"]["incidentStatusCommonRegistryText"] = list(statuses)
    return eido


async def test_a_reopened_incident_whose_call_a_dispatcher_cleared_is_not_reopened_again(
    admin: Api,
) -> None:
    """The CAD had reopened the incident before its call reached this service, and says
    ReOpened on each later update. A dispatcher cleared the call here: the CAD's next
    update, ReOpened as every one before it, was a 409 saying the CAD reopened the call's
    incident, which it had not done since (as every update after it would be). It is no
    news, as before 6981a64; the CAD reopening one it closed after a clear here is."""
    await grid_districts(admin)
    incident = incident_id()
    first = _with_status(document(incident, beat="D1"), "ReOpened")
    call = await _import(admin, first, 201)
    await _import(admin, _with_status(document(incident, at=later(1), beat="D1"), "ReOpened"), 200)
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
    for at in (2, 3):
        update = _with_status(document(incident, at=later(at), beat="D1"), "ReOpened")
        again = await _import(admin, update, 200)
        assert (again["applied"], again["status"]) == (False, "cleared")
    # An incident open at the CAD (no ReOpened) whose call a dispatcher cleared: the CAD
    # closing it is no news, and reopening it after is.
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1"), 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
    closing = _with_status(document(incident, at=later(1), beat="D1"), "Closed")
    assert (await _import(admin, closing, 200))["applied"] is False
    reopened = _with_status(document(incident, at=later(2), beat="D1"), "ReOpened")
    refused = await admin.post("/v1/eido", reopened)
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"].endswith("nor reopen it (the incident's status says ReOpened)")


async def test_the_cad_closing_and_reopening_a_reopened_incident_after_a_clear_is_refused(
    admin: Api,
) -> None:
    """The CAD had reopened the incident before its call reached this service, and a
    dispatcher cleared the call here. The CAD closing the incident is no news to the call,
    but it no longer says ReOpened: reopening the incident after that is the CAD taking it
    up again, a 409 that says so (it was a 200, applied: false, and the call stayed cleared
    while the CAD held the incident open). An older document arriving late, after the
    Closed, changes nothing."""
    await grid_districts(admin)
    incident = incident_id()
    call = await _import(admin, _with_status(document(incident, beat="D1"), "ReOpened"), 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
    again = _with_status(document(incident, at=later(1), beat="D1"), "ReOpened")
    assert (await _import(admin, again, 200))["applied"] is False
    closing = _with_status(document(incident, at=later(3), beat="D1"), "Closed")
    assert (await _import(admin, closing, 200))["applied"] is False
    late = _with_status(document(incident, at=later(2), beat="D1"), "ReOpened")
    assert (await _import(admin, late, 200))["applied"] is False
    for at in (4, 5):  # the reopening, and the CAD's next update still saying so
        reopened = _with_status(document(incident, at=later(at), beat="D1"), "ReOpened")
        refused = await admin.post("/v1/eido", reopened)
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"].endswith(
            "nor reopen it (the incident's status says ReOpened)"
        )
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["status"] == "cleared"


async def test_an_update_telling_no_status_leaves_the_cads_reopening_as_held(
    admin: Api,
) -> None:
    """The schema does not require a common status: a CAD's partial update telling none
    does not say the CAD closed the incident again. Read as no longer ReOpened, applied to
    the open call or arriving after a dispatcher cleared it, it made the CAD's next update,
    ReOpened as every one before it, a 409 saying the CAD reopened the incident."""
    await grid_districts(admin)
    incident = incident_id()
    call = await _import(admin, _with_status(document(incident, beat="D1"), "ReOpened"), 201)
    changed = await _import(
        admin, document(incident, at=later(1), nature="SUICTHRT", beat="D1"), 200
    )
    assert (changed["applied"], changed["nature"]) == (True, "SUICTHRT")
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
    partial = document(incident, at=later(2), nature="SUICTHRT", beat="D1")
    assert (await _import(admin, partial, 200))["applied"] is False
    again = _with_status(
        document(incident, at=later(3), nature="SUICTHRT", beat="D1"), "Active", "ReOpened"
    )
    kept = await _import(admin, again, 200)
    assert (kept["applied"], kept["status"]) == (False, "cleared")


async def test_a_closing_disposition_a_call_cannot_hold_is_made_one_it_can(admin: Api) -> None:
    """Any string is schema-valid there: controls alone, or a code of 300 characters, were
    a 500 (the cleared call's disposition refuses them), and the subscriber retried it."""
    await grid_districts(admin)
    for described, code, kept in (
        ("\x01", "15", "APCO disposition 15 (EIDO)"),
        ("\ufeff", "15", "APCO disposition 15 (EIDO)"),
        (None, " 16 ", "APCO disposition 16 (EIDO)"),
        ("left\x00with\ttabs", "15", "left with tabs"),
        # Nothing seen: zero-width, a direction override, a C1 control (a cp1252 dash
        # read as Latin-1); ends and runs of controls trimmed to single spaces.
        ("\u200b", "15", "APCO disposition 15 (EIDO)"),
        ("\u202e\u00ad", "15", "APCO disposition 15 (EIDO)"),
        ("\x9b", "15", "APCO disposition 15 (EIDO)"),
        ("\x1eSent to\r\n\x96crisis centre\x1f", "15", "Sent to crisis centre"),
        # Words only past the 200 characters kept, after marks that take no space.
        ("\u200b" * 200 + "Referred to clinic", "15", "APCO disposition 15 (EIDO)"),
        ("\u200b" * 199 + " Referred to clinic", "15", "APCO disposition 15 (EIDO)"),
        ("\u200b" + "Referred " * 30, "15", ("\u200b" + "Referred " * 30)[:200].strip()),
    ):
        incident = incident_id()
        call = await _import(admin, document(incident, beat="D1"), 201)
        closing = document(incident, at=later(1), beat="D1")
        closing["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
        disposition = _disposition(incident, code)
        if described is not None:
            disposition["dispositionDescriptionText"] = described
        closing["incidentComponent"]["dispositionComponent"] = [disposition]
        await _import(admin, closing, 200)
        read = await admin.ok("GET", f"/v1/calls/{call['id']}")
        assert (read["status"], read["disposition"]) == ("cleared", kept)


async def test_a_disposition_code_not_in_the_registry_is_a_422_that_changes_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A Closed update with code "99" (reserved) or "ABC" cleared the call as "APCO
    disposition ABC (EIDO)", and "3" was not read as "03" (Arrest) while " 03" was (an
    outside-in check). Only the disposition the call takes is held to the registry: a
    CAD's own code on an open incident, or beside the primary, lost the whole update
    (review)."""
    await _crew_in_d1(admin)
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1"), 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {})
    events = await _count(db, "event")
    loc = ["body", "incidentComponent", "dispositionComponent", 0, "dispositionCommonRegistryCode"]
    for code, named in (("99", "'99'"), ("ABC", "'ABC'"), ("003", "'003'"), ("9" * 300, "")):
        closing = document(incident, at=later(1), beat="D1")
        closing["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
        closing["incidentComponent"]["dispositionComponent"] = [_disposition(incident, code)]
        refused = await admin.post("/v1/eido", closing)
        assert refused.status_code == 422, code
        problem = refused.json()
        assert problem["detail"] == (
            f"not an acceptable EIDO: the dispositionCommonRegistryCode{named and ' ' + named}"
            " is not in the Common Disposition Code registry (01 to 45)"
        )
        assert problem["errors"][0]["loc"] == loc
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert (read["status"], read["disposition"]) == ("dispatched", None)
    assert await _count(db, "event") == events
    # An incident still open with a CAD's own code: its news is taken, the code read nothing
    # of (nothing clears an open call).
    active = document(incident, at=later(1), beat="D1", notes=["subject calmer"])
    active["incidentComponent"]["dispositionComponent"] = [_disposition(incident, "RPT")]
    await _import(admin, active, 200)
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert read["status"] == "dispatched"
    assert "subject calmer" in read["notes"]
    # Beside the primary, it is passed over: the call takes the primary's.
    closing = document(incident, at=later(2), beat="D1")
    closing["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
    closing["incidentComponent"]["dispositionComponent"] = [
        _disposition(incident, "ABC"),
        {**_disposition(incident, "15"), "dispositionPrimaryIndicator": True},
    ]
    await _import(admin, closing, 200)
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert (read["status"], read["disposition"]) == ("cleared", "APCO disposition 15 (EIDO)")
    # One digit is its two-digit code, as one with spaces around it is: "3" is Arrest.
    for code in ("3", " 03 "):
        other = incident_id()
        taken = await _import(admin, document(other, beat="D1"), 201)
        closing = document(other, at=later(1), beat="D1")
        closing["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
        closing["incidentComponent"]["dispositionComponent"] = [_disposition(other, code)]
        await _import(admin, closing, 200)
        read = await admin.ok("GET", f"/v1/calls/{taken['id']}")
        assert (read["disposition"], read["outcome"]) == ("APCO disposition 03 (EIDO)", "arrest")


async def test_a_cancelled_incident_clears_its_call_as_cancelled(admin: Api) -> None:
    await grid_districts(admin)
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1"), 201)
    cancelling = document(incident, at=later(1), beat="D1")
    cancelling["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Cancelled"]
    await _import(admin, cancelling, 200)
    read = await admin.ok("GET", f"/v1/calls/{call['id']}")
    assert (read["status"], read["outcome"]) == ("cleared", "cancelled")
    assert read["disposition"] == "Cancelled in the CAD (EIDO)"


def _disposition(incident: str, code: str) -> dict[str, Any]:
    return {
        "$id": f"{incident}:disposition:{code}",
        "lastUpdateTimeStamp": stamp(later(1)),
        "updatedByAgencyReference": {"$ref": "x"},
        "dispositionCommonRegistryCode": code,
    }


async def test_an_echo_of_an_earlier_export_does_not_raise_a_flag_a_dispatcher_lowered(
    admin: Api,
) -> None:
    await _crew_in_d1(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    lowered = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": False}})
    assert lowered["recommendation"]["lead"] == "mental_health"
    echoed = await admin.ok("POST", "/v1/eido", exported)
    assert (echoed["applied"], echoed["safety"]["weapon"]) == (False, False)
    assert echoed["recommendation"]["id"] == lowered["recommendation"]["id"]
    # A document dated after the call's last change, from its CAD, is news: it raises it.
    cad = {
        **exported,
        "issuingElementIdentification": "cad.example",
        "lastUpdateTimeStamp": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
    }
    raised = await admin.ok("POST", "/v1/eido", cad)
    assert (raised["applied"], raised["safety"]["weapon"]) == (True, True)
    assert raised["recommendation"]["lead"] == "law_enforcement"


async def test_a_cad_numbered_calls_export_edited_and_sent_back_is_still_its_own(
    admin: Api,
) -> None:
    """The export names a call taken by POST under the CAD's number by that number
    (internalIncidentId); its export edited and sent back re-dated is still the call's own,
    so its EDP is no nature, as is one of an earlier export naming the call's id."""
    await _crew_in_d1(admin)
    policy = await admin.ok("GET", "/v1/policy")
    flags = {**policy["nature_flags"], "EDP": ["violence"]}
    await admin.ok("PUT", "/v1/policy", {**policy, "nature_flags": flags})
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-77"}, 201)
    exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    assert exported["incidentComponent"]["internalIncidentId"] == "CAD-77"
    for step, internal_id in enumerate(("CAD-77", call["id"]), start=1):
        edited = {
            **exported,
            "incidentComponent": {
                **exported["incidentComponent"],
                "internalIncidentId": internal_id,
            },
            "lastUpdateTimeStamp": stamp(datetime.now(UTC) + timedelta(seconds=step)),
        }
        echoed = await admin.ok("POST", "/v1/eido", edited)
        assert echoed["nature"] is None
        assert echoed["recommendation"]["id"] == call["recommendation"]["id"]
    # Another call's number is not this call's own export: its EDP classifies the call.
    other = {
        **exported,
        "incidentComponent": {**exported["incidentComponent"], "internalIncidentId": "CAD-78"},
        "lastUpdateTimeStamp": stamp(datetime.now(UTC) + timedelta(seconds=3)),
    }
    classified = await admin.ok("POST", "/v1/eido", other)
    assert (classified["nature"], classified["recommendation"]["lead"]) == (
        "EDP",
        "law_enforcement",
    )


async def test_an_imported_or_unnumbered_calls_export_names_it_by_its_id(admin: Api) -> None:
    await grid_districts(admin)
    made = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    eido = await admin.ok("GET", f"/v1/calls/{made['id']}/eido")
    assert eido["incidentComponent"]["internalIncidentId"] == made["id"]
    urn = "urn:emergency:uid:incidentid:cad77:psap.example.org"
    named = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": urn}, 201)
    eido = await admin.ok("GET", f"/v1/calls/{named['id']}/eido")
    assert (eido["$id"], eido["incidentComponent"]["internalIncidentId"]) == (urn, named["id"])


async def test_a_call_with_no_nature_keeps_none_when_its_export_comes_back_edited(
    admin: Api,
) -> None:
    """Its export sends EDP, the type a crisis of no stated nature has; a CAD that edited
    that export and sent it back re-dated gave the call the nature EDP, and the flags a
    policy gives EDP (outside-in check). A CAD's own document of type EDP still classifies."""
    await _crew_in_d1(admin)
    policy = await admin.ok("GET", "/v1/policy")
    flags = {**policy["nature_flags"], "EDP": ["violence"]}
    await admin.ok("PUT", "/v1/policy", {**policy, "nature_flags": flags})
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert call["recommendation"]["lead"] == "mental_health"
    exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    assert exported["incidentComponent"]["incidentTypeCommonRegistryText"] == "EDP"
    edited = {**exported, "lastUpdateTimeStamp": stamp(datetime.now(UTC) + timedelta(seconds=1))}
    echoed = await admin.ok("POST", "/v1/eido", edited)
    assert echoed["nature"] is None
    assert echoed["recommendation"]["id"] == call["recommendation"]["id"]
    # The same type from the CAD's own document (its own issuer) is its classification.
    theirs = {
        **edited,
        "issuingElementIdentification": "cad.example",
        "lastUpdateTimeStamp": stamp(datetime.now(UTC) + timedelta(seconds=2)),
    }
    classified = await admin.ok("POST", "/v1/eido", theirs)
    assert classified["nature"] == "EDP"
    assert classified["recommendation"]["lead"] == "law_enforcement"  # EDP implies violence


async def test_imported_incident_keeps_its_id_on_the_way_out(admin: Api) -> None:
    await grid_districts(admin)
    incident = incident_id()
    eido = document(incident, location=pidf(point=IN_D1), notes=[NOTE])
    call = await _import(admin, eido, 201)
    exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    _assert_valid_eido(exported)
    assert exported["$id"] == incident
    assert await admin.ok("GET", f"/v1/eido/incidents/{quote(incident, safe='')}") == exported
    # The id the export would have assigned does not find it: it has its own.
    assigned = f"urn:emergency:uid:incidentid:{UUID(call['id']).hex}:{admin.agency_id.hex}"
    assert (await admin.get(f"/v1/eido/incidents/{quote(assigned, safe='')}")).status_code == 404
    listed = await admin.ok("GET", f"/v1/calls?external_id={quote(assigned, safe='')}")
    assert listed["items"] == []
    # So it is any CAD's to use, and names that call alone, on a page of one.
    other = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": assigned}, 201)
    listed = await admin.ok("GET", f"/v1/calls?limit=1&external_id={quote(assigned, safe='')}")
    assert ([c["id"] for c in listed["items"]], listed["next_cursor"]) == ([other["id"]], None)


async def test_the_agencys_own_export_imports_as_the_same_incident(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D4", "nature": "MNTL"}, 201)
    eido = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    again = await admin.ok("POST", "/v1/eido", eido)
    assert again["id"] == call["id"]
    assert again["applied"] is False  # what it says, the call holds
    assert again["recommendation"]["id"] == call["recommendation"]["id"]  # nothing changed
    assert (await admin.ok("POST", "/v1/eido", eido))["applied"] is False
    assert await _count(db, "call") == 1
    audited = await db.fetch(
        "SELECT detail->>'incident_id' AS id FROM audit_entry WHERE action = 'call.import'"
    )
    assert [r["id"] for r in audited] == [eido["$id"], eido["$id"]]


async def test_an_export_coming_back_keeps_the_district_its_call_was_given(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A call taken in D3 with a point a boundary puts in D1 stays in D3 when its own EIDO
    comes back unchanged (a CAD echoing it), and a call of free text keeps its nature (sent
    as EDP with the text); a new point still re-places the call."""
    await grid_districts(admin)
    where = {"lat": IN_D1[0], "lon": IN_D1[1], "address": "12 Main St"}
    for nature in ("man on bridge", "MNTL"):
        call = await admin.ok(
            "POST", "/v1/calls", {"district": "D3", "location": where, "nature": nature}, 201
        )
        eido = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
        again = await admin.ok("POST", "/v1/eido", eido)
        assert (again["id"], again["district"], again["nature"]) == (call["id"], "D3", nature)
        assert again["recommendation"]["id"] == call["recommendation"]["id"]  # nothing new
    assert await _count(db, "recommendation") == 2
    moved_at = datetime.fromisoformat(eido["lastUpdateTimeStamp"]) + timedelta(minutes=1)
    text = json.dumps({**eido, "lastUpdateTimeStamp": moved_at.isoformat()})
    text = text.replace(f"{IN_D1[0]!r} {IN_D1[1]!r}", f"{IN_D4[0]!r} {IN_D4[1]!r}")
    moved = await admin.ok("POST", "/v1/eido", json.loads(text))
    assert moved["district"] == "D4"
    assert moved["location"]["lat"] == IN_D4[0]


async def test_a_later_beat_still_places_a_call_whose_point_no_boundary_holds(
    admin: Api,
) -> None:
    """Outside every boundary the beat placed the call, so a new beat moves it; and an EDP
    without the call's own words classifies a call that had no nature."""
    await grid_districts(admin)
    incident = incident_id()
    nowhere = pidf(point=(10.0, 10.0))
    first = await _import(admin, document(incident, beat="D1", location=nowhere), 201)
    assert first["district"] == "D1"
    later_beat = document(incident, at=later(1), beat="D2", location=nowhere)
    assert (await _import(admin, later_beat, 200))["district"] == "D2"
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    assert "incidentTypeInternalText" not in exported["incidentComponent"]
    # Its own export coming back is no news (the EDP there only stands for no nature)...
    echoed = await admin.ok("POST", "/v1/eido", exported)
    assert (echoed["nature"], echoed["applied"]) == (None, False)
    # ...and the CAD's own document classifying it is.
    cad = {
        **exported,
        "issuingElementIdentification": "cad.example",
        "lastUpdateTimeStamp": (
            datetime.fromisoformat(exported["lastUpdateTimeStamp"]) + timedelta(seconds=1)
        ).isoformat(),
    }
    classified = await admin.ok("POST", "/v1/eido", cad)
    assert classified["nature"] == "EDP"


async def test_a_new_call_cannot_take_the_incident_id_the_export_gave_another(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": "CAD-1"}, 201)
    assigned = (await admin.ok("GET", f"/v1/calls/{call['id']}/eido"))["$id"]
    taken = await admin.post("/v1/calls", {"district": "D2", "external_id": assigned})
    assert taken.status_code == 409
    assert taken.json()["call_id"] == call["id"]
    assert await _count(db, "call") == 1
    found = await admin.ok("GET", f"/v1/eido/incidents/{quote(assigned, safe='')}")
    assert found == await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    # The CAD that read the 409 finds that call by the id it names, as by its own.
    for known_as in (assigned, "CAD-1"):
        listed = await admin.ok("GET", f"/v1/calls?external_id={quote(known_as, safe='')}")
        assert [c["id"] for c in listed["items"]] == [call["id"]], known_as
    # An id of that form naming no call of the agency is any CAD's to use; so is one that
    # spells the call's hex in capitals, which retrieval does not take for the export's.
    unused = f"urn:emergency:uid:incidentid:{uuid4().hex}:{admin.agency_id.hex}"
    await admin.ok("POST", "/v1/calls", {"district": "D2", "external_id": unused}, 201)
    shouted = assigned.replace(UUID(call["id"]).hex, UUID(call["id"]).hex.upper())
    other = await admin.ok("POST", "/v1/calls", {"district": "D2", "external_id": shouted}, 201)
    listed = await admin.ok("GET", f"/v1/calls?external_id={quote(shouted, safe='')}")
    assert [c["id"] for c in listed["items"]] == [other["id"]]


async def test_a_document_dated_in_the_future_is_refused_and_freezes_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    incident = incident_id()
    ahead = datetime.now(UTC) + timedelta(days=365)
    refused = await admin.post("/v1/eido", document(incident, at=ahead, beat="D1"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "lastUpdateTimeStamp"]
    started = document(incident, at=datetime.now(UTC), beat="D1", call_started=ahead)
    refused = await admin.post("/v1/eido", started)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "callComponent"]
    assert await _count(db, "call") == 0
    await _import(admin, document(incident, beat="D1"), 201)
    update = await _import(admin, document(incident, at=later(5), beat="D1", nature="SUICIDE"), 200)
    assert update["applied"] is True


async def test_another_agencys_call_and_incident_are_404(admin: Api, other_admin: Api) -> None:
    await grid_districts(admin)
    await grid_districts(other_admin)
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1", notes=[NOTE]), 201)
    assert (await other_admin.get(f"/v1/calls/{call['id']}/eido")).status_code == 404
    path = f"/v1/eido/incidents/{quote(incident, safe='')}"
    assert (await other_admin.get(path)).status_code == 404
    # The same incident, imported by another agency, is that agency's own call.
    theirs = await _import(other_admin, document(incident, at=later(5), beat="D2"), 201)
    assert theirs["id"] != call["id"]
    assert (await admin.ok("GET", f"/v1/calls/{call['id']}"))["district"] == "D1"


async def test_an_incident_id_holding_a_slash_is_found_by_its_path(
    admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    """Import took `…:2026/000123:psap.example.org`, and the retrieval route answered 404
    "The API has no such path" for it, sent as %2F or raw (an outside-in check)."""
    await grid_districts(admin)
    incident = f"urn:emergency:uid:incidentid:2026/{uuid4().hex}:psap.example.org"
    call = await _import(admin, document(incident, beat="D1"), 201)
    exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    assert exported["$id"] == incident
    for path in (quote(incident, safe=""), quote(incident, safe="/:"), incident):
        assert await admin.ok("GET", f"/v1/eido/incidents/{path}") == exported, path
    audited = await db.fetch(
        "SELECT resource_id FROM audit_entry WHERE action = 'call.eido' AND outcome = 'success'"
    )
    assert {r["resource_id"] for r in audited} == {call["id"]}
    # Another agency, an unknown id, one with more after it: 404s that say so.
    for api, path in (
        (other_admin, incident),
        (admin, incident.replace("2026/", "2025/")),
        (admin, f"{incident}/eido"),
    ):
        missing = await api.get(f"/v1/eido/incidents/{path}")
        assert (missing.status_code, missing.json()["detail"]) == (404, "incident not found")
    # The path with no id is still none of the API's, and the route takes only GET (HEAD).
    empty = await admin.get("/v1/eido/incidents/")
    assert empty.status_code == 404
    assert empty.json()["detail"].startswith("The API has no such path")
    posted = await admin.client.post(f"/v1/eido/incidents/{incident}", headers=admin.headers)
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET, HEAD")


async def test_a_viewer_reads_eidos_but_cannot_import(admin: Api, db: asyncpg.Connection) -> None:
    await grid_districts(admin)
    viewer = await admin.with_role("viewer")
    dispatcher = await admin.with_role("dispatcher")
    eido = document(incident_id(), beat="D1")
    assert (await viewer.post("/v1/eido", eido)).status_code == 403
    assert await _count(db, "call") == 0
    call = await _import(dispatcher, eido, 201)
    assert (await viewer.get(f"/v1/calls/{call['id']}/eido")).status_code == 200
    actions = [
        r["action"]
        for r in await db.fetch("SELECT action FROM audit_entry ORDER BY at, id")
        if r["action"].startswith("call.")
    ]
    assert actions == ["call.import", "call.create", "call.eido"]


async def test_import_eido_runs_its_own_unit_of_work_for_a_subscriber(
    app: FastAPI, admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    state: AppState = app.state.cit
    who = await authenticate(state, admin.key, client="test", request_id=None)
    incident = incident_id()
    eido = document(incident, nature="WELFARE", notes=[NOTE])
    first = await import_eido(state, admin.agency_id, eido, who=who, district="D3", request_id=None)
    assert (first.created, first.applied) == (True, True)
    replay = await import_eido(
        state, admin.agency_id, eido, who=who, district="D3", request_id=None
    )
    assert (replay.created, replay.applied) == (False, False)
    assert replay.call.id == first.call.id
    # Committed: the API sees it.
    call = await admin.ok("GET", f"/v1/calls/{first.call.id}")
    assert (call["external_id"], call["district"], call["notes"]) == (incident, "D3", NOTE)
    assert await _count(db, "call") == 1


async def test_an_eido_sent_under_its_own_media_type_is_read(admin: Api) -> None:
    # NENA's media type for EIDO ends in +json: read as JSON, not refused as another type.
    await grid_districts(admin)
    headers = {**admin.headers, "Content-Type": "application/emergencyCallData.eido+json"}
    sent = json.dumps(document(incident_id(), beat="D1"))
    response = await admin.client.post("/v1/eido", content=sent, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["district"] == "D1"


async def test_an_incident_id_spelt_in_another_case_names_the_same_incident(
    admin: Api, db: asyncpg.Connection
) -> None:
    """`URN:EMERGENCY:…` made a second call for an incident that had one (outside-in
    check): the prefix and the agency's domain name are read without regard to case
    (RFC 8141, DNS), and the id is kept in one spelling; its unique part stays exact."""
    await grid_districts(admin)
    prefix = "urn:emergency:uid:incidentid:"
    incident = f"{prefix}922debbc3168:psap.example.org"
    first = await _import(admin, document(incident, beat="D1"), 201)
    shouted = "URN:EMERGENCY:UID:INCIDENTID:922debbc3168:PSAP.Example.ORG"
    again = await _import(admin, document(shouted, at=later(5), nature="MTLV", beat="D1"), 200)
    assert (again["id"], again["applied"], again["nature"]) == (first["id"], True, "MTLV")
    assert again["external_id"] == incident
    found = await admin.ok("GET", f"/v1/calls?external_id={quote(shouted)}")
    assert [c["id"] for c in found["items"]] == [first["id"]]
    by_id = await admin.ok("GET", f"/v1/eido/incidents/{quote(shouted, safe='')}")
    assert by_id["$id"] == incident
    # A CAD that posts the call first, and later its EIDO: one call.
    other = "URN:emergency:uid:incidentid:77aa:CAD.Example.org"
    posted = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": other}, 201)
    assert posted["external_id"] == f"{prefix}77aa:cad.example.org"
    imported = await _import(admin, document(f"{prefix}77aa:cad.example.org", beat="D1"), 200)
    assert imported["id"] == posted["id"]
    # Only ASCII letters fold: "İ" lower-cased by Python is two characters, and an id of
    # the longest length took one more than the column holds (a 500, from the review).
    head = f"{prefix}{'7' * 200}:"
    pad = 255 - len(head) - len("PSAP.İ.ORG")
    longest = f"{head}PSAP.İ.ORG{'X' * pad}"
    kept = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": longest}, 201)
    assert kept["external_id"] == f"{head}psap.İ.org{'x' * pad}"
    assert len(kept["external_id"]) == 255
    # The unique part may be case-sensitive: another case is another incident.
    await _import(admin, document(f"{prefix}922DEBBC3168:psap.example.org", beat="D1"), 201)
    assert await _count(db, "call") == 4
    # The id the export gave a call, its prefix and agency part in capitals: that call.
    plain = await admin.ok("POST", "/v1/calls", {"district": "D2"}, 201)
    assigned = (await admin.ok("GET", f"/v1/calls/{plain['id']}/eido"))["$id"]
    unique, _, agency = assigned[len(prefix) :].partition(":")
    upper = f"{prefix.upper()}{unique}:{agency.upper()}"
    by_upper = await admin.ok("GET", f"/v1/eido/incidents/{quote(upper, safe='')}")
    assert by_upper["$id"] == assigned
    taken = await admin.post("/v1/calls", {"district": "D1", "external_id": upper})
    assert (taken.status_code, taken.json()["call_id"]) == (409, plain["id"])


@pytest.mark.parametrize("unique", ["a b", "a\tb", "ab\n", "a\u2028b"])
async def test_an_incident_id_with_spaces_or_controls_is_no_urn_and_a_422(
    admin: Api, db: asyncpg.Connection, unique: str
) -> None:
    await grid_districts(admin)
    eido = document(f"urn:emergency:uid:incidentid:{unique}:psap.example.org", beat="D1")
    refused = await admin.post("/v1/eido", eido)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "$id"]
    assert await _count(db, "call") == 0
    # Given to POST /v1/calls, it is the CAD's id, no incident id: the export gives the
    # call one of its own, and that export imports again (the review). One with a control
    # character is no CAD id either (a 422, as every id).
    external_id = eido["$id"]
    if unique != "a b":
        controlled = await admin.post("/v1/calls", {"district": "D1", "external_id": external_id})
        assert controlled.status_code == 422, controlled.text
        assert controlled.json()["errors"][0]["loc"] == ["body", "external_id"]
        return
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "external_id": external_id}, 201)
    assert call["external_id"] == external_id
    exported = await admin.ok("GET", f"/v1/calls/{call['id']}/eido")
    assert exported["$id"].endswith(f":{UUID(call['id']).hex}:{admin.agency_id.hex}")
    again = await admin.ok("POST", "/v1/eido", exported)
    assert (again["id"], again["applied"]) == (call["id"], False)


async def test_a_lone_surrogate_in_a_place_or_a_disposition_is_shown_as_a_question_mark(
    admin: Api,
) -> None:
    """JSON allows a lone surrogate (a CAD that cut an emoji in half): a note and a
    location's description show it as "?", but in a PIDF-LO civic address it was a 500 (the
    XML parser could not encode it), and in the disposition of the CAD's closing document a
    500 (the clear refused it): each lost the whole document, its weapon caution or the
    incident's end with it (through the STA-024 subscriber, sent again for ever)."""
    await _crew_in_d1(admin)
    headers = {**admin.headers, "Content-Type": "application/json"}

    async def sent(eido: dict[str, Any], status: int) -> Any:
        answer = await admin.client.post("/v1/eido", content=json.dumps(eido), headers=headers)
        assert answer.status_code == status, answer.text
        return answer.json()

    civic = pidf(point=IN_D1, civic={"HNO": "12", "RD": "Main \ud83d", "A3": "Salt Lake City"})
    described = document(incident_id(), beat="D1", cautions=[("Weapon", "highest")])
    described["locationComponent"] = [
        {
            **_prologue_of(described, "location"),
            "locationTypeDescriptionRegistryText": "CurrentIncident",
            "locationDescriptionText": "rear door \ud83d",
        }
    ]
    for eido, address in (
        (document(incident_id(), location=civic, cautions=[("Weapon", "highest")]), "12 Main ?"),
        (described, "rear door ?"),
    ):
        call = await sent(eido, 201)
        assert call["safety"]["weapon"] is True
        assert call["location"]["address"].startswith(address)
    incident = incident_id()
    call = await _import(admin, document(incident, beat="D1"), 201)
    closing = document(incident, at=later(1), beat="D1")
    closing["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
    closing["incidentComponent"]["dispositionComponent"] = [
        {
            **_disposition(incident, "15"),
            "dispositionPrimaryIndicator": True,
            "dispositionDescriptionText": "linked to the clinic \ud83d",
        }
    ]
    closed = await sent(closing, 200)
    assert (closed["status"], closed["disposition"]) == ("cleared", "linked to the clinic ?")
    assert closed["id"] == call["id"]


def _prologue_of(eido: dict[str, Any], suffix: str) -> dict[str, Any]:
    return {
        "$id": f"{eido['$id']}:{suffix}",
        "lastUpdateTimeStamp": eido["lastUpdateTimeStamp"],
        "updatedByAgencyReference": eido["updatedByAgencyReference"],
    }


async def test_a_character_xml_cannot_hold_in_a_pidf_lo_is_shown_as_u_fffd(admin: Api) -> None:
    """A NUL in a civic address is U+FFFD, not a 422 (2f12c9f); so is any other character
    XML 1.0 cannot hold: a vertical tab a CAD keeps between lines of an address, an escape
    from a terminal, U+FFFF. Each was a 422 (not well-formed XML) that lost the whole
    document, its weapon caution with it."""
    await _crew_in_d1(admin)
    headers = {**admin.headers, "Content-Type": "application/json"}
    for stray in ("\x0b", "\x1b", "\x01", "\uffff"):
        civic = {"HNO": "12", "RD": f"Main{stray}St", "A3": "Salt Lake City"}
        eido = document(
            incident_id(), location=pidf(point=IN_D1, civic=civic), cautions=[("Weapon", "high")]
        )
        answer = await admin.client.post("/v1/eido", content=json.dumps(eido), headers=headers)
        assert answer.status_code == 201, (repr(stray), answer.text)
        call = answer.json()
        assert call["safety"]["weapon"] is True
        assert call["location"]["address"] == "12 Main\ufffdSt, Salt Lake City"
