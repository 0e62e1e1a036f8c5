"""EIDO documents for the benchmark, as a CAD would send them to `POST /v1/eido`.

Each document is a new incident (a fresh `$id`) in a seeded district: its PIDF-LO point lies
inside the district's square, and its beat is the district's code. It carries what a CAD
sends for a crisis call: the incident's type, the location with a civic address, the caller
and the person in crisis (sometimes a minor's age), notes, and the call's start.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from app.eido.pidf import CIVIC, GEOPRIV, GML, PIDF
from bench.loadgen import Connection, Stats, Step
from bench.seed import Seeded, point_in

AGENCY = "psap.bench.example.org"
NATURES = ["MNTL", "SUICIDE", "SUICTHRT", "MTLV", "WEAPON", "WELFARE"]
NOTES = [
    "Caller reports her brother is talking about hurting himself.",
    "Subject is pacing in the front yard, shouting, no weapon seen.",
    "Caller says the subject has not taken his medication for a week.",
    "Neighbour reports a man standing on the overpass railing.",
    "Subject has a kitchen knife, has not threatened anyone.",
]
STREETS = ["MAIN", "STATE", "900 S", "REDWOOD", "BANGERTER", "WASATCH"]


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _pidf(lat: float, lon: float, rng: random.Random) -> str:
    civic = {
        "country": "US",
        "A1": "UT",
        "A3": "Bench City",
        "HNO": str(rng.randint(1, 9999)),
        "RD": rng.choice(STREETS),
        "PC": "84101",
    }
    address = "".join(f"<ca:{k}>{v}</ca:{k}>" for k, v in civic.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><presence xmlns="{PIDF}" xmlns:gp="{GEOPRIV}"'
        f' xmlns:gml="{GML}" xmlns:ca="{CIVIC}" entity="pres:cad@{AGENCY}">'
        '<tuple id="loc"><status><gp:geopriv><gp:location-info>'
        f'<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>{lat:.6f} {lon:.6f}'
        f"</gml:pos></gml:Point><ca:civicAddress>{address}</ca:civicAddress>"
        "</gp:location-info><gp:usage-rules/></gp:geopriv></status></tuple></presence>"
    )


def document(rng: random.Random, seeded: Seeded) -> dict[str, Any]:
    """A new incident's EIDO 1.0, placed in a random seeded district."""
    code, south, west = rng.choice(seeded.districts)
    lat, lon = point_in(rng, south, west)
    incident = f"urn:emergency:uid:incidentid:{uuid4().hex}:{AGENCY}"
    now = _stamp(datetime.now(UTC))

    def part(component_id: str) -> dict[str, Any]:
        return {
            "$id": component_id,
            "lastUpdateTimeStamp": now,
            "updatedByAgencyReference": {"$ref": f"{AGENCY}:agency"},
        }

    in_crisis: dict[str, Any] = {"personIncidentRoleRegistryText": ["Patient"]}
    if rng.random() < 0.15:
        in_crisis["ncPersonComponent"] = {"ageMeasure": rng.randint(10, 17)}
    elif rng.random() < 0.5:
        in_crisis["ncPersonComponent"] = {"ageMeasure": rng.randint(18, 80)}
    persons = [{"personIncidentRoleRegistryText": ["Caller"]}, in_crisis]
    return {
        **part(incident),
        "eidoVersion": "1.0",
        "issuingElementIdentification": f"cad.{AGENCY}",
        "agencyComponent": [
            {
                **part(f"{AGENCY}:agency"),
                "agencyRoleDescriptionRegistryText": ["CallReceiving", "Dispatching"],
                "agencyType": ["psap"],
                "incidentOwningAgencyIndicator": True,
            }
        ],
        "incidentComponent": {
            **part(f"{incident}:incident"),
            "incidentTypeCommonRegistryText": rng.choice(NATURES),
            "beatOrDispatchGroupText": code,
        },
        "callComponent": [
            {
                **part(f"{incident}:call:0"),
                "callStateRegistryText": "Connected",
                "standardPrimaryCallType": "Emergency",
                "direction": "incoming",
                "callStartTimestamp": now,
            }
        ],
        "locationComponent": [
            {
                **part(f"{incident}:location:0"),
                "locationTypeDescriptionRegistryText": "CurrentIncident",
                "locationByValue": _pidf(lat, lon, rng),
            }
        ],
        "personComponent": [{**part(f"{incident}:person:{i}"), **p} for i, p in enumerate(persons)],
        "notesComponent": [
            {**part(f"{incident}:note:{i}"), "notesActionComments": note}
            for i, note in enumerate(rng.sample(NOTES, rng.randint(1, 3)))
        ],
    }


def import_step(rng: random.Random, seeded: Seeded) -> Step:
    """A closed-loop step: import one new incident; anything but a 201 stops the bench."""

    async def import_incident(conn: Connection, stats: Stats) -> None:
        body = document(rng, seeded)
        started = time.perf_counter()
        status, answer = await conn.request("POST", "/v1/eido", body)
        stats.add(status, started)
        if status != 201:
            raise SystemExit(f"POST /v1/eido: {status} {answer[:500]!r}")
        got = json.loads(answer)
        if (
            got["external_id"] != body["$id"]
            or got["district"] != (body["incidentComponent"]["beatOrDispatchGroupText"])
        ):
            raise SystemExit(f"POST /v1/eido made {got['external_id']} in {got['district']}")

    return import_incident


def _values(node: Any) -> int:
    """The values in node as the schema's bounds count them: itself and all within."""
    if isinstance(node, dict):
        return 1 + sum(_values(v) for v in node.values())
    if isinstance(node, list):
        return 1 + sum(_values(v) for v in node)
    return 1


def largest_document_validation(seeded: Seeded) -> str:
    """A report line: how long schema validation takes on about the largest document the
    bounds accept (one incident, filled up with notes). The bounds are there so that it
    stays well under a second."""
    from app.eido import schema

    biggest = document(random.Random(1), seeded)
    note = biggest["notesComponent"][0]
    room = schema.MAX_NODES - _values(biggest)
    biggest["notesComponent"] += [note] * (room // _values(note))
    schema.check(biggest)  # once first: the validators are built on first use
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        schema.check(biggest)
        timings.append((time.perf_counter() - started) * 1000)
    return (
        f"EIDO validation of about the largest document accepted ({_values(biggest)} of"
        f" {schema.MAX_NODES} values): median {statistics.median(timings):.0f} ms"
    )
